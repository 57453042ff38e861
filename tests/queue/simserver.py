"""`faxgate serve` on the simulated line for end-to-end queue tests, and a real SMTP sink for receipts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from aiosmtpd.controller import Controller

from gateway.config import load_config
from gateway.model import Attempt, OutgoingJob
from gateway.storage import Database, get_blob
from gateway.storage import jobs as store
from modem.faxtiff import read_fax_tiff
from modem.simnet.layout import DEFAULT_LAYOUT
from tests.support.net import free_port
from tests.support.server import ServerProcess, write_config

HEADER_ROWS_FINE = 30
"""The top band the page header replaces (gateway.render.header)."""


@dataclass
class Sink:
    """Messages a real SMTP server received."""

    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 2.0.0 stored"


SinkT = TypeVar("SinkT", bound=Sink)


@contextmanager
def smtp_sink() -> Iterator[tuple[Sink, int]]:
    """An aiosmtpd server on a free port in its own thread."""
    with serving(Sink()) as (sink, port):
        yield sink, port


@contextmanager
def serving(sink: SinkT) -> Iterator[tuple[SinkT, int]]:
    """Serve ``sink`` (any Sink) over SMTP on a free port in its own thread, until the block ends."""
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


def sim_config(folder: Path, receipts_port: int, *, store_url: str = "", devices: tuple[tuple[str, str], ...] = (
        ("sim0", "5551000"), ("sim1", "5551001")), speed: float = 4.0, node_id: str = "",
        extra: str = "", more_remotes: tuple[str, ...] = ()) -> tuple[Path, int, int]:
    """A config for `faxgate serve` on the demo simulated line with short retry delays."""
    folder.mkdir(parents=True, exist_ok=True)
    layout = folder / "layout.toml"
    remotes = "".join(f'\n[[remote]]\nnumber = "{number}"\nident = "REMOTE {number}"\n' for number in more_remotes)
    layout.write_text(DEFAULT_LAYOUT.replace("speed = 1.0", f"speed = {speed}")
                      .replace("no_answer_timeout_s = 45", "no_answer_timeout_s = 8") + remotes)
    device_text = "".join(
        f'[[devices]]\nname = "{name}"\nprovider = "simulated"\nnumber = "{number}"\n\n'
        for name, number in devices)
    body = (f'[receipts]\nsmtp_host = "127.0.0.1"\nsmtp_port = {receipts_port}\n\n'
            f'[simulation]\nenabled = true\nlayout = "{layout}"\n\n'
            '[outbound]\npoll_interval = "0.3s"\nclaim_lease = "20s"\n\n'
            '[outbound.retry]\nbusy = { delay = "2s", max = 5 }\nno_answer = { delay = "2s", max = 1 }\n\n'
            f"{extra}\n{device_text}")
    path = folder / "faxgate.toml"
    smtp_port, http_port = write_config(path, folder / "data", store_url, body)
    if node_id:
        text = path.read_text().replace('shutdown_grace = "10s"', f'shutdown_grace = "10s"\nnode_id = "{node_id}"')
        path.write_text(text)
    return path, smtp_port, http_port


async def wait_for(predicate: Any, timeout: float, what: str, server: ServerProcess | None = None) -> None:
    """Poll an async predicate every 0.25 s (real time) until true or ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}" + (f"\n{server.output()[-4000:]}" if server else ""))


async def all_jobs(config_path: Path) -> list[OutgoingJob]:
    """Every job in the server's store."""
    db = Database(load_config(config_path).database_url)
    try:
        async with db.transaction() as conn:
            return await store.list_jobs(conn, limit=100000)
    finally:
        await db.close()


async def job_attempts(config_path: Path, job_id: int) -> list[Attempt]:
    db = Database(load_config(config_path).database_url)
    try:
        async with db.transaction() as conn:
            return await store.list_attempts(conn, job_id=job_id)
    finally:
        await db.close()


async def job_pages(config_path: Path, job: OutgoingJob) -> list[np.ndarray]:
    """The pages the job was to send, as stored."""
    assert job.document_blob_id is not None
    db = Database(load_config(config_path).database_url)
    try:
        async with db.transaction() as conn:
            data = await get_blob(conn, job.document_blob_id)
    finally:
        await db.close()
    path = config_path.parent / f"job-{job.id}.tif"
    path.write_bytes(data)
    return [page.bitmap for page in read_fax_tiff(path)]


def received_pages(data_dir: Path, number: str) -> list[np.ndarray]:
    """Every page the remote machine at ``number`` received, in call order."""
    files = sorted((data_dir / "simnet").glob(f"{number}-*-rx.tif"),
                   key=lambda path: int(path.name.split("-")[1]))
    return [page.bitmap for path in files for page in read_fax_tiff(path)]


def same_below_header(sent: np.ndarray, received: np.ndarray) -> bool:
    """The page arrived as sent, apart from the header line stamped at send time."""
    return sent.shape == received.shape and bool(np.array_equal(sent[HEADER_ROWS_FINE:],
                                                                received[HEADER_ROWS_FINE:]))
