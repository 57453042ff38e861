"""The activity counters every node last announced (OnServerActivityChange), kept in ``server_state``.

A node that saw a job or device change recounts and records ACTIVITY only if its counts differ from the stored
snapshot, swapping it in the same statement; nodes recount one at a time (a lock taken before counting), so two
nodes that see the same change announce it once, and the last one to count has seen every earlier commit.
"""

from __future__ import annotations

from sqlalchemy import Text, cast
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.storage.schema import server_state

KEY = "events.activity"
_PG_ACTIVITY_LOCK = 0x6661786163747621  # "faxactv!" – one recount at a time across the nodes of a store


async def lock(conn: AsyncConnection) -> None:
    """Wait for any other node's recount to commit (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises)."""
    if conn.dialect.name == "postgresql":
        await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_ACTIVITY_LOCK})")


async def swap(conn: AsyncConnection, counts: dict[str, int], now: float) -> bool:
    """Store ``counts`` as the announced snapshot if they differ from it (one statement); True when they did."""
    value = dict(sorted(counts.items()))  # one spelling of equal counts: the comparison is on the stored text
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    row = insert(server_state).values(key=KEY, value=value, updated_at=now)
    changed = row.on_conflict_do_update(
        index_elements=[server_state.c.key],
        set_={"value": row.excluded.value, "updated_at": row.excluded.updated_at},
        where=cast(server_state.c.value, Text) != cast(row.excluded.value, Text),
    ).returning(server_state.c.key)
    return (await conn.execute(changed)).first() is not None
