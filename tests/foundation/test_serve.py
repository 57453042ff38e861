"""`faxgate serve` as a process: it listens, answers health checks, stops cleanly, and loses nothing to SIGKILL."""

from __future__ import annotations

import json
import smtplib
import socket
import subprocess
import sys
from pathlib import Path

from tests.support.server import ServerProcess, write_config


def test_serve_greets_on_smtp_answers_health_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    smtp_port, http_port = write_config(tmp_path / "faxgate.toml", tmp_path / "data")
    server = ServerProcess(tmp_path / "faxgate.toml", http_port).start()
    try:
        with socket.create_connection(("127.0.0.1", smtp_port), timeout=5) as sock:
            banner = sock.recv(200).decode()
        assert banner.startswith("220 ") and "faxgate ESMTP" in banner
        assert server.health()["database"] == "ok"
        output = server.output()
        assert f"smtp   listening on 127.0.0.1:{smtp_port}" in output
        assert f"http   listening on 127.0.0.1:{http_port}" in output
    finally:
        code = server.terminate()
    assert code == 0
    assert "server.stopped" in server.output()
    assert "Traceback" not in server.output()


def test_sigkill_after_committed_write_loses_nothing(tmp_path: Path, store_url: str) -> None:
    config = tmp_path / "faxgate.toml"
    smtp_port, http_port = write_config(config, tmp_path / "data", store_url)
    message = (b"From: clinic@example.com\r\nTo: 5551234@fax.localhost\r\nSubject: lab results\r\n\r\n"
               + b"line of text\r\n" * 2000)
    with ServerProcess(config, http_port) as server, smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
        client.ehlo()
        code, reply = client.docmd("MAIL FROM:<clinic@example.com>")
        assert code == 250
        assert client.docmd("RCPT TO:<5551234@fax.localhost>")[0] == 250
        assert client.docmd("DATA")[0] == 354
        client.send(message.replace(b"\r\n.", b"\r\n..") + b"\r\n.\r\n")
        code, reply = client.getreply()
        assert code == 250, reply
        submission_id = reply.decode().rsplit(" ", 1)[-1]
        server.kill()  # right after 250: no QUIT, no shutdown
    with ServerProcess(config, http_port):
        shown = subprocess.run(
            [sys.executable, "-m", "gateway", "submissions", "show", "--config", str(config), "--json", submission_id],
            capture_output=True, text=True, check=True,
        )
    record = json.loads(shown.stdout)
    assert record["id"] == submission_id
    assert record["subject"] == "lab results"
    assert [recipient["address"] for recipient in record["recipients"]] == ["5551234@fax.localhost"]


def test_embedded_defaults_start_with_no_arguments(tmp_path: Path) -> None:
    server = ServerProcess(None, 8025, cwd=tmp_path)  # type: ignore[arg-type]
    server.start()
    try:
        assert server.health()["status"] == "ok"
        assert (tmp_path / "faxgate-data" / "faxgate.db").exists()
        with smtplib.SMTP("127.0.0.1", 2525, timeout=10) as client:
            assert client.ehlo()[0] == 250
    finally:
        assert server.terminate() == 0
