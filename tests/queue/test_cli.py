"""`faxgate submit`, `faxgate jobs ...` and `faxgate queue ...` against a real store."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from click.testing import CliRunner

from gateway.cli import main
from gateway.config import load_config
from gateway.enums import ExtendedStatus, JobStatus
from gateway.queue.documents import load_pymupdf
from gateway.queue.enqueue import JobFactory, JobRequest
from gateway.storage import Database, put_blob
from gateway.storage.submissions import create_submission, get_submission
from modem.faxtiff import write_fax_tiff
from tests.queue.harness import force_columns


def run(config: Path, *args: str) -> Any:
    """`faxgate ARGS --config CONFIG --offline`, in process, on the store (the API path is tested in tests/api)."""
    return CliRunner().invoke(main, [*args, "--config", str(config), "--offline"])


def setup(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "faxgate.toml"
    config.write_text(f'[server]\ndata_dir = "{tmp_path / "data"}"\n')
    document = tmp_path / "letter.tif"
    pages = [np.zeros((400, 216), dtype=np.uint8) for _ in range(3)]
    for index, page in enumerate(pages):
        page[100:120, 10 * index: 10 * index + 50] = 0xFF
    write_fax_tiff(document, pages, fine=True)
    return config, document


async def _jobs(config_path: Path, document: bytes, numbers: list[str]) -> list[int]:
    config = load_config(config_path)
    db = Database(config.database_url)
    try:
        await db.migrate()
        async with db.transaction() as conn:
            submission = await create_submission(conn, source="api", principal="test", envelope_from="",
                                                 recipients=[], raw=b"")
            blob = await put_blob(conn, document, "image/tiff")
            factory = JobFactory(config, [])
            return [await factory.create(conn, JobRequest(submission, number, blob, 3), time.time())
                    for number in numbers]
    finally:
        await db.close()


async def _set(config_path: Path, job_id: int, **values: Any) -> None:
    db = Database(load_config(config_path).database_url)
    try:
        async with db.transaction() as conn:
            await force_columns(conn, job_id, **values)
    finally:
        await db.close()


def test_submit_queues_a_submission_with_its_options(tmp_path: Path) -> None:
    config, document = setup(tmp_path)
    result = run(config, "submit", str(document), "--to", "5550100", "--to", "+1 201 555 0123", "--priority",
                 "high", "--at", "discount", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["recipients"] == ["5550100", "+12015550123"]

    async def stored() -> Any:
        db = Database(load_config(config).database_url)
        try:
            async with db.transaction() as conn:
                return await get_submission(conn, data["submission_id"])
        finally:
            await db.close()

    submission = asyncio.run(stored())
    assert submission.state == "received" and submission.source == "cli"
    assert submission.options["priority"] == 2 and submission.options["schedule"] == 2
    bad = run(config, "submit", str(document), "--to", "12")
    assert bad.exit_code == 2 and "not a valid fax number" in bad.output


def test_queue_switches_block_submissions(tmp_path: Path) -> None:
    config, document = setup(tmp_path)
    assert json.loads(run(config, "queue", "block", "--json").output)["blocked"] is True
    refused = run(config, "submit", str(document), "--to", "5550100")
    assert refused.exit_code == 1 and "blocked" in refused.output
    assert json.loads(run(config, "queue", "unblock", "--json").output)["blocked"] is False
    paused = json.loads(run(config, "queue", "pause", "--json").output)
    assert paused["paused"] is True and paused["blocked"] is False
    assert run(config, "submit", str(document), "--to", "5550100").exit_code == 0
    assert "queue paused" in run(config, "queue", "status").output


def test_job_controls(tmp_path: Path) -> None:
    config, document = setup(tmp_path)
    first, second, third = asyncio.run(_jobs(config, document.read_bytes(), ["5550100", "5550101", "5550102"]))
    listed = json.loads(run(config, "jobs", "list", "--json").output)
    assert [job["status"] for job in listed] == ["pending"] * 3
    assert listed[0]["operations"] == ["view", "pause", "delete", "recipient_info", "sender_info"]

    assert json.loads(run(config, "jobs", "pause", str(first), "--json").output)[0]["status"] == "pending and paused"
    assert json.loads(run(config, "jobs", "resume", str(first), "--json").output)[0]["status"] == "pending"
    again = run(config, "jobs", "resume", str(first))
    assert again.exit_code == 1 and "not paused" in again.output

    asyncio.run(_set(config, second, status=int(JobStatus.INPROGRESS)))
    assert "canceling" in run(config, "jobs", "cancel", str(second)).output
    assert "canceled" in run(config, "jobs", "cancel", str(first)).output

    refused = run(config, "jobs", "restart", str(third))
    assert refused.exit_code == 1 and "only a job whose retries ran out" in refused.output
    asyncio.run(_set(config, third, status=int(JobStatus.RETRIES_EXCEEDED), dials=4, retries=4,
                     extended_status=int(ExtendedStatus.NO_ANSWER), final_at=time.time()))
    restarted = json.loads(run(config, "jobs", "restart", str(third), "--json").output)
    assert restarted == [{"id": third, "ok": True, "status": "pending"}]
    shown = json.loads(run(config, "jobs", "show", str(third), "--json").output)
    assert (shown["dials"], shown["retries"], shown["final_at"], shown["attempts"]) == (0, 0, None, [])
    paused = json.loads(run(config, "jobs", "pause", str(third), "--json").output)
    assert paused[0]["status"] == "pending and paused"
    assert "resume" in json.loads(run(config, "jobs", "show", str(third), "--json").output)["operations"]

    pdf_path, tif_path = tmp_path / "out.pdf", tmp_path / "out.tif"
    assert run(config, "jobs", "copy", str(third), str(pdf_path)).exit_code == 0
    assert load_pymupdf().open(pdf_path).page_count == 3
    assert run(config, "jobs", "copy", str(third), str(tif_path)).exit_code == 0
    assert tif_path.read_bytes() == document.read_bytes()
    assert json.loads(run(config, "jobs", "list", "--state", "done", "--json").output)[0]["id"] == first
