"""Calls a crash cut off, as their folders under data_dir/receiving are left: at start the inbound service keeps the
pages that were whole as a partially received fax to route, or records a failed call when none was."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from gateway.enums import ExtendedStatus, JobStatus
from gateway.storage import Database
from gateway.storage import incoming as store
from modem.faxtiff import read_fax_tiff
from modem.rxspool import SPOOL_FOLDER, PageSpool, spooled_pages
from modem.t30.receiver import ReceivedPage
from routing.answer import CALL_INFO, RECEIVING_FOLDER, InboundService
from tests.routing.conftest import Sink, fax_pages, make_config


def _page(bitmap: np.ndarray, fine: bool = False) -> ReceivedPage:
    return ReceivedPage(bitmap=bitmap, fine=fine, rows=bitmap.shape[0], bad_rows=0)


def test_the_spool_gives_whole_pages_in_order_up_to_the_first_gap(tmp_path: Path) -> None:
    folder = tmp_path / "pages"
    pages = fax_pages(4, seed=3)
    spool = PageSpool(folder)
    for number in (1, 2, 4):
        spool.keep(number, _page(pages[number - 1], fine=number == 2))
    (folder / ".page-0003-standard.npy.part").write_bytes(b"\x93NUMPY torn")  # page 3 was being written
    kept = spooled_pages(folder)
    assert [(page.fine, page.bitmap.tobytes()) for page in kept] == [(False, pages[0].tobytes()),
                                                                     (True, pages[1].tobytes())]
    (folder / "page-0001-standard.npy").write_bytes(b"not a page")
    assert spooled_pages(folder) == []  # a damaged first page: nothing after it can be trusted in order
    assert spooled_pages(tmp_path / "absent") == []


async def test_cut_calls_become_a_partial_fax_to_route_and_a_failed_call(tmp_path: Path, db: Database,
                                                                       smtp_sink: Sink) -> None:
    config = make_config(tmp_path, smtp_sink.port)
    root = config.server.data_dir / RECEIVING_FOLDER
    pages = fax_pages(2, seed=9)
    with_pages, without = root / "fax0-aaaa", root / "fax1-bbbb"
    for folder, device in ((with_pages, "fax0"), (without, "fax1")):
        folder.mkdir(parents=True)
        (folder / CALL_INFO).write_text(json.dumps({
            "device": device, "caller_id": "5550100", "caller_name": "ACME", "did": "200", "csid": "+1 555 0200",
            "started": 1_700_000_000.0}))
    for number, bitmap in enumerate(pages, start=1):
        PageSpool(with_pages / SPOOL_FOLDER).keep(number, _page(bitmap))
    committed: list[int] = []
    service = InboundService(config, db, {}, on_committed=committed.append)

    recovered = await service.recover()

    assert not list(root.iterdir())  # each folder goes once its call is in the store
    async with db.transaction() as conn:
        kept, failed = [await store.get(conn, job_id) for job_id in recovered]
        tiff = await store.tiff(conn, recovered[0])
    assert kept is not None and failed is not None and tiff is not None
    assert committed == [kept.job.id]  # handed to routing
    assert (kept.job.device_name, kept.job.pages, kept.job.status, kept.job.extended_status) == (
        "fax0", 2, JobStatus.ROUTING, ExtendedStatus.PARTIALLY_RECEIVED)
    assert (kept.job.caller_id, kept.job.did, kept.job.received_at) == ("5550100", "200", 1_700_000_000.0)
    assert kept.job.reason == "the server stopped during the call; 2 pages kept"
    path = tmp_path / "kept.tif"
    path.write_bytes(tiff)
    assert [page.bitmap.tobytes() for page in read_fax_tiff(path)] == [page.tobytes() for page in pages]
    assert (failed.job.device_name, failed.job.pages, failed.job.status, failed.job.extended_status) == (
        "fax1", 0, JobStatus.FAILED, ExtendedStatus.DISCONNECTED)
    assert failed.job.reason == "the server stopped during the call; no page was whole"
    assert await service.recover() == []  # nothing is recovered twice
