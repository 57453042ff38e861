"""Lines that survive their modems, at real time on ptys: `faxgate serve` with two class1 lines on a `faxgate simline`
process. The line process is killed while the gateway waits for calls, and again in the middle of a send; each
time the lines show "retrying" with the reason (from the store, via `faxgate devices list --json`), come back to
"ready" without a restart once the line runs again, and the work goes through: a call is received and routed, the
cut job is requeued and completes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from modem.faxtiff import write_fax_tiff
from tests.lifecycle.support import LINES, REMOTE, SimLine, devices, faxgate, wait_for
from tests.routing.conftest import fax_pages
from tests.support.server import ServerProcess, write_config

pytestmark = pytest.mark.realtime


def _config(tmp_path: Path, provider0: str = "class1") -> tuple[Path, int, Path]:
    """Two lines on the simline ptys; received faxes go to a folder as TIFF."""
    config = tmp_path / "faxgate.toml"
    routed = tmp_path / "routed"
    extra = ""
    for name, number in LINES.items():
        provider = provider0 if name == "fax0" else "class1"
        extra += (f'[[devices]]\nname = "{name}"\nprovider = "{provider}"\nport = "{tmp_path / "tty" / name}"\n'
                  f'csid = "+1 555 {number[-4:]}"\ntsid = "+1 555 {number[-4:]}"\nrings_before_answer = 1\n\n')
    extra += ('[outbound]\npoll_interval = "1s"\n\n[inbound]\nadmin = "faxmaster@example.test"\n\n'
              f'[[inbound.rules]]\nname = "all"\nfolder = {{ path = "{routed}", format = "tiff" }}\n')
    _smtp, http = write_config(config, tmp_path / "data", extra=extra)
    return config, http, routed


def _states(config: Path, *flags: str) -> dict[str, tuple[str, str]]:
    return {name: (row["state"], row["reason"]) for name, row in devices(config, *flags).items()}


def _when_all(states: dict[str, tuple[str, str]], wanted: str) -> dict[str, tuple[str, str]] | None:
    return states if all(state == wanted for state, _reason in states.values()) else None


def _all_ready(config: Path) -> bool:
    return all(state == "ready" for state, _reason in _states(config).values())


def test_a_killed_line_retries_with_its_reason_and_comes_back_for_calls_and_sends(tmp_path: Path) -> None:
    config, http, routed = _config(tmp_path)
    incoming = tmp_path / "incoming.tif"
    write_fax_tiff(incoming, fax_pages(1, seed=3))
    line = SimLine(tmp_path)
    server = ServerProcess(config, http, cwd=tmp_path).start()
    try:
        wait_for(lambda: _all_ready(config), 30, "both lines ready", server.output)

        # 1. The line process dies while the gateway waits for calls.
        line.kill()
        lost = wait_for(lambda: _when_all(_states(config), "retrying"), 30, "both lines retrying", server.output)
        assert all(reason for _state, reason in lost.values()), lost  # the reason, in words
        time.sleep(20)  # the line stays away for a while; the gateway keeps retrying, nothing ends
        row = devices(config)["fax0"]
        assert row["state"] == "retrying" and row["failures"] >= 2 and row["retry_at"]
        assert server.proc is not None and server.proc.poll() is None

        line = SimLine(tmp_path, calls=(f"{REMOTE}:{LINES['fax0']}:{incoming}",))
        wait_for(lambda: _all_ready(config), 40, "both lines ready again", server.output)
        received = wait_for(lambda: [r for r in faxgate(config, "inbox", "list") if r["pages"] == 1], 120,
                            "the call received", lambda: server.output() + line.output())
        assert received[0]["device"] == "fax0"
        wait_for(lambda: list(routed.rglob("*.tif")), 60, "the fax routed to the folder", server.output)

        # 2. The line process dies in the middle of a send.
        document = tmp_path / "three.tif"
        write_fax_tiff(document, fax_pages(3, seed=5))
        faxgate(config, "submit", str(document), "--to", REMOTE)
        wait_for(lambda: any(state == "sending" for state, _ in _states(config).values()), 60, "a line sending",
                 server.output)
        time.sleep(8)  # into the first page
        line.kill()
        jobs = wait_for(lambda: [j for j in faxgate(config, "jobs", "list")
                                 if j["extended_status"] == "line_unavailable"], 60, "the job requeued", server.output)
        assert "retrying" in jobs[0]["status"] and jobs[0]["pages_sent"] < 3, jobs  # "noline and retrying"
        assert "retrying" in {state for state, _ in _states(config).values()}

        line = SimLine(tmp_path)
        done = wait_for(lambda: [j for j in faxgate(config, "jobs", "list") if j["status"] == "completed"], 240,
                        "the requeued job completed", lambda: server.output() + line.output())
        assert done[0]["pages_sent"] == 3
        assert _all_ready(config)
        assert server.terminate() == 0
    finally:
        line.stop()
        if server.proc is not None and server.proc.poll() is None:
            server.kill()


BROKEN_PROVIDER = '''
from modem.provider import Class1Provider


class BrokenDevice:
    async def start(self):
        raise RuntimeError("the test provider refuses to start")


class BrokenProvider:
    def create(self, spec):
        return BrokenDevice()
'''


def _installed_broken_provider(tmp_path: Path) -> Path:
    """A test-only distribution declaring a `faxgate.device_providers` entry point, as pip would install it."""
    site = tmp_path / "site"
    (site / "faxgate_broken").mkdir(parents=True)
    (site / "faxgate_broken" / "__init__.py").write_text(BROKEN_PROVIDER)
    info = site / "faxgate_broken-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: faxgate-broken\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[faxgate.device_providers]\nbroken = faxgate_broken:BrokenProvider\n")
    return site


def test_a_provider_that_raises_on_start_leaves_its_line_not_ready_and_the_rest_works(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = _installed_broken_provider(tmp_path)
    monkeypatch.setenv("PYTHONPATH", f"{site}:{Path.cwd()}")  # the CLI children below see the entry point too
    config, http, routed = _config(tmp_path, provider0="broken")
    incoming = tmp_path / "incoming.tif"
    write_fax_tiff(incoming, fax_pages(1, seed=4))
    line = SimLine(tmp_path, calls=(f"{REMOTE}:{LINES['fax1']}:{incoming}",))
    server = ServerProcess(config, http, cwd=tmp_path).start()
    try:
        usable = ("ready", "ringing", "receiving")  # the call may already be coming in
        states = wait_for(lambda: (s := _states(config))["fax1"][0] in usable and s, 30, "fax1 usable",
                          server.output)
        assert states["fax0"] == ("not_ready", "RuntimeError: the test provider refuses to start")
        received = wait_for(lambda: faxgate(config, "inbox", "list"), 120, "the call received on fax1",
                            lambda: server.output() + line.output())
        assert (received[0]["device"], received[0]["pages"]) == ("fax1", 1)
        wait_for(lambda: list(routed.rglob("*.tif")), 60, "the fax routed to the folder", server.output)
        assert server.terminate() == 0
        output = server.output()
        assert "server.stopped" in output and "Traceback" in output  # the provider's failure, logged in full
        assert not list((tmp_path / "data").glob("*-wal"))  # the store was closed (SQLite removes its WAL then)
        assert _states(config, "--offline")["fax1"] == ("not_ready", "the server is stopped")  # no server to ask
    finally:
        line.stop()
        if server.proc is not None and server.proc.poll() is None:
            server.kill()
