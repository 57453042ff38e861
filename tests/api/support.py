"""A running `faxgate serve` for API tests, tokens made on its store, a PDF to fax and a received fax in the store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from gateway.config import load_config
from gateway.enums import AccessRights, ExtendedStatus, JobStatus
from gateway.queue.documents import load_pymupdf
from gateway.storage import Database, incoming, tokens
from modem.faxtiff import FaxTiffWriter

ALL_RIGHTS = AccessRights(0x7FF)
SUBMIT_RIGHTS = AccessRights.SUBMIT_LOW | AccessRights.SUBMIT_NORMAL | AccessRights.SUBMIT_HIGH


async def _in_store(config: Path, work):  # type: ignore[no-untyped-def]
    db = Database(load_config(config).database_url)
    try:
        await db.migrate()
        async with db.transaction() as conn:
            return await work(conn)
    finally:
        await db.close()


async def token_in_store(config: Path, name: str, rights: AccessRights) -> str:
    """A token on the server's store, as `faxgate token create` makes it."""
    secret: str = await _in_store(config, lambda conn: tokens.create_token(conn, name, rights))
    return secret


def make_token(config: Path, name: str, rights: AccessRights) -> str:
    """token_in_store, from synchronous code."""
    return asyncio.run(token_in_store(config, name, rights))


def store_received_fax(config: Path, folder: Path, pages: int = 2) -> tuple[int, bytes]:
    """A received fax committed to the store as the inbound service commits one; (id, TIFF bytes)."""
    path = folder / "received.tif"
    with FaxTiffWriter(path) as writer:
        for page in range(pages):
            bitmap = np.zeros((400, 216), dtype=np.uint8)
            bitmap[50 + page * 100: 80 + page * 100, 20:180] = 0xFF
            writer.add_page(bitmap)
    data = path.read_bytes()

    async def work(conn):  # type: ignore[no-untyped-def]
        return await incoming.create_received(
            conn, device_name="sim0", node_id="test", received_at=1_800_000_000.0, ended_at=1_800_000_060.0,
            tiff=data, pages=pages, status=JobStatus.COMPLETED, extended_status=ExtendedStatus.CALL_COMPLETED,
            caller_id="5550100", did="5551000", remote_tsid="+1 555 0100", csid="faxgate")

    return asyncio.run(_in_store(config, work)), data


def pdf_document(path: Path, text: str = "Quarterly figures") -> Path:
    """A one-page PDF to fax."""
    pymupdf = load_pymupdf()
    document = pymupdf.open()
    page = document.new_page()
    page.insert_text((72, 100), text, fontsize=24)
    document.save(path)
    return path
