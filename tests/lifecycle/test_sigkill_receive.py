"""SIGKILL matrix, the receiving stage (issue 15), on SQLite and PostgreSQL: `faxgate serve` is killed in the middle
of page 2 of a 3-page fax it is receiving. The caller is a remote machine of a `faxgate simline` process on ptys, so it
outlives the server and says which pages it had confirmed. After the restart the pages faxgate confirmed are not
lost: they are in the inbox as a partially received fax, pixel for pixel, and routed to the folder at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from gateway.config import load_config
from gateway.enums import ExtendedStatus, JobStatus
from gateway.model import IncomingJob
from gateway.storage import Database, incoming
from modem.faxtiff import read_fax_tiff, write_fax_tiff
from tests.lifecycle.support import LINES, SimLine, wait_for
from tests.queue import simserver
from tests.queue.test_sigkill_matrix import logged
from tests.support.server import ServerProcess, write_config

pytestmark = pytest.mark.realtime
CALLER = "5550120"
"""A remote machine without ECM at V.29: each page is one stretch of data, a few seconds long at real time."""


def pages_to_receive() -> list[np.ndarray]:
    """Three standard pages, each different, with a band of noise so that each takes ~5 s at 9600 bit/s."""
    rng = np.random.default_rng(31)
    pages = []
    for index in range(3):
        page = np.zeros((1100, 216), np.uint8)
        page[100:130] = rng.integers(0, 256, (30, 216), dtype=np.uint8)
        page[300:500, 20 + 30 * index: 40 + 30 * index] = 0xFF
        pages.append(page)
    return pages


def _config(tmp_path: Path, store_url: str) -> tuple[Path, int, Path]:
    """One class1 line (fax0) on the simline pty; received faxes go to a folder as TIFF; session logs on."""
    config = tmp_path / "faxgate.toml"
    routed = tmp_path / "routed"
    name = "fax0"
    extra = (f'[[devices]]\nname = "{name}"\nprovider = "class1"\nport = "{tmp_path / "tty" / name}"\n'
             f'csid = "+1 555 {LINES[name][-4:]}"\nrings_before_answer = 1\n\n'
             '[logging.events]\ngeneral = "max"\n\n'
             '[inbound]\npoll_interval = "0.5s"\nclaim_lease = "10m"\n\n'
             f'[[inbound.rules]]\nname = "all"\nfolder = {{ path = "{routed}", format = "tiff" }}\n')
    _smtp, http = write_config(config, tmp_path / "data", store_url, extra=extra)
    return config, http, routed


CALLER_LAYOUT = (f'[[remote]]\nnumber = "{CALLER}"\nident = "+1 555 0120"\nmodems = ["V.29"]\ncompressions = ["1D"]\n'
                 'ecm = false\n')


async def received(config: Path) -> list[IncomingJob]:
    db = Database(load_config(config).database_url)
    try:
        async with db.transaction() as conn:
            return [record.job for record in await incoming.list_jobs(conn, limit=100)]
    finally:
        await db.close()


async def test_killed_in_the_middle_of_a_received_page_keeps_the_confirmed_pages(
        tmp_path: Path, store_url: str) -> None:
    config, http, folder = _config(tmp_path, store_url)
    document = tmp_path / "incoming.tif"
    sent = pages_to_receive()
    write_fax_tiff(document, sent)
    line = SimLine(tmp_path, calls=(f"{CALLER}:{LINES['fax0']}:{document}",), extra_layout=CALLER_LAYOUT)
    server = ServerProcess(config, http, cwd=tmp_path)
    try:
        server.start()
        # The receiver logs each page it keeps before it confirms it (MCF); page 2 follows within a second.
        await logged(server, " INFO page 1: ", 90)
        await asyncio.sleep(2.0)  # into page 2 (~5 s of data)
        server.kill()
        [call] = wait_for(lambda: line.calls(), 60, "the caller to record its cut call", line.output)
        assert (call["direction"], call["pages_sent"]) == ("sent", 1), call  # it had page 1 confirmed, no more

        with ServerProcess(config, http, cwd=tmp_path) as second:
            async def routed() -> bool:
                jobs = await received(config)
                return bool(jobs) and jobs[0].status == JobStatus.COMPLETED

            await simserver.wait_for(routed, 60, "the kept pages routed after the restart", second)
            assert second.terminate() == 0
        assert "fax.recovered" in second.output()
    finally:
        line.stop()
        if server.proc is not None and server.proc.poll() is None:
            server.kill()
    [job] = await received(config)
    assert (job.pages, ExtendedStatus(job.extended_status)) == (1, ExtendedStatus.PARTIALLY_RECEIVED)
    assert job.device_name == "fax0"
    assert job.reason == "the server stopped during the call; 1 pages kept"
    [stored] = list(folder.rglob("*.tif"))
    [page] = list(read_fax_tiff(stored))
    assert np.array_equal(page.bitmap, sent[0])
