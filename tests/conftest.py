"""Fixtures every part of the suite shares: free ports, throwaway PostgreSQL databases, store URLs for both engines."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.support.net import free_port

PG_ADMIN_URL = os.environ.get("FAXGATE_TEST_PG", "postgresql://postgres:postgres@127.0.0.1:5432/postgres")


def _pg_url(database: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{database}"


async def _create_database(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_database(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test, as a plain postgresql:// URL; dropped afterwards."""
    name = f"faxgate_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_create_database(name))
    try:
        yield _pg_url(name)
    finally:
        asyncio.run(_drop_database(name))


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The store URL (as written in a config file) on each engine faxgate supports, one test run per engine."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'faxgate.db'}"
        return
    name = f"faxgate_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_create_database(name))
    try:
        yield _pg_url(name)
    finally:
        asyncio.run(_drop_database(name))


@pytest.fixture
async def unused_tcp_port_pair() -> AsyncIterator[tuple[int, int]]:
    """Two free ports (SMTP, HTTP) for a server under test."""
    yield free_port(), free_port()
