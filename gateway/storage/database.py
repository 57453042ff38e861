"""Opening the store: SQLite (WAL, synchronous=FULL) by default, PostgreSQL for several nodes; migrations at start."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, event, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from gateway.storage import events as event_log
from gateway.storage.schema import blobs

_MIGRATIONS = Path(__file__).parent / "migrations"
_PG_MIGRATION_LOCK = 0x6661786761746521  # "faxgate!" – one node migrates at a time



class Database:
    """One async engine and the few rules every query shares (durable commits, one writer on SQLite)."""

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = url
        self.node_id = ""
        """Stamped on the events this process stores (set by the server)."""
        self.event_listeners: list[event_log.Committed] = []
        """Told of every event committed through this store object (the node's event feed)."""
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = url.split(":///", 1)[1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            # One connection: SQLite has one writer anyway, and a single connection never deadlocks itself.
            self.engine: AsyncEngine = create_async_engine(
                url, pool_size=1, max_overflow=0, pool_timeout=60, connect_args={"timeout": 30}
            )
            _configure_sqlite(self.engine)
        else:
            self.engine = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)

    async def migrate(self) -> None:
        """Bring the schema to the newest revision; on PostgreSQL, nodes take turns through an advisory lock."""
        async with self.engine.begin() as conn:
            if not self.is_sqlite:
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
            await conn.run_sync(_upgrade)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that is durable on disk once the block exits without an exception.

        Events recorded in it (``EventBus.record``) are stored as its last statements and announced after commit.
        """
        async with self.engine.begin() as conn:
            outbox = event_log.open_outbox(conn)
            try:
                yield conn
                ids = await event_log.append(conn, outbox.rows, self.node_id)
            finally:
                event_log.close_outbox(conn)
        for event_id, row, callback in zip(ids, outbox.rows, outbox.callbacks, strict=True):
            for listener in self.event_listeners:
                listener(event_id, row)
            if callback is not None and callback not in self.event_listeners:
                callback(event_id, row)

    async def close(self) -> None:
        """Release every connection."""
        await self.engine.dispose()


def _upgrade(connection: Connection) -> None:
    config = AlembicConfig()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _configure_sqlite(engine: AsyncEngine) -> None:
    """WAL with synchronous=FULL makes a commit durable before it returns; BEGIN IMMEDIATE avoids lock upgrades."""
    configure_sqlite_engine(engine.sync_engine)


def configure_sqlite_engine(engine: Engine) -> None:
    """The store's SQLite rules on an engine: the async store's, or a blocking one that writes from a thread."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def new_id() -> str:
    """A random identifier for submissions and blobs."""
    return str(uuid.uuid4())


async def put_blob(conn: AsyncConnection, data: bytes, content_type: str) -> str:
    """Store bytes in the database itself, so every node of a cluster can read them."""
    blob_id = new_id()
    await conn.execute(
        insert(blobs).values(
            id=blob_id,
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            content_type=content_type,
            data=data,
            created_at=time.time(),
        )
    )
    return blob_id


async def get_blob(conn: AsyncConnection, blob_id: str) -> bytes:
    """The bytes of a stored blob; KeyError if there is none."""
    row = (await conn.execute(select(blobs.c.data).where(blobs.c.id == blob_id))).first()
    if row is None:
        raise KeyError(blob_id)
    return bytes(row.data)


async def wait_until_reachable(url: str, attempts: int = 30) -> None:
    """Wait for a database server that is still starting, instead of failing the first start."""
    for attempt in range(attempts):
        db = Database(url)
        try:
            async with db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return
        except OSError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(1)
        finally:
            await db.close()
