"""ECM continue-to-correct (T.30 Annex A): after the fourth PPR for one partial page, CTC, CTR, then MCF.

The first ECM burst of the call and its first three retransmissions pass a line with a bit error rate of
0.002 (nearly every 256-octet frame is damaged), so the receiving end asks PPR four times for block 0 of
page 1; from the fifth burst on the line is clean.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gateway.enums import ExtendedStatus
from modem.faxtiff import read_fax_tiff
from modem.provider import SendJob
from modem.simnet import Impairment, RemoteFaxSpec, SimNetwork
from tests.modem.conftest import FAXGATE_NUMBER, device_on
from tests.modem.pages import document, text_page, write_document

REMOTE = "5550100"
BAD_BURSTS = (0, 1, 2, 3)
"""High-speed page windows 0-3 of the call: block 0 of page 1, sent once and resent three times."""
LINE_ERRORS = 0.002


def t30_frames(session_log: list[str]) -> list[str]:
    """The decoded T.30 frames of a session log in order, as "-> X" (sent) or "<- X" (received)."""
    return [line.split(" T30 ", 1)[1] for line in session_log if " T30 -> " in line or " T30 <- " in line]


def high_speed_commands(session_log: list[str]) -> list[str]:
    """The +FTM/+FRM commands the host gave, in order (the code says modem, rate and training)."""
    return [line.split("--> ", 1)[1] for line in session_log if "--> AT+FTM=" in line or "--> AT+FRM=" in line]


async def test_sender_continues_to_correct_at_a_lower_rate_after_four_pprs(net: SimNetwork, tmp_path: Path) -> None:
    remote = net.add_remote_fax(REMOTE, RemoteFaxSpec(ident="+1 555 0100", ecm=True))
    net.impairments.append(Impairment(toward=REMOTE, during="page", occurrences=BAD_BURSTS, bit_error_rate=LINE_ERRORS))
    bitmaps = document(pages=2)
    tiff = write_document(tmp_path / "doc.tif", bitmaps, fine=False)
    device = device_on(net.add_modem("sim0", number=FAXGATE_NUMBER))

    result = await device.send(SendJob(dial_string=REMOTE, tiff_path=str(tiff), tsid="+1 555 1000"))
    await net.run_for(2.0)

    assert result.status == ExtendedStatus.CALL_COMPLETED, result.reason
    assert result.pages == 2
    frames = t30_frames(result.session_log)
    first_ppr = next(n for n, frame in enumerate(frames) if frame.startswith("<- PPR"))
    # block 0 of page 1: four PPS/PPR rounds, then CTC one rate lower (V.17 14400 -> 12000), CTR, and MCF
    assert [frame.split(":")[0] for frame in frames[first_ppr - 1 : first_ppr + 12]] == [
        "-> PPS-MPS",
        "<- PPR",
        "-> PPS-MPS",
        "<- PPR",
        "-> PPS-MPS",
        "<- PPR",
        "-> PPS-MPS",
        "<- PPR",
        "-> CTC",
        "<- CTR",
        "-> PPS-MPS",
        "<- MCF",
        "-> PPS-EOP",
    ]
    assert [frame for frame in frames if "CTC" in frame] == ["-> CTC: continue at V.17 12000"]
    assert frames[-2:] == ["<- MCF", "-> DCN"]
    # after CTR the page data restarts with long training at the new rate; page 2 stays there (short train)
    commands = high_speed_commands(result.session_log)
    assert commands == ["AT+FTM=145"] + ["AT+FTM=146"] * 4 + ["AT+FTM=121", "AT+FTM=122"]
    assert result.bit_rate == 12000
    record = remote.last
    assert record.ok, record.completion
    assert record.bit_rate == 12000
    assert len(record.pages) == 2
    assert all(np.array_equal(got, sent) for got, sent in zip(record.pages, bitmaps, strict=True))


async def test_receiver_answers_ctc_with_ctr_and_keeps_the_page(net: SimNetwork, tmp_path: Path) -> None:
    remote = net.add_remote_fax(REMOTE, RemoteFaxSpec(ident="+1 555 0100", ecm=True))
    net.impairments.append(Impairment(toward="sim0", during="page", occurrences=BAD_BURSTS, bit_error_rate=LINE_ERRORS))
    device = device_on(net.add_modem("sim0", number=FAXGATE_NUMBER))
    pages = document(pages=2, seed=7)
    remote.call(FAXGATE_NUMBER, pages=pages, fine=False)

    call = await device.wait_for_call(timeout=60.0)
    result = await device.answer(call, tmp_path / "in")
    await net.run_for(2.0)

    assert result.status == ExtendedStatus.CALL_COMPLETED, result.reason
    frames = t30_frames(result.session_log)
    first_ppr = next(n for n, frame in enumerate(frames) if frame.startswith("-> PPR"))
    # spandsp sends CTC after its fourth PPR (it keeps V.17 14400: CTC may name the same rate)
    assert [frame.split(":")[0] for frame in frames[first_ppr - 1 : first_ppr + 12]] == [
        "<- PPS-MPS",
        "-> PPR",
        "<- PPS-MPS",
        "-> PPR",
        "<- PPS-MPS",
        "-> PPR",
        "<- PPS-MPS",
        "-> PPR",
        "<- CTC",
        "-> CTR",
        "<- PPS-MPS",
        "-> MCF",
        "<- PPS-EOP",
    ]
    assert [frame for frame in frames if "CTC" in frame] == ["<- CTC: continue at V.17 14400"]
    # the burst after CTR comes with long training, as T.30 asks after CTC
    commands = high_speed_commands(result.session_log)
    assert commands[commands.index("AT+FRM=145", 1) :] == ["AT+FRM=145", "AT+FRM=146"]
    assert result.pages == 2
    stored = list(read_fax_tiff(result.files[0]))
    assert len(stored) == 2
    assert all(np.array_equal(page.bitmap, sent) for page, sent in zip(stored, pages, strict=True))
    assert remote.last.ok, remote.last.completion


async def test_sender_ends_with_eor_when_no_lower_rate_is_left(net: SimNetwork, tmp_path: Path) -> None:
    remote = net.add_remote_fax(REMOTE, RemoteFaxSpec(ident="+1 555 0100", modems=("V.27ter",), ecm=True))
    net.impairments.append(Impairment(toward=REMOTE, during="page", bit_error_rate=LINE_ERRORS))
    tiff = write_document(tmp_path / "doc.tif", [text_page(rows=200)], fine=False)
    device = device_on(net.add_modem("sim0", number=FAXGATE_NUMBER))

    result = await device.send(SendJob(dial_string=REMOTE, tiff_path=str(tiff), tsid="+1 555 1000"))
    await net.run_for(2.0)

    assert result.status == ExtendedStatus.FATAL_ERROR
    assert "could not be corrected even at the lowest speed" in result.reason
    assert result.pages == 0
    frames = [frame.split(":")[0] for frame in t30_frames(result.session_log)]
    first_ppr = frames.index("<- PPR")
    assert frames[first_ppr - 1 :] == ["-> PPS-EOP", "<- PPR"] * 4 + ["-> CTC", "<- CTR"] + [
        "-> PPS-EOP",
        "<- PPR",
    ] * 4 + ["-> EOR-EOP", "<- ERR", "-> DCN"]
    assert [frame for frame in t30_frames(result.session_log) if "CTC" in frame] == ["-> CTC: continue at V.27ter 2400"]
    assert not remote.last.pages
