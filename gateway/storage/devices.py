"""Every query about the shared device table: each node records its devices' last reported state there."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.model import DeviceRecord
from gateway.storage.schema import devices


async def list_devices(conn: AsyncConnection) -> dict[str, DeviceRecord]:
    """The last state each node reported, by device name."""
    rows = await conn.execute(select(devices).order_by(devices.c.name))
    return {row.name: DeviceRecord.from_row(row) for row in rows}
