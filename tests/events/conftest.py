"""Stores for the event tests: migrated, on SQLite and PostgreSQL, with a bus running its feed on them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import pytest

from gateway.config import parse_config
from gateway.events import EventBus
from gateway.storage import Database

OpenNode = Callable[[str], Awaitable[tuple[Database, EventBus]]]


def database(store_url: str) -> Database:
    """The store behind a config's ``[storage] url``."""
    return Database(parse_config({"storage": {"url": store_url}}).database_url)


@pytest.fixture
async def open_node(store_url: str) -> AsyncIterator[OpenNode]:
    """Open a "node" on the test's store: its own Database and a bus with its feed; closed at the end."""
    async with AsyncExitStack() as stack:
        async def opener(node: str) -> tuple[Database, EventBus]:
            db = database(store_url)
            await db.migrate()
            bus = EventBus()
            await bus.start(db, node)
            stack.push_async_callback(db.close)
            stack.push_async_callback(bus.stop)
            return db, bus
        yield opener


@pytest.fixture
async def node(open_node: OpenNode) -> tuple[Database, EventBus]:
    """One node on the test's store."""
    return await open_node("n1")


@pytest.fixture
async def db(store_url: str) -> AsyncIterator[Database]:
    """A migrated store on the test's engine."""
    store = database(store_url)
    await store.migrate()
    yield store
    await store.close()
