"""`faxgate serve` killed with SIGKILL right after 250: after a restart the accepted mail is all there."""

from __future__ import annotations

import asyncio
import json
import smtplib
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from gateway.config import load_config
from gateway.intake.mime import parse_fax_mail
from gateway.storage import Database
from gateway.storage.database import get_blob
from gateway.storage.schema import outgoing_jobs
from gateway.storage.submissions import get_submission
from tests.intake.conftest import FIXTURES
from tests.support.server import ServerProcess, write_config


async def _after_restart(config_path: Path, submission_id: str) -> tuple[str, bytes, list[tuple[str, str]]]:
    """Wait (bounded) until the restarted server has taken the submission on; its state, raw mail and jobs."""
    config = load_config(config_path)
    db = Database(config.database_url)
    state = "unknown"
    try:
        for _ in range(600):
            async with db.transaction() as conn:
                found = await get_submission(conn, submission_id)
                assert found is not None and found.raw_blob_id is not None
                state = found.state
                if state in ("queued", "failed"):
                    raw = await get_blob(conn, found.raw_blob_id)
                    rows = await conn.execute(select(outgoing_jobs.c.recipient_number, outgoing_jobs.c.recipient_name)
                                              .where(outgoing_jobs.c.submission_id == submission_id)
                                              .order_by(outgoing_jobs.c.id))
                    return state, raw, [(row[0], row[1]) for row in rows]
            await asyncio.sleep(0.1)
        raise AssertionError(f"submission {submission_id} never left state {state!r}")
    finally:
        await db.close()


def test_sigkill_right_after_250_keeps_the_submission(tmp_path: Path, store_url: str) -> None:
    config = tmp_path / "faxgate.toml"
    smtp_port, http_port = write_config(config, tmp_path / "data", store_url)
    message = (FIXTURES / "outlook_tnef.eml").read_bytes()
    with ServerProcess(config, http_port) as server:
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
            client.ehlo()
            assert client.mail("john.smith@contoso.example")[0] == 250
            assert client.rcpt("2015550123@fax.localhost")[0] == 250
            assert client.rcpt("jane@2015550124.fax")[0] == 250
            code, reply = client.data(message)
            assert code == 250, reply
            server.kill()  # right after 250: no QUIT, no shutdown
        submission_id = reply.decode().rsplit(" ", 1)[-1]
    with ServerProcess(config, http_port):
        shown = subprocess.run(
            [sys.executable, "-m", "gateway", "submissions", "show", "--config", str(config), "--json", submission_id],
            capture_output=True, text=True, check=True,
        )
        record = json.loads(shown.stdout)
        state, raw, jobs = asyncio.run(_after_restart(config, submission_id))
    assert record["id"] == submission_id
    assert record["subject"] == "Quarterly report"
    assert record["principal"] == "network 127.0.0.1/32"
    assert [(r["number"], r["name"]) for r in record["recipients"]] == [("+12015550123", "Dr. Meyer"),
                                                                       ("+12015550124", "jane")]
    assert record["options"]["cover"] is True and record["options"]["priority"] == 1
    assert raw == message
    # It proceeds after the restart: rendered once, one queued job per recipient.
    assert state == "queued"
    assert jobs == [("+12015550123", "Dr. Meyer"), ("+12015550124", "jane")]
    # What the render worker will take from storage after the restart: both files out of winmail.dat.
    mail = parse_fax_mail(raw, load_config(config))
    assert [doc.filename for doc in mail.documents] == ["Quarterly Report 2026.pdf", "chart.png"]
