"""FaxServer.stop stops every service and closes the store even when a service fails to stop; a line whose port
fails keeps its receive task and does not end the shutdown; the node id is stable across restarts."""

from __future__ import annotations

import asyncio
import io
import socket
from pathlib import Path

import pytest

import gateway.server
from gateway.config import parse_config
from gateway.logs import setup_logging
from gateway.server import FaxServer, stored_node_id
from tests.support.net import free_port


class _Breaks:
    """A service whose stop fails (a bug in one part of the server)."""

    name = "breaks"

    async def start(self) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        raise RuntimeError("stop went wrong")


class _Hangs:
    """A service whose stop never returns."""

    name = "hangs"

    async def start(self) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        await asyncio.Event().wait()


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return True
    return False


async def test_stop_stops_every_service_and_closes_the_store_when_one_stop_raises_and_one_hangs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gateway.server, "STOP_MARGIN_S", 1.0)
    monkeypatch.setattr(gateway.server, "MIN_SERVICE_STOP_S", 0.5)
    smtp_port, http_port = free_port(), free_port()
    config = parse_config({
        "server": {"data_dir": str(tmp_path / "data"), "shutdown_grace": "0s"},
        "smtp": {"listen": f"127.0.0.1:{smtp_port}"}, "http": {"listen": f"127.0.0.1:{http_port}"},
        "devices": [{"name": "gone", "provider": "class1", "port": str(tmp_path / "unplugged-tty")}],
    })
    log = io.StringIO()
    setup_logging(config.logging, log)
    server = FaxServer(config)
    await server.start()
    for _ in range(200):  # the line's port is missing: its receive loop logs the error and keeps going
        if "inbound.wait_failed" in log.getvalue():
            break
        await asyncio.sleep(0.05)
    inbound = next(service for service in server.services if service.name == "inbound")
    assert all(not task.done() for task in inbound._tasks)  # type: ignore[attr-defined]
    assert (tmp_path / "data" / "faxgate.db-wal").exists()
    # Stopped in reverse order: "hangs" and "breaks" come before the queue, the devices, HTTP and SMTP.
    server.services[2:2] = [_Breaks(), _Hangs()]  # type: ignore[list-item]

    await server.stop()

    text = log.getvalue()
    assert "ERROR init service.stop_failed service=breaks" in text
    assert "    | RuntimeError: stop went wrong" in text  # with its traceback
    assert "ERROR init service.stop_timeout service=hangs" in text
    assert "server.stopped" in text
    assert _refused(smtp_port) and _refused(http_port)
    assert not (tmp_path / "data" / "faxgate.db-wal").exists()  # the last connection closed
    assert "inbound.line_failed" not in text


def test_node_id_is_kept_in_the_data_folder_unless_the_config_names_one(tmp_path: Path) -> None:
    first = stored_node_id(tmp_path / "data")
    assert first == stored_node_id(tmp_path / "data")
    assert (tmp_path / "data" / "node-id").read_text().strip() == first
    assert first != stored_node_id(tmp_path / "other")
    named = parse_config({"server": {"data_dir": str(tmp_path / "data"), "node_id": "fax-a"}})
    assert FaxServer(named).node_id == "fax-a"
    default = parse_config({"server": {"data_dir": str(tmp_path / "data")}})
    assert FaxServer(default).node_id == first
