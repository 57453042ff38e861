"""Shared pieces of the routing tests: a migrated store, a real SMTP sink on the loop, received faxes as TIFF."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway.config import FaxgateConfig, parse_config
from gateway.enums import ExtendedStatus, JobStatus
from gateway.storage import Database
from gateway.storage import incoming as store
from modem.faxtiff import write_fax_tiff
from modem.port import ModemPort
from modem.provider import Class1Device, DeviceConfig
from modem.simnet import SimNetwork
from tests.support.net import free_port


@dataclass
class Sink:
    """A real SMTP server on the test's loop that keeps every message it accepts."""

    port: int
    messages: list[tuple[Envelope, EmailMessage]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((envelope, parsed))
        self.arrived.set()
        return "250 OK"


async def start_sink(port: int) -> tuple[Sink, asyncio.Server]:
    """Listen on 127.0.0.1:port with aiosmtpd."""
    sink = Sink(port)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(sink, hostname="sink.test"), "127.0.0.1", port)
    return sink, server


@pytest.fixture
async def smtp_sink() -> AsyncIterator[Sink]:
    """A running SMTP sink."""
    sink, server = await start_sink(free_port())
    yield sink
    server.close()
    await server.wait_closed()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated SQLite store in the test's folder."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'faxgate.db'}")
    await database.migrate()
    yield database
    await database.close()


def make_config(tmp_path: Path, smtp_port: int, inbound: dict[str, Any] | None = None,
                **sections: Any) -> FaxgateConfig:
    """Two devices, the receipts smarthost on the sink, the data folder in tmp_path, and the given [inbound]."""
    data: dict[str, Any] = {
        "server": {"data_dir": str(tmp_path / "data")},
        "devices": [{"name": "fax0", "provider": "simulated", "csid": "+1 555 0200"},
                    {"name": "fax1", "provider": "simulated", "csid": "+1 555 0201"}],
        "receipts": {"smtp_host": "127.0.0.1", "smtp_port": smtp_port, "sender": "faxgate@example.test"},
        "inbound": {"admin": "faxmaster@example.test", "retry_delay": "1m", **(inbound or {})},
        **sections,
    }
    return parse_config(data)


def fax_pages(count: int = 2, seed: int = 7) -> list[np.ndarray]:
    """Distinct fax pages (packed bitmaps, 1728 wide) with blocks and noise, so pixel checks mean something."""
    rng = np.random.default_rng(seed)
    pages = []
    for index in range(count):
        page = np.zeros((1100, 216), np.uint8)
        page[50 + 40 * index : 300 + 40 * index, 10 + index : 60 + index] = 0xFF
        page[600:700] = rng.integers(0, 256, (100, 216), dtype=np.uint8)
        page[900 + index * 10, :] = 0xFF
        pages.append(page)
    return pages


def tiff_bytes(tmp_path: Path, pages: list[np.ndarray] | None = None, fine: bool = False) -> bytes:
    """A received fax as TIFF Class F bytes."""
    path = tmp_path / f"rx-{time.monotonic_ns()}.tif"
    write_fax_tiff(path, pages if pages is not None else fax_pages(), fine=fine)
    return path.read_bytes()


async def commit_fax(db: Database, tiff: bytes, *, device: str = "fax0", caller_id: str = "+15551234567",
                     caller_name: str = "ACME", did: str = "100", tsid: str = "ACME FAX", subaddress: str = "",
                     received_at: float = 1_763_712_000.0, pages: int = 2) -> int:
    """Commit a received fax as the inbound service does; returns the incoming job id."""
    async with db.transaction() as conn:
        return await store.create_received(
            conn, device_name=device, node_id="test", received_at=received_at, ended_at=received_at + 60,
            tiff=tiff, pages=pages, status=JobStatus.ROUTING, extended_status=ExtendedStatus.CALL_COMPLETED,
            caller_id=caller_id, caller_name=caller_name, did=did, remote_tsid=tsid, csid="+1 555 0200",
            subaddress=subaddress,
        )


NUMBER = "5551000"
"""The faxgate device's number on the simulated network."""


def sim_config(tmp_path: Path, sink: Sink, inbound: dict[str, Any]) -> FaxgateConfig:
    """make_config with the first device named sim0."""
    config = make_config(tmp_path, sink.port, inbound)
    config.devices[0].name = "sim0"
    return config


def device_on(net: SimNetwork, config: FaxgateConfig) -> Class1Device:
    """The first configured device as a Class 1 soft-modem on the simulated network."""
    port = net.add_modem("sim0", number=NUMBER)

    async def opener() -> ModemPort:
        return port  # type: ignore[return-value]  # VirtualClock is a Clock; mypy cannot see the Protocol match

    section = config.devices[0]
    return Class1Device(DeviceConfig(name="sim0", csid=section.csid, rings_to_answer=section.rings_before_answer),
                     opener)
