"""The CLI against a running `faxgate serve`: through the API with the local administrator token and no flags, with
a token of its own (the server's rights apply), with --server; --offline on the store; a clear line when no server
answers."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from gateway.api.localadmin import admin_token_path, read_admin_token
from gateway.cli import main
from gateway.client import FaxServer
from gateway.config import load_config
from gateway.enums import AccessRights
from tests.api.support import make_token, pdf_document, store_received_fax
from tests.queue.simserver import sim_config
from tests.support.net import free_port
from tests.support.server import ServerProcess, write_config


@dataclass
class Running:
    """A server, its config file and what the tests put in its store."""

    config: Path
    url: str
    folder: Path
    received_id: int
    document: Path

    def cli(self, *args: str, env: dict[str, str] | None = None) -> Result:
        """`faxgate ARGS --config CONFIG`, in process, with FAXGATE_TOKEN unset unless ``env`` sets it."""
        environment: dict[str, str | None] = {"FAXGATE_TOKEN": None, "FAXGATE_SERVER": None, **(env or {})}
        return CliRunner().invoke(main, [*args, "--config", str(self.config)], env=environment)

    def json(self, *args: str, env: dict[str, str] | None = None) -> Any:
        result = self.cli(*args, "--json", env=env)
        assert result.exit_code == 0, result.output
        return json.loads(result.output)


def until(probe: Callable[[], list[dict[str, Any]]], count: int) -> list[dict[str, Any]]:
    """Poll until the worker rendered the submission into ``count`` jobs (a deadline, not a timed assertion)."""
    deadline = time.monotonic() + 60
    while True:
        found = probe()
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) == count, found
            return found
        time.sleep(0.1)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    folder = tmp_path_factory.mktemp("cli-api")
    config, _, http_port = sim_config(folder, 9, extra="[outbox]\npaused = true\n")
    received_id, _ = store_received_fax(config, folder)
    with ServerProcess(config, http_port):
        yield Running(config, f"http://127.0.0.1:{http_port}", folder, received_id,
                      pdf_document(folder / "letter.pdf"))


def test_first_start_writes_a_local_administrator_token_only_the_service_user_reads(running: Running) -> None:
    data_dir = load_config(running.config).server.data_dir
    path = admin_token_path(data_dir)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.stat().st_uid == os.getuid()
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    token = read_admin_token(data_dir)
    assert token is not None
    with FaxServer.connect(running.url, token) as server:
        assert len(server.granted_rights) == 11
    listed = running.json("token", "list")
    assert [row["name"] for row in listed if row["name"].startswith("local-admin.")] != []


def test_jobs_and_queue_go_through_the_api_with_no_flags(running: Running) -> None:
    submitted = running.json("submit", str(running.document), "--to", "5550100", "--to", "5550104")
    assert submitted["recipients"] == ["5550100", "5550104"]
    made = until(lambda: running.json("jobs", "list", "--submission", submitted["submission_id"]), 2)
    first, second = (job["id"] for job in made)
    assert {job["status"] for job in made} == {"pending"}
    assert [job["id"] for job in running.json("jobs", "list", "--state", "active")][-2:] == [first, second]
    assert running.json("jobs", "list", "--state", "done") == []

    assert running.json("jobs", "pause", str(first))[0]["status"] == "pending and paused"
    assert running.json("jobs", "resume", str(first))[0]["status"] == "pending"
    again = running.cli("jobs", "resume", str(first))
    assert again.exit_code == 1 and "job" in again.output
    shown = running.json("jobs", "show", str(first))
    assert (shown["number"], shown["attempts"], shown["pages"]) == ("5550100", [], 1)
    out = running.folder / "copy.pdf"
    assert running.cli("jobs", "copy", str(first), str(out)).exit_code == 0
    assert out.read_bytes().startswith(b"%PDF")
    assert "canceled" in running.cli("jobs", "cancel", str(second)).output
    assert [job["id"] for job in running.json("jobs", "list", "--state", "done")] == [second]
    log = running.cli("jobs", "log")
    assert log.exit_code == 0, log.output

    assert running.json("queue", "status")["paused"] is True
    assert running.json("queue", "block")["blocked"] is True
    refused = running.cli("submit", str(running.document), "--to", "5550100")
    assert refused.exit_code == 1 and "block" in refused.output
    assert running.json("queue", "unblock")["blocked"] is False


def test_inbox_and_devices_go_through_the_api(running: Running) -> None:
    listed = running.json("inbox", "list")
    assert [(row["id"], row["did"], row["pages"]) for row in listed] == [(running.received_id, "5551000", 2)]
    shown = running.json("inbox", "show", str(running.received_id), "--log")
    assert (shown["tsid"], shown["deliveries"]) == ("+1 555 0100", []) and "session_log" in shown
    assert running.json("inbox", "reroute", str(running.received_id))["rerouted"] is True
    second, _ = store_received_fax(running.config, running.folder, pages=1)
    assert running.json("inbox", "delete", str(second))["deleted"] is True
    missing = running.cli("inbox", "show", str(second))
    assert missing.exit_code == 1 and f"no received fax {second}" in missing.output
    assert running.cli("inbox", "delete", str(second)).exit_code == 1

    assert running.json("sources") == []  # no mailbox here: tests/mailbox/test_outage_wallclock.py shows them
    assert running.cli("sources").output == "no intake source reports a state\n"
    assert running.cli("sources", "--offline").exit_code == 2  # the state lives in the server: no --offline

    lines = {row["name"]: row for row in running.json("devices", "list")}
    assert set(lines) == {"sim0", "sim1"}
    assert running.json("devices", "show", "sim0")["provider"] == "simulated"


def test_a_token_of_its_own_gets_the_rights_of_that_token(running: Running) -> None:
    low = make_token(running.config, "cli-low", AccessRights.SUBMIT_LOW)
    env = {"FAXGATE_TOKEN": low}
    submitted = running.json("submit", str(running.document), "--to", "5550100", "--priority", "low", env=env)
    own = until(lambda: running.json("jobs", "list", env=env), 1)
    assert {job["submission_id"] for job in own} == {submitted["submission_id"]}
    refused = running.cli("queue", "block", env=env)
    assert refused.exit_code == 1 and "MANAGE_CONFIG" in refused.output
    unseen = running.cli("sources", env=env)
    assert unseen.exit_code == 1 and "QUERY_CONFIG" in unseen.output
    assert "Traceback" not in refused.output
    over = running.cli("token", "create", "--name", "escalated", "--rights", "manage_jobs", env=env)
    assert over.exit_code == 1 and "MANAGE_CONFIG" in over.output

    token_file = running.folder / "low.token"
    token_file.write_text(low + "\n")
    explicit = running.cli("jobs", "list", "--json", "--server", running.url, "--token-file", str(token_file))
    assert explicit.exit_code == 0 and json.loads(explicit.output) == own
    wrong = running.cli("jobs", "list", "--server", running.url, env={"FAXGATE_TOKEN": "fgt_not-a-token"})
    assert wrong.exit_code == 1 and "refused the credentials" in wrong.output


def test_tokens_are_created_listed_and_revoked_through_the_api(running: Running) -> None:
    made = running.json("token", "create", "--name", "cli-made", "--rights", "query_config")
    with FaxServer.connect(running.url, made["token"]) as server:
        assert server.granted_rights == ["query_config"]
    assert "cli-made" in [row["name"] for row in running.json("token", "list")]
    assert running.json("token", "revoke", "cli-made")["revoked"] is True
    assert running.cli("token", "revoke", "cli-made").exit_code == 1


def test_offline_works_on_the_store_and_takes_no_server(running: Running) -> None:
    jobs = running.json("jobs", "list", "--offline")
    assert jobs == running.json("jobs", "list")
    assert running.cli("jobs", "list", "--offline", "--server", running.url).exit_code == 2


def test_route_test_and_methods_go_through_the_api_and_agree_with_offline(running: Running) -> None:
    call = ("route", "test", "--did", "5551000", "--cid", "5550100", "--at", "2026-11-18T10:30")
    tested = running.json(*call)
    assert tested == running.json(*call, "--offline")
    assert (tested["fax"]["device"], tested["fax"]["did"], tested["catch_all"]) == ("sim0", "5551000", True)
    assert "no rule matched" in tested["why"]
    assert "decision: no rule matched" in running.cli(*call).output
    methods = running.json("route", "methods")
    assert methods == running.json("route", "methods", "--offline")
    assert [m["name"] for m in methods["methods"]] == ["folder", "email", "webhook", "mailbox"]
    assert methods["methods"][0]["devices"] == ["sim0", "sim1"] and methods["failed"] == []
    with FaxServer.connect(running.url, read_admin_token(load_config(running.config).server.data_dir)) as server:
        routing = server.inbound_routing  # the blocking client's IFaxInboundRouting: what the CLI printed
        assert [m.model_dump() for m in routing.get_methods()] == methods["methods"]
        assert routing.test_route(did="5551000", caller_id="5550100", at=tested["fax"]["received_at"]).model_dump(
            ) == tested
        assert routing.get_rules().rules == [] and [e.name for e in routing.get_extensions()] == [
            "email", "folder", "mailbox", "webhook"]
    low = {"FAXGATE_TOKEN": make_token(running.config, "cli-route", AccessRights.SUBMIT_LOW)}
    for command in (call, ("route", "methods")):
        refused = running.cli(*command, env=low)  # the server's rights apply: it went through the API
        assert refused.exit_code == 1 and "QUERY_CONFIG" in refused.output, refused.output


def test_submissions_go_through_the_api_own_ones_with_a_submit_right(running: Running) -> None:
    mine = {"FAXGATE_TOKEN": make_token(running.config, "cli-subs", AccessRights.SUBMIT_NORMAL)}
    own = running.json("submit", str(running.document), "--to", "5550100", env=mine)["submission_id"]
    other = running.json("submit", str(running.document), "--to", "5550104")["submission_id"]
    deadline = time.monotonic() + 60  # compared once the worker has rendered them (their state then stays)
    listed = running.json("submissions", "list")
    while {row["state"] for row in listed} - {"queued", "failed"}:
        assert time.monotonic() < deadline, listed
        time.sleep(0.1)
        listed = running.json("submissions", "list")
    assert {own, other} <= {row["id"] for row in listed}
    assert listed == running.json("submissions", "list", "--offline")
    assert [row["id"] for row in running.json("submissions", "list", env=mine)] == [own]
    shown = running.json("submissions", "show", own)
    assert shown == running.json("submissions", "show", own, "--offline")
    assert (shown["principal"], shown["source"], shown["recipients"][0]["number"]) == ("token cli-subs", "api",
                                                                                       "5550100")
    assert running.json("submissions", "show", own, env=mine)["id"] == own
    with FaxServer.connect(running.url, mine["FAXGATE_TOKEN"]) as server:
        queue = server.folders.outgoing_queue
        assert [item.id for item in queue.get_submissions()] == [own]
        assert queue.get_submission(own).model_dump() == shown
    refused = running.cli("submissions", "show", other, env=mine)
    assert refused.exit_code == 1 and "QUERY_JOBS" in refused.output, refused.output
    missing = running.cli("submissions", "show", "00000000-0000-4000-8000-000000000000")
    assert missing.exit_code == 1 and "no submission 00000000-" in missing.output
    assert running.cli("submissions", "list", "--state", "failed").exit_code == 0
    nobody = {"FAXGATE_TOKEN": make_token(running.config, "cli-nobody", AccessRights.QUERY_CONFIG)}
    assert "QUERY_JOBS" in running.cli("submissions", "list", env=nobody).output


def test_config_effective_is_the_same_through_the_api_and_offline(running: Running) -> None:
    token = read_admin_token(load_config(running.config).server.data_dir)
    with httpx.Client(base_url=running.url + "/api/v1", headers={"Authorization": f"Bearer {token}"}) as api:
        assert api.put("/devices/sim1/settings", json={"description": "cli desk"}).status_code == 200
    through_api = running.json("config", "effective")
    assert through_api == running.json("config", "effective", "--offline")
    values = {item["path"]: item for item in through_api["values"]}
    assert (values["devices[sim1].description"]["value"], values["devices[sim1].description"]["source"]) == (
        "cli desk", "store")
    assert through_api["problems"] == {}
    with FaxServer.connect(running.url, token) as server:
        assert server.get_effective_config().model_dump()["values"] == through_api["values"]
    text = running.cli("config", "effective", "--source", "store")
    assert text.output == running.cli("config", "effective", "--source", "store", "--offline").output
    assert 'devices[sim1].description = "cli desk"  [store, ' in text.output
    low = {"FAXGATE_TOKEN": make_token(running.config, "cli-config", AccessRights.SUBMIT_LOW)}
    refused = running.cli("config", "effective", env=low)
    assert refused.exit_code == 1 and "QUERY_CONFIG" in refused.output


def test_no_server_is_one_clear_line_and_offline_still_works(tmp_path: Path) -> None:
    config = tmp_path / "faxgate.toml"
    _, http_port = write_config(config, tmp_path / "data", http_port=free_port())
    runner = CliRunner()
    down = runner.invoke(main, ["jobs", "list", "--config", str(config)], env={"FAXGATE_TOKEN": None})
    assert down.exit_code == 1
    assert down.output.strip() == (f"Error: server not reachable at http://127.0.0.1:{http_port}; use --offline for "
                                   "reading the queue when the server is down")
    for command, use in ((["route", "test"], "dry-running the local config's rules when the server is down"),
                         (["route", "methods"], "listing the local config's methods when the server is down"),
                         (["submissions", "list"], "reading submissions when the server is down"),
                         (["submissions", "show", "x"], "reading submissions when the server is down"),
                         (["config", "effective"],
                          "reading the configuration file and the store when the server is down")):
        down = runner.invoke(main, [*command, "--config", str(config)], env={"FAXGATE_TOKEN": None})
        assert (down.exit_code, down.output.strip()) == (
            1, f"Error: server not reachable at http://127.0.0.1:{http_port}; use --offline for {use}")
        assert runner.invoke(main, [*command, "--offline", "--config", str(config)]).exit_code == (
            1 if command[1] == "show" else 0)
    first = runner.invoke(main, ["token", "create", "--name", "bootstrap", "--rights", "query_config,manage_config",
                                 "--offline", "--config", str(config), "--json"])
    assert first.exit_code == 0, first.output
    assert runner.invoke(main, ["jobs", "list", "--offline", "--config", str(config)]).output.strip() == "no jobs"
    secret = json.loads(first.output)["token"]
    with ServerProcess(config, http_port), FaxServer.connect(f"http://127.0.0.1:{http_port}", secret) as server:
        assert server.granted_rights == ["query_config", "manage_config"]


def test_the_local_administrator_token_is_kept_across_starts_and_made_again_once_revoked(tmp_path: Path) -> None:
    config = tmp_path / "faxgate.toml"
    _, http_port = write_config(config, tmp_path / "data")
    data_dir = load_config(config).server.data_dir
    runner = CliRunner()
    with ServerProcess(config, http_port):
        first = read_admin_token(data_dir)
    with ServerProcess(config, http_port):
        assert read_admin_token(data_dir) == first
    names = [row["name"] for row in json.loads(runner.invoke(
        main, ["token", "list", "--offline", "--json", "--config", str(config)]).output)]
    assert len(names) == 1 and names[0].startswith("local-admin.")
    revoked = runner.invoke(main, ["token", "revoke", names[0], "--offline", "--config", str(config)])
    assert revoked.exit_code == 0, revoked.output
    with ServerProcess(config, http_port):
        second = read_admin_token(data_dir)
        assert second is not None and second != first
        listed = runner.invoke(main, ["devices", "list", "--config", str(config)], env={"FAXGATE_TOKEN": None})
        assert listed.exit_code == 0 and listed.output.strip() == "no devices"
