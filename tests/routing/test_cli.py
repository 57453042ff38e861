"""`faxgate route test --offline` explains a decision from the config file; `faxgate inbox` lists, shows, reroutes
and deletes received faxes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from click.testing import CliRunner

from gateway.cli import main
from gateway.enums import JobStatus
from gateway.storage import Database
from gateway.storage import incoming as store
from tests.routing.conftest import commit_fax, tiff_bytes

CONFIG = """
[server]
data_dir = "{data}"

[[devices]]
name = "fax0"

[inbound]
admin = "faxmaster@example.test"

[[inbound.rules]]
name = "archive"
continue = true
folder = {{ path = "/srv/fax/all" }}

[[inbound.rules]]
name = "sales"
dids = ["100"]
caller_ids = ["+1555*"]
email = {{ to = ["sales@example.test"], format = "both" }}
"""


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "faxgate.toml"
    path.write_text(CONFIG.format(data=tmp_path / "data"))
    return path


def test_route_test_prints_matching_rules_and_what_would_happen(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = CliRunner().invoke(main, ["route", "test", "--offline", "-c", str(config), "--device", "fax0",
                                       "--did", "100", "--cid", "+15551234567", "--tsid", "ACME"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "call to 100 from +15551234567  (TSID ACME) on fax0",
        "  MATCH archive: the rule has no conditions",
        "  MATCH sales: did 100 matches '100'; caller_id +15551234567 matches '+1555*'",
        "decision: matched archive, sales",
        "  1. folder (archive): store PDF in /srv/fax/all",
        "  2. email (sales): mail BOTH to sales@example.test",
    ]


def test_route_test_json_shows_the_catch_all(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = CliRunner().invoke(main, ["route", "test", "--offline", "-c", str(config), "--did", "200", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["matched"] == ["archive"]
    assert data["catch_all"] is True
    assert [(d["method"], d["rule"], d["action"]) for d in data["deliveries"]] == [
        ("folder", "archive", "store PDF in /srv/fax/all"),
        ("email", "catch-all", "mail PDF to faxmaster@example.test"),
    ]


def test_inbox_list_show_reroute_delete(tmp_path: Path) -> None:
    config = write_config(tmp_path)

    async def setup() -> int:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'data' / 'faxgate.db'}")
        await db.migrate()
        try:
            job_id = await commit_fax(db, tiff_bytes(tmp_path), caller_id="+15551234567", did="100")
            async with db.transaction() as conn:
                await store.finish_routing(conn, job_id, status=JobStatus.COMPLETED, routing_status="routed: x",
                                           now=1.0)
            return job_id
        finally:
            await db.close()

    job_id = asyncio.run(setup())
    runner = CliRunner()
    listed = runner.invoke(main, ["inbox", "list", "--offline", "-c", str(config), "--json"])
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.output)
    assert (row["id"], row["status"], row["did"], row["caller_id"], row["pages"]) == (
        job_id, "completed", "100", "+15551234567", 2)

    shown = runner.invoke(main, ["inbox", "show", "--offline", "-c", str(config), str(job_id)])
    assert shown.exit_code == 0, shown.output
    assert "routing_status: routed: x" in shown.output

    rerouted = runner.invoke(main, ["inbox", "reroute", "--offline", "-c", str(config), str(job_id)])
    assert rerouted.exit_code == 0, rerouted.output
    again = json.loads(runner.invoke(main, ["inbox", "show", "--offline", "-c", str(config), str(job_id),
                                            "--json"]).output)
    assert (again["status"], again["routing_status"]) == ("routing", "waiting to be routed again")

    deleted = runner.invoke(main, ["inbox", "delete", "--offline", "-c", str(config), str(job_id)])
    assert deleted.exit_code == 0, deleted.output
    assert json.loads(runner.invoke(main, ["inbox", "list", "--offline", "-c", str(config), "--json"]).output) == []
    missing = runner.invoke(main, ["inbox", "show", "--offline", "-c", str(config), str(job_id)])
    assert missing.exit_code == 1
