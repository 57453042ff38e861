"""Real processes for lifecycle tests: `faxgate simline run` on ptys, and the CLI reading the store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
LINES = {"fax0": "5552000", "fax1": "5552001"}
REMOTE = "5550100"


def layout(tmp_path: Path, extra: str = "") -> Path:
    """Two faxgate soft-modems on ptys under tmp_path/tty, and one remote fax machine (V.17, ECM); ``extra``: more
    layout text (other remote machines)."""
    path = tmp_path / "line.toml"
    text = "[network]\ndelay_ms = 20\nring_interval_s = 2.0\n"
    for name, number in LINES.items():
        text += f'[[modem]]\nname = "{name}"\nnumber = "{number}"\npty = "{tmp_path / "tty" / name}"\n'
    text += (f'[[remote]]\nnumber = "{REMOTE}"\nident = "+1 555 0100"\nmodems = ["V.17", "V.29", "V.27ter"]\n'
             'compressions = ["1D", "2D", "T.6"]\necm = true\n')
    path.write_text(text + extra)
    return path


class SimLine:
    """`faxgate simline run` as a child process; killed with SIGKILL, as a line that vanishes."""

    def __init__(self, tmp_path: Path, calls: tuple[str, ...] = (), extra_layout: str = "") -> None:
        self.tmp_path = tmp_path
        self.log = tmp_path / f"simline-{time.monotonic_ns()}.log"
        args = [sys.executable, "-m", "gateway", "simline", "run", "--config", str(layout(tmp_path, extra_layout)),
                "--data-dir", str(tmp_path / "sim")]
        for call in calls:
            args += ["--call", call]
        self.proc = subprocess.Popen(args, stdout=self.log.open("w"), stderr=subprocess.STDOUT,
                                     cwd=tmp_path, start_new_session=True)
        wait_for(lambda: all((tmp_path / "tty" / name).exists() for name in LINES) or None, 30,
                 "the simline ptys", self.output)

    def output(self) -> str:
        """What the line printed so far."""
        return self.log.read_text(errors="replace")

    def calls(self) -> list[dict[str, Any]]:
        """The JSON records of finished calls."""
        return [json.loads(line) for line in self.output().splitlines() if line.startswith('{"remote"')]

    def kill(self) -> None:
        """SIGKILL: the ptys vanish under the gateway, and their names with them, as an unplugged USB modem's do (a
        dangling symlink could point at a /dev/pts number another program on this machine gets next)."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        for name in LINES:
            (self.tmp_path / "tty" / name).unlink(missing_ok=True)

    def stop(self) -> None:
        """SIGTERM and wait."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def faxgate(config: Path, *args: str) -> Any:
    """Run a `faxgate ... --json` command for the config's server (its local administrator token); its parsed output."""
    done = subprocess.run([sys.executable, "-m", "gateway", *args, "--config", str(config), "--json"],
                          capture_output=True, text=True, timeout=60, env={**os.environ})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def devices(config: Path, *flags: str) -> dict[str, dict[str, Any]]:
    """`faxgate devices list --json`, by line name (through the server's API unless flags say --offline)."""
    return {row["name"]: row for row in faxgate(config, "devices", "list", *flags)}


def wait_for(probe: Callable[[], T | None], timeout: float, what: str, context: Callable[[], str] = str) -> T:
    """Poll until ``probe`` returns something truthy; fail naming ``what`` (a deadline, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{context()}")
        time.sleep(0.5)
