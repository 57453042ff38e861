"""Every query about runtime settings: overrides by area and key, and the version counter nodes poll to reload."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.storage.schema import settings, settings_version


@dataclass(frozen=True)
class StoredSetting:
    """One stored value, with who changed it and when."""

    area: str
    key: str
    value: Any
    updated_at: float
    updated_by: str


async def read_version(conn: AsyncConnection) -> int:
    """The settings version: it grows with every change, so a node compares one number to know it must reload."""
    row = (await conn.execute(select(settings_version.c.version).where(settings_version.c.id == 1))).first()
    return int(row[0]) if row else 0


async def read_all(conn: AsyncConnection) -> list[StoredSetting]:
    """Every stored override, by area then key."""
    rows = await conn.execute(select(settings).order_by(settings.c.area, settings.c.key))
    return [StoredSetting(row.area, row.key, row.value, row.updated_at, row.updated_by) for row in rows]


async def _bump(conn: AsyncConnection, now: float) -> int:
    """Add one to the version in the change's transaction (the row lock orders concurrent writers)."""
    result = await conn.execute(update(settings_version).where(settings_version.c.id == 1)
                                .values(version=settings_version.c.version + 1, updated_at=now)
                                .returning(settings_version.c.version))
    return int(result.scalar_one())


async def write(conn: AsyncConnection, area: str, values: dict[str, Any], by: str, now: float) -> int:
    """Store (or replace) some keys of one area; returns the new settings version."""
    version = await _bump(conn, now)
    if values:
        await conn.execute(delete(settings).where(settings.c.area == area, settings.c.key.in_(list(values))))
        await conn.execute(insert(settings), [
            {"area": area, "key": key, "value": value, "updated_at": now, "updated_by": by[:64]}
            for key, value in values.items()])
    return version


async def clear(conn: AsyncConnection, area: str, keys: list[str] | None, by: str, now: float) -> int:
    """Drop stored keys of an area (all of them when ``keys`` is None): the file's values apply again."""
    version = await _bump(conn, now)
    query = delete(settings).where(settings.c.area == area)
    if keys is not None:
        query = query.where(settings.c.key.in_(keys))
    await conn.execute(query)
    return version
