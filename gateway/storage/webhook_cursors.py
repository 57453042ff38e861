"""Where each event webhook stands in the event log, and which node delivers it (a lease), in ``server_state``.

The cursor is the id of the last event its receiver acknowledged; it moves only after a 2xx, so a crash or a
restart delivers from the next event on (at least once). The lease keeps two nodes from posting the same
subscription at once; a node that stops renewing it (killed) is replaced once it expires.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.storage.schema import server_state

PREFIX = "events.webhook:"


@dataclass(frozen=True)
class Cursor:
    """A subscription's place: the last acknowledged event id, the node delivering it and until when."""

    after: int
    node: str
    until: float


def _key(name: str) -> str:
    return (PREFIX + name)[:64]


async def _read(conn: AsyncConnection, name: str, lock: bool) -> Cursor | None:
    query = select(server_state.c.value).where(server_state.c.key == _key(name))
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    value = row.value
    return Cursor(int(value["after"]), str(value.get("node", "")), float(value.get("until", 0.0)))


async def read_cursor(conn: AsyncConnection, name: str) -> Cursor | None:
    """The stored place of one subscription, if it ever had one."""
    return await _read(conn, name, lock=False)


async def claim(conn: AsyncConnection, name: str, node: str, now: float, ttl: float, start: int) -> int | None:
    """Take or renew the lease; the event id to deliver after, or None while another node holds it.

    A subscription seen for the first time starts after ``start`` (the newest event now): it is not sent history.
    """
    found = await _read(conn, name, lock=True)
    value = {"after": start if found is None else found.after, "node": node, "until": now + ttl}
    if found is None:
        try:
            async with conn.begin_nested():
                await conn.execute(insert(server_state).values(key=_key(name), value=value, updated_at=now))
        except IntegrityError:
            return None  # another node made it first
        return start
    if found.node != node and found.until > now:
        return None
    await conn.execute(update(server_state).where(server_state.c.key == _key(name)).values(value=value,
                                                                                          updated_at=now))
    return found.after


async def advance(conn: AsyncConnection, name: str, node: str, event_id: int, now: float, ttl: float) -> bool:
    """Move the cursor past an acknowledged event and renew the lease; False if this node lost the lease."""
    found = await _read(conn, name, lock=True)
    if found is None or (found.node != node and found.until > now):
        return False
    value = {"after": max(event_id, found.after), "node": node, "until": now + ttl}
    await conn.execute(update(server_state).where(server_state.c.key == _key(name)).values(value=value,
                                                                                          updated_at=now))
    return True


async def release(conn: AsyncConnection, name: str, node: str) -> None:
    """Give the lease up at a clean stop, so another node may take over at once."""
    found = await _read(conn, name, lock=True)
    if found is not None and found.node == node:
        value = {"after": found.after, "node": "", "until": 0.0}
        await conn.execute(update(server_state).where(server_state.c.key == _key(name)).values(value=value))
