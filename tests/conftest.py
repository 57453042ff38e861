"""Fixtures every part of the suite shares: free ports, throwaway PostgreSQL databases, store URLs for both engines."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import pytest

from tests.support.net import free_port

PG_ADMIN_URL = os.environ.get("FAXGATE_TEST_PG", "postgresql://postgres:postgres@127.0.0.1:5432/postgres")


def _pg_url(database: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{database}"


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextmanager
def throwaway_pg_database() -> Iterator[str]:
    """A new, empty PostgreSQL database as a plain postgresql:// URL, dropped on exit."""
    name = f"faxgate_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield _pg_url(name)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test; dropped afterwards."""
    with throwaway_pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The store URL (as written in a config file) on each engine faxgate supports, one test run per engine."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'faxgate.db'}"
        return
    with throwaway_pg_database() as url:
        yield url


@pytest.fixture
async def unused_tcp_port_pair() -> AsyncIterator[tuple[int, int]]:
    """Two free ports (SMTP, HTTP) for a server under test."""
    yield free_port(), free_port()
