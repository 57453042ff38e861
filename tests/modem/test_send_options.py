"""Send options a queue relies on: resume from a page, header stamping, 64-octet ECM frames, mixed resolution."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from gateway.enums import ExtendedStatus
from modem.faxtiff import FaxTiffWriter
from modem.provider import SendJob
from modem.simnet import RemoteFaxSpec, SimNetwork
from tests.modem.conftest import device_on
from tests.modem.pages import Bitmap, document, text_page, write_document

REMOTE = "5550100"


def black_band(page_index: int, page_count: int) -> Callable[[Bitmap], Bitmap]:
    """A header stamp: a black band on the top rows, as wide as the page number."""

    def stamp(bitmap: Bitmap) -> Bitmap:
        stamped = bitmap.copy()
        stamped[:8, : 10 * (page_index + 1)] = 0xFF
        stamped[8:10, :page_count] = 0xFF
        return stamped

    return stamp


async def test_resume_from_third_page_with_header_stamps(net: SimNetwork, tmp_path: Path) -> None:
    remote = net.add_remote_fax(REMOTE, RemoteFaxSpec())
    pages = document(pages=4)
    tiff = write_document(tmp_path / "doc.tif", pages, fine=False)
    device = device_on(net.add_modem("sim0", number="5551000"))
    job = SendJob(dial_string=REMOTE, tiff_path=str(tiff), first_page=2, header=black_band)
    seen: list[tuple[ExtendedStatus, int]] = []

    result = await device.send(job, lambda status, page: seen.append((status, page)))
    await net.run_for(2.0)

    assert result.status == ExtendedStatus.CALL_COMPLETED, result.reason
    assert (result.pages, result.pages_total) == (2, 2)
    assert (ExtendedStatus.TRANSMITTING, 1) in seen and (ExtendedStatus.TRANSMITTING, 2) in seen
    received = remote.last.pages
    assert len(received) == 2
    for got, index in zip(received, (2, 3), strict=True):
        assert np.array_equal(got[10:], pages[index][10:])
        assert got[:8, : 10 * (index + 1)].all() and not got[:8, 10 * (index + 1) :].any()


async def test_ecm_with_64_octet_frames(net: SimNetwork, tmp_path: Path) -> None:
    remote = net.add_remote_fax(REMOTE, RemoteFaxSpec())
    pages = document(pages=1)
    tiff = write_document(tmp_path / "doc.tif", pages, fine=False)
    device = device_on(net.add_modem("sim0", number="5551000"), ecm_frame_size=64)
    result = await device.send(SendJob(dial_string=REMOTE, tiff_path=str(tiff)))
    await net.run_for(2.0)
    assert result.ok and result.ecm, result.reason
    assert any("ECM 64-octet frames" in line for line in result.session_log)
    assert np.array_equal(remote.last.pages[0], pages[0])


async def test_mixed_resolutions_renegotiate_after_eom(net: SimNetwork, tmp_path: Path) -> None:
    remote = net.add_remote_fax(REMOTE, RemoteFaxSpec(ecm=False))
    standard, fine = text_page(fine=False, seed=1), text_page(fine=True, seed=2)
    tiff = tmp_path / "mixed.tif"
    with FaxTiffWriter(tiff, compression="g4") as writer:
        writer.add_page(standard, yres=98.0)
        writer.add_page(fine, yres=196.0)
    device = device_on(net.add_modem("sim0", number="5551000"))
    result = await device.send(SendJob(dial_string=REMOTE, tiff_path=str(tiff)))
    await net.run_for(2.0)
    assert result.status == ExtendedStatus.CALL_COMPLETED, result.reason
    assert any("-> EOM" in line for line in result.session_log)
    received = remote.last.pages
    assert len(received) == 2
    assert np.array_equal(received[0], standard) and np.array_equal(received[1], fine)
