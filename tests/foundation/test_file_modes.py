"""`faxgate serve` keeps its spool private: the data folder 0700, the database (raw mails, faxes) and all else 0600."""

from __future__ import annotations

import os
import smtplib
import stat
from pathlib import Path

from tests.support.server import ServerProcess, write_config


def test_a_real_run_leaves_nothing_readable_by_others(tmp_path: Path) -> None:
    data = tmp_path / "data"
    smtp_port, http_port = write_config(tmp_path / "faxgate.toml", data)
    previous = os.umask(0o022)  # an ordinary shell's umask, inherited by the server
    try:
        server = ServerProcess(tmp_path / "faxgate.toml", http_port).start()
    finally:
        os.umask(previous)
    try:
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
            refused = client.sendmail("clinic@example.com", ["5551234@fax.localhost"],
                                      b"From: clinic@example.com\r\nSubject: lab results\r\n\r\nconfidential\r\n")
        assert refused == {}
    finally:
        assert server.terminate() == 0
    found = {path.relative_to(data).as_posix(): stat.S_IMODE(path.stat().st_mode) for path in data.rglob("*")}
    assert "faxgate.db" in found
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert {name: oct(mode) for name, mode in found.items() if mode & 0o077} == {}
