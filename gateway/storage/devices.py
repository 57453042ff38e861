"""Every query about the shared device table: each node records its lines' lifecycle state there."""

from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.enums import DeviceState
from gateway.model import DeviceRecord
from gateway.storage.schema import devices


async def list_devices(conn: AsyncConnection) -> dict[str, DeviceRecord]:
    """The last state each node reported, by device name."""
    rows = await conn.execute(select(devices).order_by(devices.c.name))
    return {row.name: DeviceRecord.from_row(row) for row in rows}


async def get_device(conn: AsyncConnection, name: str) -> DeviceRecord | None:
    """One line's last reported state."""
    row = (await conn.execute(select(devices).where(devices.c.name == name))).first()
    return DeviceRecord.from_row(row) if row is not None else None


async def record_state(
    conn: AsyncConnection, *, name: str, node_id: str, provider: str, state: DeviceState, reason: str, now: float,
    retry_at: float | None = None, failures: int = 0,
) -> None:
    """Replace the line's row with its new state (one row per line; the node that runs it owns it)."""
    await conn.execute(delete(devices).where(devices.c.name == name))
    await conn.execute(insert(devices).values(
        name=name, node_id=node_id, provider=provider, state=state.value, status=int(state.fps),
        status_text=reason, updated_at=now, retry_at=retry_at, failures=failures))
