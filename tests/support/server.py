"""Run `faxgate serve` as a real subprocess for tests that kill it, restart it, or talk to its sockets."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.net import free_port


def write_config(path: Path, data_dir: Path, store_url: str = "", extra: str = "", *,
                 smtp_port: int | None = None, http_port: int | None = None) -> tuple[int, int]:
    """A config file with free ports; returns (smtp_port, http_port)."""
    smtp_port = smtp_port or free_port()
    http_port = http_port or free_port()
    path.write_text(
        f'[server]\ndata_dir = "{data_dir}"\nshutdown_grace = "10s"\n\n'
        f'[storage]\nurl = "{store_url}"\n\n'
        f'[smtp]\nlisten = "127.0.0.1:{smtp_port}"\n\n'
        f'[http]\nlisten = "127.0.0.1:{http_port}"\n\n{extra}\n'
    )
    return smtp_port, http_port


class ServerProcess:
    """A `faxgate serve` child process; started ready (both ports answer) and stopped or killed on request."""

    def __init__(self, config: Path, http_port: int, cwd: Path | None = None, env: dict[str, str] | None = None,
                 tls: ssl.SSLContext | None = None):
        self.config = config
        self.tls = tls
        """Trusts the server's certificate when its listener speaks HTTPS."""
        self.http_port = http_port
        self.cwd = cwd or config.parent
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[str] | None = None
        self.log = self.cwd / f"serve-{int(time.time() * 1000)}.log"

    def start(self, timeout: float = 60) -> ServerProcess:
        """Start and wait until /health answers 200."""
        args = [sys.executable, "-m", "gateway", "serve"]
        if self.config is not None:
            args += ["--config", str(self.config)]
        self.proc = subprocess.Popen(args, cwd=self.cwd, env=self.env, stdout=self.log.open("w"),
                                     stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"faxgate serve exited with {self.proc.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.health_url, timeout=2, context=self.tls) as reply:
                    if reply.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"faxgate serve did not become healthy:\n{self.output()}")

    @property
    def health_url(self) -> str:
        """GET /health on loopback, https when the listener speaks TLS."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.http_port}/health"

    def output(self) -> str:
        """Everything the process printed so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def health(self) -> dict[str, Any]:
        """The /health document."""
        import json

        with urllib.request.urlopen(self.health_url, timeout=5, context=self.tls) as reply:
            return dict(json.load(reply))

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM and wait; the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: no chance to clean up, as in a power cut."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
