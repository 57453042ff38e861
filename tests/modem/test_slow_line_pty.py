"""Slow lines over a pty: page data at V.27ter 4800 and 2400 without ECM, pages larger than the pty's buffer.

A Linux pty takes about 20 KB and reports room again only once the far side has drained nearly all of it: about
34 s at 4800 bit/s and 68 s at 2400. A port that judged a stall by a fixed 30 s timer abandoned such pages in
phase C; the port must wait as long as the line rate explains, and the far end must get every pixel.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import numpy as np
import pytest

from gateway.enums import ExtendedStatus
from modem.provider import Class1Device, DeviceConfig, SendJob, serial_opener
from modem.simnet import RemoteFaxSpec, SimNetwork
from modem.simnet.realtime import RealTimeRunner
from modem.t4 import encode_page
from tests.modem.pages import text_page, write_document

pytestmark = pytest.mark.realtime
PTY_BUFFER = 20 * 1024


async def _send_over_pty(tmp_path: Path, bit_rate: int,
                         page: np.ndarray) -> tuple[ExtendedStatus, str, list[np.ndarray]]:
    network = SimNetwork(workdir=tmp_path / "line")
    network.add_modem("sim0", "5551000")
    network.add_remote_fax("5550104", RemoteFaxSpec(ident="OLD MACHINE", modems=("V.27ter",),
                                                    compressions=("1D",), ecm=False))
    link = tmp_path / "tty" / "sim0"
    runner = RealTimeRunner(network, {"sim0": link})
    pacing = asyncio.create_task(runner.run())
    device = Class1Device(DeviceConfig(name="sim0", max_bit_rate=bit_rate, ecm=False),
                          serial_opener(link, lock_dir=None))
    try:
        tiff = write_document(tmp_path / "page.tif", [page], fine=True)
        result = await device.send(SendJob(dial_string="5550104", tiff_path=str(tiff), max_bit_rate=bit_rate,
                                           ecm=False))
        assert result.bit_rate == bit_rate and not result.ecm and result.compression == "MH", result
        remote = network.remotes["5550104"]
        for _ in range(300):  # the far end closes its call (and files its pages) once our DCN is through
            if remote.endpoint is None:
                break
            await asyncio.sleep(0.1)
        return result.status, result.reason, remote.received_pages
    finally:
        await device.close()
        runner.stop()
        await pacing
        runner.close()
        network.close()


async def test_dense_fine_pages_at_4800_and_2400_without_ecm_arrive_pixel_identical(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pages = {4800: text_page(fine=True, seed=4, rows=1000), 2400: text_page(fine=True, seed=5, rows=1000)}
    for page in pages.values():
        assert len(encode_page(page, "MH").data) > 40 * 1024 > PTY_BUFFER  # more than the pty holds
    caplog.set_level(logging.DEBUG)
    results = await asyncio.gather(*(_send_over_pty(tmp_path / str(rate), rate, page)
                                     for rate, page in pages.items()))
    for (status, reason, received), page in zip(results, pages.values(), strict=True):
        assert status == ExtendedStatus.CALL_COMPLETED, reason
        assert len(received) == 1 and received[0].shape == page.shape
        assert np.array_equal(received[0], page)
    assert not [record for record in caplog.records if record.exc_info or "Traceback" in record.getMessage()]
