"""The durable event log: one row per server event, its id given in commit order (the feed reads a prefix)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.enums import EventId, ExtendedStatus, ServerEvents
from gateway.storage.schema import events

NOTIFY_CHANNEL = "faxgate_events"
"""PostgreSQL LISTEN/NOTIFY channel that wakes every node's feed when events commit."""
_PG_EVENTS_LOCK = 0x6661786576747321  # "faxevts!" – held from the insert to the commit, so ids commit in order
NO_JOB = 0xFFFFFFFF
"""FAX_EVENT.JobId of an event about no job."""

FEI_OF_RESULT = {
    ExtendedStatus.BUSY: EventId.BUSY,
    ExtendedStatus.NO_ANSWER: EventId.NO_ANSWER,
    ExtendedStatus.BAD_ADDRESS: EventId.BAD_ADDRESS,
    ExtendedStatus.NO_DIAL_TONE: EventId.NO_DIAL_TONE,
    ExtendedStatus.DISCONNECTED: EventId.DISCONNECTED,
    ExtendedStatus.FATAL_ERROR: EventId.FATAL_ERROR,
    ExtendedStatus.NOT_FAX_CALL: EventId.NOT_FAX_CALL,
    ExtendedStatus.CALL_DELAYED: EventId.CALL_DELAYED,
    ExtendedStatus.CALL_BLACKLISTED: EventId.CALL_BLACKLISTED,
    ExtendedStatus.LINE_UNAVAILABLE: EventId.LINE_UNAVAILABLE,
    ExtendedStatus.CALL_ABORTED: EventId.ABORTING,
}
"""The FEI_ event of a call that ended in failure (sent or received), by its extended status."""

_INSERT = insert(events).returning(events.c.id)
"""Built once: the event insert runs in nearly every transaction."""

Committed = Callable[[int, dict[str, Any]], None]
"""Told an event's stored id and row once its transaction committed (never after a rollback)."""


@dataclass
class Outbox:
    """The events one transaction recorded: stored as its last statements, announced after its commit."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    callbacks: list[Committed | None] = field(default_factory=list)


_OUTBOXES: WeakKeyDictionary[AsyncConnection, Outbox] = WeakKeyDictionary()


def fei_payload(fei: EventId, *, job_id: int = NO_JOB, device_id: int = 0, **extra: Any) -> dict[str, Any]:
    """A legacy FAX_EVENT as the payload of a "fei" event: FEI_ name and id, time stamp, device id, job id."""
    return {"fei": f"FEI_{fei.name}", "fei_id": int(fei), "timestamp": time.time(), "device_id": device_id,
            "job_id": job_id, **extra}


def open_outbox(conn: AsyncConnection) -> Outbox:
    """Start collecting the events of the transaction on ``conn`` (Database.transaction does this)."""
    outbox = _OUTBOXES[conn] = Outbox()
    return outbox


def close_outbox(conn: AsyncConnection) -> None:
    """The transaction on ``conn`` ended (committed or not)."""
    _OUTBOXES.pop(conn, None)


def record(conn: AsyncConnection, topic: ServerEvents, kind: str, payload: dict[str, Any],
           committed: Committed | None = None) -> None:
    """Add an event to the transaction of the state change it reports (``conn`` from Database.transaction())."""
    outbox = _OUTBOXES.get(conn)
    if outbox is None:
        raise RuntimeError("events are recorded only inside Database.transaction(), which stores them at commit")
    job_id = payload.get("job_id")
    device = payload.get("device")
    outbox.rows.append({"at": time.time(), "topic": int(topic), "kind": kind, "payload": payload,
                        "job_id": job_id if isinstance(job_id, int) and 0 < job_id < NO_JOB else None,
                        "device_name": str(device)[:64] if device else None})
    outbox.callbacks.append(committed)


async def append(conn: AsyncConnection, rows: Sequence[dict[str, Any]], node_id: str) -> list[int]:
    """Insert events as the last statements of a transaction; their ids, in order.

    On PostgreSQL a transaction advisory lock is taken first and held to the commit: an id is drawn only after
    every smaller one committed (or rolled back), so a reader that saw id N has seen every committed id below N.
    SQLite has one writer, which gives the same order by itself.
    """
    if not rows:
        return []
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_EVENTS_LOCK})")
    ids = []
    for row in rows:
        result = await conn.execute(_INSERT, {**row, "node_id": node_id})
        ids.append(int(result.scalar_one()))
    if postgres:
        await conn.exec_driver_sql(f"SELECT pg_notify('{NOTIFY_CHANNEL}', '{ids[-1]}')")
    return ids


async def after(conn: AsyncConnection, after_id: int, mask: int | None = None, limit: int = 500) -> list[Any]:
    """Stored events with an id above ``after_id`` (of the topics in ``mask``), oldest first."""
    query = select(events).where(events.c.id > after_id).order_by(events.c.id).limit(limit)
    if mask is not None:
        query = query.where(events.c.topic.op("&")(int(mask)) != 0)
    return list((await conn.execute(query)).all())


async def latest_id(conn: AsyncConnection, mask: int | None = None) -> int:
    """The newest stored event id (of the topics in ``mask``); 0 when there is none."""
    query = select(func.max(events.c.id))
    if mask is not None:
        query = query.where(events.c.topic.op("&")(int(mask)) != 0)
    return int((await conn.execute(query)).scalar() or 0)


async def prune(conn: AsyncConnection, before: float) -> int:
    """Delete events older than ``before`` (retention); the newest event always stays, so ids never restart."""
    newest = select(func.max(events.c.id)).scalar_subquery()
    result = await conn.execute(delete(events).where(events.c.at < before, events.c.id < newest))
    return int(result.rowcount or 0)
