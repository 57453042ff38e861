"""faxgate calls faxgate: two soft-modems back to back, RING, answer after N rings, ECM."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from gateway.enums import ExtendedStatus
from modem.faxtiff import read_fax_tiff
from modem.provider import SendJob
from modem.result import CallResult
from modem.simnet import SimNetwork
from tests.modem.conftest import device_on
from tests.modem.pages import document, write_document


async def test_faxgate_to_faxgate_with_ecm_after_three_rings(net: SimNetwork, tmp_path: Path) -> None:
    caller = device_on(net.add_modem("sim0", number="5551000"), name="sim0")
    callee = device_on(net.add_modem("sim1", number="5551001"), name="sim1", rings_to_answer=3)
    pages = document(fine=True, pages=3, seed=3)
    tiff = write_document(tmp_path / "out.tif", pages, fine=True)

    async def receive() -> tuple[int, CallResult]:
        call = await callee.wait_for_call(timeout=120.0)
        return call.rings, await callee.answer(call, tmp_path / "in", csid="+1 555 1001")

    sent, (rings, received) = await asyncio.gather(
        caller.send(SendJob(dial_string="5551001", tiff_path=str(tiff), tsid="+1 555 1000")), receive()
    )

    assert rings == 3
    assert sent.status == ExtendedStatus.CALL_COMPLETED, sent.reason
    assert received.status == ExtendedStatus.CALL_COMPLETED, received.reason
    assert (sent.pages, sent.ecm, sent.compression, sent.bit_rate) == (3, True, "MMR", 14400)
    assert sent.remote_csid == "+1 555 1001"
    assert received.remote_csid == "+1 555 1000"
    assert received.caller_id == "5551000"
    stored = [page.bitmap for page in read_fax_tiff(received.files[0])]
    assert len(stored) == 3
    for got, want in zip(stored, pages, strict=True):
        assert np.array_equal(got, want)


async def test_minimum_scan_line_time_is_filled_without_ecm(net: SimNetwork, tmp_path: Path) -> None:
    caller = device_on(net.add_modem("sim0", number="5551000"), name="sim0", ecm=False)
    callee = device_on(net.add_modem("sim1", number="5551001"), name="sim1", ecm=False, min_scan_ms=20)
    pages = document(fine=False, pages=1, seed=8)
    tiff = write_document(tmp_path / "out.tif", pages, fine=False)

    async def receive() -> CallResult:
        return await callee.answer(await callee.wait_for_call(timeout=120.0), tmp_path / "in")

    sent, received = await asyncio.gather(
        caller.send(SendJob(dial_string="5551001", tiff_path=str(tiff), max_bit_rate=9600)), receive()
    )

    assert sent.ok and received.ok, (sent.reason, received.reason)
    assert any("DCS: V.17 9600, standard, MR, no ECM, min scan line 20 ms" in line for line in sent.session_log)
    padded = next(line for line in sent.session_log if "page 1:" in line)
    assert int(padded.split("page 1: ")[1].split()[0]) >= 1100 * 192 // 8  # every row fills 20 ms at 9600
    assert np.array_equal(next(iter(read_fax_tiff(received.files[0]))).bitmap, pages[0])
