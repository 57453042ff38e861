"""Delivery folders and archives are private (0700/0600) whatever the umask, or shared with the mode configured."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.enums import JobStatus
from gateway.events import EventBus
from gateway.model import OutgoingJob
from gateway.queue.finish import OutgoingArchive
from gateway.storage import Database
from gateway.storage import incoming as store
from routing.router import RoutingService
from tests.routing.conftest import Sink, commit_fax, make_config, tiff_bytes


@pytest.fixture(autouse=True)
def ordinary_umask() -> Iterator[None]:
    """The umask most shells run with (others may read), so only faxgate's own modes can make files private."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_folder_deliveries_and_the_incoming_archive_are_private_unless_shared(
        tmp_path: Path, db: Database, smtp_sink: Sink) -> None:
    private, shared = tmp_path / "private" / "faxes", tmp_path / "shared" / "faxes"
    config = make_config(tmp_path, smtp_sink.port, {"rules": [
        {"name": "keep", "continue": True, "folder": {"path": str(private), "name": "{id}"}},
        {"name": "share", "folder": {"path": str(shared), "name": "{id}", "folder_mode": "0750"}},
    ]})
    job_id = await commit_fax(db, tiff_bytes(tmp_path))
    assert await RoutingService(config, db, EventBus()).run_once() == job_id

    assert [mode(path) for path in (private.parent, private)] == [0o700, 0o700]
    assert [(path.name, mode(path)) for path in private.iterdir()] == [(f"{job_id}.pdf", 0o600)]
    assert [mode(path) for path in (shared.parent, shared)] == [0o750, 0o750]
    assert [(path.name, mode(path)) for path in shared.iterdir()] == [(f"{job_id}.pdf", 0o640)]
    async with db.transaction() as conn:
        record = await store.get(conn, job_id)
    assert record is not None and record.job.status == JobStatus.COMPLETED
    archived = Path(record.archive_path)
    assert (mode(archived), mode(archived.parent)) == (0o600, 0o700)


@pytest.mark.parametrize(("folder_mode", "folders", "files"), [(None, 0o700, 0o600), ("0750", 0o750, 0o640)])
def test_the_outgoing_archive_is_private_unless_shared(tmp_path: Path, folder_mode: str | None, folders: int,
                                                       files: int) -> None:
    outgoing = {"folder": str(tmp_path / "archive"), **({"folder_mode": folder_mode} if folder_mode else {})}
    config = make_config(tmp_path, 25, archive={"outgoing": outgoing})
    job = OutgoingJob(
        id=7, submission_id="S7", recipient_number="+12015550123", recipient_name="", status=0, extended_status=0,
        extended_status_text="", priority=1, schedule_type=0, scheduled_at=None, next_attempt_at=0.0,
        submitted_at=1_763_712_000.0, transmission_start=None, transmission_end=None, retries=0, dials=1, pages=1,
        pages_sent=1, device_name="fax0", remote_csid="", tsid="", receipt_address="", billing_code="",
        kill_at=None, final_at=1_763_712_100.0,
    )
    tiff = OutgoingArchive(config, EventBus()).store(job, tiff_bytes(tmp_path))
    made = [tmp_path / "archive", tiff.parent.parent, tiff.parent]
    assert [mode(folder) for folder in made] == [folders] * 3
    assert (mode(tiff), mode(tiff.with_suffix(".json"))) == (files, files)
