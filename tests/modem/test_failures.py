"""Failed and troubled calls give the right extended status and a plain-words reason."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from gateway.enums import ExtendedStatus
from modem.faxtiff import read_fax_tiff
from modem.provider import SendJob
from modem.result import CallResult
from modem.simnet import Impairment, RemoteFaxSpec, SimNetwork
from tests.modem.conftest import FAXGATE_NUMBER, device_on
from tests.modem.pages import document, write_document

REMOTE = "5550100"


async def send_to(
    net: SimNetwork, tmp_path: Path, spec: RemoteFaxSpec, pages: int = 2, fine: bool = False
) -> tuple[CallResult, list[np.ndarray]]:
    """One faxgate send to a remote built from ``spec``."""
    net.add_remote_fax(REMOTE, spec)
    bitmaps = document(fine=fine, pages=pages)
    tiff = write_document(tmp_path / "doc.tif", bitmaps, fine)
    device = device_on(net.add_modem("sim0", number=FAXGATE_NUMBER))
    result = await device.send(SendJob(dial_string=REMOTE, tiff_path=str(tiff), tsid="+1 555 1000"))
    await net.run_for(2.0)
    return result, bitmaps


@pytest.mark.parametrize(
    ("spec", "status"),
    [
        (RemoteFaxSpec(busy=True), ExtendedStatus.BUSY),
        (RemoteFaxSpec(never_answer=True), ExtendedStatus.NO_ANSWER),
        (RemoteFaxSpec(no_dial_tone=True), ExtendedStatus.NO_DIAL_TONE),
        (RemoteFaxSpec(not_fax=True), ExtendedStatus.NOT_FAX_CALL),
    ],
    ids=["busy", "no-answer", "no-dial-tone", "not-a-fax"],
)
async def test_call_setup_failures(
    net: SimNetwork, tmp_path: Path, spec: RemoteFaxSpec, status: ExtendedStatus
) -> None:
    result, _ = await send_to(net, tmp_path, spec)
    assert result.status == status, result.reason
    assert result.pages == 0
    assert result.reason and "\n" not in result.reason


async def test_far_end_hangs_up_mid_page(net: SimNetwork, tmp_path: Path) -> None:
    result, _ = await send_to(net, tmp_path, RemoteFaxSpec(ecm=False, hangup_after_pages=1), pages=3)
    assert result.status == ExtendedStatus.DISCONNECTED, result.reason
    assert result.pages == 1
    assert not net.remotes[REMOTE].last.ok


async def test_ftt_steps_down_then_trains(net: SimNetwork, tmp_path: Path) -> None:
    net.impairments.append(Impairment(toward=REMOTE, during="tcf", occurrences=(0, 1)))
    result, pages = await send_to(net, tmp_path, RemoteFaxSpec(ecm=False))
    assert result.status == ExtendedStatus.CALL_COMPLETED, result.reason
    assert result.bit_rate == 9600  # 14400 and 12000 failed to train
    assert sum("stepping down" in line for line in result.session_log) == 2
    assert all(np.array_equal(a, b) for a, b in zip(net.remotes[REMOTE].last.pages, pages, strict=True))


async def test_ftt_at_every_rate_gives_up(net: SimNetwork, tmp_path: Path) -> None:
    net.impairments.append(Impairment(toward=REMOTE, during="tcf"))
    result, _ = await send_to(net, tmp_path, RemoteFaxSpec(ecm=False))
    assert result.status == ExtendedStatus.FATAL_ERROR
    assert "training failed at every speed" in result.reason
    tried = [line.split("failure to train at ")[1].split(";")[0] for line in result.session_log if "train at" in line]
    assert tried == ["V.17 14400", "V.17 12000", "V.17 9600", "V.29 9600", "V.17 7200", "V.29 7200", "V.27ter 4800"]
    assert any("stepping down to V.27ter 2400" in line for line in result.session_log)
    assert result.pages == 0


async def test_rtn_resends_the_page_slower(net: SimNetwork, tmp_path: Path) -> None:
    net.impairments.append(Impairment(toward=REMOTE, during="page", occurrences=(0,), start_s=2.0))
    result, pages = await send_to(net, tmp_path, RemoteFaxSpec(ecm=False))
    assert result.status == ExtendedStatus.CALL_COMPLETED, result.reason
    assert any("refused (RTN)" in line for line in result.session_log)
    assert result.bit_rate == 12000
    record = net.remotes[REMOTE].last
    assert len(record.pages) == 2
    assert np.array_equal(record.pages[-1], pages[-1])


async def test_rtn_every_time_gives_up(net: SimNetwork, tmp_path: Path) -> None:
    net.impairments.append(Impairment(toward=REMOTE, during="page", start_s=2.0))
    result, _ = await send_to(net, tmp_path, RemoteFaxSpec(ecm=False))
    assert result.status == ExtendedStatus.FATAL_ERROR
    assert "RTN" in result.reason
    assert result.pages == 0


async def test_corrupted_ecm_frame_is_resent_after_ppr(net: SimNetwork, tmp_path: Path) -> None:
    net.impairments.append(Impairment(toward=REMOTE, during="page", occurrences=(0,), start_s=1.0, duration_s=0.05))
    result, pages = await send_to(net, tmp_path, RemoteFaxSpec(ecm=True))
    assert result.status == ExtendedStatus.CALL_COMPLETED, result.reason
    assert result.ecm
    assert any("PPR: resending" in line for line in result.session_log)
    record = net.remotes[REMOTE].last
    assert all(np.array_equal(a, b) for a, b in zip(record.pages, pages, strict=True))


async def test_receiver_asks_ppr_for_a_corrupted_ecm_frame(net: SimNetwork, tmp_path: Path) -> None:
    remote = net.add_remote_fax(REMOTE, RemoteFaxSpec(ident="+1 555 0100", ecm=True))
    net.impairments.append(Impairment(toward="sim0", during="page", occurrences=(0,), start_s=1.0, duration_s=0.05))
    device = device_on(net.add_modem("sim0", number=FAXGATE_NUMBER))
    pages = document(pages=2, seed=5)
    remote.call(FAXGATE_NUMBER, pages=pages, fine=False)
    call = await device.wait_for_call(timeout=60.0)
    result = await device.answer(call, tmp_path / "in")
    assert result.status == ExtendedStatus.CALL_COMPLETED, result.reason
    assert any("asking PPR" in line for line in result.session_log)
    assert result.pages == 2


async def test_sender_hangs_up_mid_page_gives_partial_receive(net: SimNetwork, tmp_path: Path) -> None:
    remote = net.add_remote_fax(REMOTE, RemoteFaxSpec(ident="+1 555 0100", ecm=False, hangup_after_pages=1))
    device = device_on(net.add_modem("sim0", number=FAXGATE_NUMBER))
    remote.call(FAXGATE_NUMBER, pages=document(pages=3), fine=False)
    call = await device.wait_for_call(timeout=60.0)
    result = await device.answer(call, tmp_path / "in")
    assert result.status == ExtendedStatus.PARTIALLY_RECEIVED, result.reason
    assert result.pages == 1
    assert len(result.files) == 1


async def test_modem_that_stops_answering_times_out(net: SimNetwork, tmp_path: Path) -> None:
    net.add_remote_fax(REMOTE, RemoteFaxSpec())
    tiff = write_document(tmp_path / "doc.tif", document(pages=1), False)
    device = device_on(net.add_modem("sim0", number=FAXGATE_NUMBER))

    async def wedge_mid_call() -> None:
        await net.run_for(15.0)
        net.wedge("sim0")

    result, _ = await asyncio.gather(device.send(SendJob(dial_string=REMOTE, tiff_path=str(tiff))), wedge_mid_call())
    assert result.status == ExtendedStatus.FATAL_ERROR
    assert "stopped answering" in result.reason

    again = await device.send(SendJob(dial_string=REMOTE, tiff_path=str(tiff)))
    assert again.status == ExtendedStatus.LINE_UNAVAILABLE
    assert "not available" in again.reason


async def test_abort_hangs_up_and_reports_aborted(net: SimNetwork, tmp_path: Path) -> None:
    remote = net.add_remote_fax(REMOTE, RemoteFaxSpec())
    tiff = write_document(tmp_path / "doc.tif", document(pages=2), False)
    device = device_on(net.add_modem("sim0", number=FAXGATE_NUMBER))
    seen: list[ExtendedStatus] = []

    async def abort_when_transmitting() -> None:
        while ExtendedStatus.TRANSMITTING not in seen:
            await net.run_for(1.0)
        await device.abort()

    result, _ = await asyncio.gather(
        device.send(SendJob(dial_string=REMOTE, tiff_path=str(tiff)), lambda status, _page: seen.append(status)),
        abort_when_transmitting(),
    )
    await net.run_for(5.0)
    assert result.status == ExtendedStatus.CALL_ABORTED
    assert seen[:2] == [ExtendedStatus.DIALING, ExtendedStatus.TRANSMITTING]
    assert not remote.last.ok
    assert (await device.send(SendJob(dial_string=REMOTE, tiff_path=str(tiff)))).ok


async def test_receiver_answers_rtn_for_a_damaged_page_and_keeps_the_good_copy(net: SimNetwork, tmp_path: Path) -> None:
    remote = net.add_remote_fax(REMOTE, RemoteFaxSpec(ident="+1 555 0100", ecm=False))
    net.impairments.append(Impairment(toward="sim0", during="page", occurrences=(0,), start_s=2.0, duration_s=1.0))
    device = device_on(net.add_modem("sim0", number=FAXGATE_NUMBER))
    pages = document(pages=2, seed=9)
    record = remote.call(FAXGATE_NUMBER, pages=pages, fine=False, did="5551000")
    call = await device.wait_for_call(timeout=60.0)
    result = await device.answer(call, tmp_path / "in")
    await net.run_for(2.0)
    assert result.status == ExtendedStatus.CALL_COMPLETED, result.reason
    assert result.did == "5551000"
    assert any("answering RTN" in line for line in result.session_log)
    assert record.ok
    stored = [page.bitmap for page in read_fax_tiff(result.files[0])]
    assert len(stored) == 2
    assert all(np.array_equal(a, b) for a, b in zip(stored, pages, strict=True))


async def test_damaged_command_is_answered_with_crp(net: SimNetwork, tmp_path: Path) -> None:
    remote = net.add_remote_fax(REMOTE, RemoteFaxSpec(ident="+1 555 0100", ecm=False))
    # 40 ms of noise on the remote's DCS (line time 6.53 s after the call connects, on virtual time).
    net.impairments.append(Impairment(toward="sim0", during="call", start_s=6.53, duration_s=0.04))
    device = device_on(net.add_modem("sim0", number=FAXGATE_NUMBER))
    pages = document(pages=1, seed=4)
    record = remote.call(FAXGATE_NUMBER, pages=pages, fine=False)
    call = await device.wait_for_call(timeout=60.0)
    result = await device.answer(call, tmp_path / "in")
    await net.run_for(2.0)
    assert any("frame with bad FCS" in line for line in result.session_log)
    assert any("-> CRP" in line for line in result.session_log)
    assert result.status == ExtendedStatus.CALL_COMPLETED, result.reason
    assert record.ok


async def test_lost_mcf_is_sent_again_when_the_sender_repeats_pps(net: SimNetwork, tmp_path: Path) -> None:
    remote = net.add_remote_fax(REMOTE, RemoteFaxSpec(ident="+1 555 0100", ecm=True))
    # 100 ms of noise on faxgate's MCF to the first page's PPS (line time since the call connected).
    net.impairments.append(Impairment(toward=REMOTE, during="call", start_s=33.28, duration_s=0.1))
    device = device_on(net.add_modem("sim0", number=FAXGATE_NUMBER))
    pages = document(pages=2)
    record = remote.call(FAXGATE_NUMBER, pages=pages, fine=False)
    result = await device.answer(await device.wait_for_call(timeout=60.0), tmp_path / "in")
    await net.run_for(2.0)
    assert any("PPS repeated: our MCF was lost" in line for line in result.session_log)
    assert result.status == ExtendedStatus.CALL_COMPLETED, result.reason
    assert record.ok
    stored = [page.bitmap for page in read_fax_tiff(result.files[0])]
    assert len(stored) == 2  # the repeated partial page was not stored twice
    assert all(np.array_equal(a, b) for a, b in zip(stored, pages, strict=True))
