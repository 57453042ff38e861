"""Rate limits per sender counted from the store, with real SMTP sessions: shared by nodes, kept over restarts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from gateway.config import FaxgateConfig, parse_config
from gateway.intake.rates import MAX_KEY_CHARS, RateLimiter
from gateway.storage import Database
from gateway.storage.rates import faxes_since
from gateway.storage.schema import submissions
from gateway.storage.submissions import create_submission
from tests.intake.conftest import Gateway, simple_mail, start_listener, transaction
from tests.support.net import free_port

TOO_MANY = (450, "4.7.1 You have sent too many faxes for now; please try again later")
NETWORK = "network 127.0.0.0/8"
"""The trusted network's principal; its rate keys are this plus the client's address (never the MAIL FROM)."""
X, Y = "127.0.0.1", "127.0.0.2"
"""Two clients on the trusted network."""


def node_config(data_dir: Path, store_url: str = "", **smtp: Any) -> FaxgateConfig:
    """One node: its own SMTP port, the given store (SQLite in data_dir when empty), local mail trusted."""
    return parse_config({
        "server": {"data_dir": str(data_dir)},
        "storage": {"url": store_url},
        "smtp": {"listen": f"127.0.0.1:{free_port()}", **smtp},
        "security": {"trusted_networks": [{"network": "127.0.0.0/8"}]},
    })


class ShiftedClock:
    """Wall-clock time moved forward on demand, as submissions.created_at sees it."""

    def __init__(self) -> None:
        self.shift = 0.0

    def __call__(self) -> float:
        return time.time() + self.shift


async def send(gateway: Gateway, client: str, numbers: list[str], sender: str = "x@example.com",
               **mail: Any) -> tuple[int, str]:
    """One mail from `client` to NUMBER@fax.localhost addresses; the first refusal at RCPT, else DATA's reply."""
    recipients = [number if "@" in number else f"{number}@fax.localhost" for number in numbers]
    reply = await transaction(gateway.port, sender, recipients, simple_mail(to=", ".join(recipients), **mail),
                              source=client)
    refused = [answer for answer in reply.rcpt if answer[0] != 250]
    if refused:
        return refused[0]
    assert reply.data is not None
    return reply.data


async def stored_faxes(db: Database, client: str) -> int:
    """The faxes the store counts for a trusted-network client within the last hour."""
    async with db.transaction() as conn:
        return await faxes_since(conn, f"{NETWORK} {client}", time.time() - 3600)


@pytest.mark.postgres
async def test_two_nodes_on_one_postgresql_store_share_the_limit(tmp_path: Path, pg_database: str) -> None:
    node_a = await start_listener(node_config(tmp_path / "a", pg_database, rate_limit=3))
    node_b = await start_listener(node_config(tmp_path / "b", pg_database, rate_limit=3))
    clock = ShiftedClock()
    node_a.listener.handler.rates.clock = clock
    try:
        assert (await send(node_a, X, ["5551201"]))[0] == 250
        assert (await send(node_a, X, ["5551202"]))[0] == 250
        assert (await send(node_b, X, ["5551203"]))[0] == 250
        assert await send(node_b, X, ["5551204"]) == TOO_MANY
        assert (await send(node_b, Y, ["5551204"]))[0] == 250
        clock.shift = 2.0  # past node A's cache: it reads the store and sees node B's fax too
        assert await send(node_a, X, ["5551204"]) == TOO_MANY
        assert await stored_faxes(node_a.db, X) == 3
    finally:
        await node_a.stop()
        await node_b.stop()


async def test_a_restart_still_refuses_the_sender_who_used_the_limit(tmp_path: Path) -> None:
    before = await start_listener(node_config(tmp_path / "data", rate_limit=2))
    try:
        assert (await send(before, X, ["5551201", "5551202"]))[0] == 250
    finally:
        await before.stop()
    after = await start_listener(node_config(tmp_path / "data", rate_limit=2))
    try:
        assert await send(after, X, ["5551203"]) == TOO_MANY
        assert (await send(after, Y, ["5551203"]))[0] == 250
        assert len(await after.submissions()) == 2
    finally:
        await after.stop()


async def _age(db: Database, submission_id: str, seconds: float) -> None:
    """Make a stored submission `seconds` older, as if it had been accepted that long ago."""
    async with db.transaction() as conn:
        await conn.execute(update(submissions).where(submissions.c.id == submission_id)
                           .values(created_at=submissions.c.created_at - seconds))


async def test_faxes_older_than_the_window_stop_counting(tmp_path: Path, store_url: str) -> None:
    gateway = await start_listener(node_config(tmp_path / "data", store_url, rate_limit=2, rate_window="1h"))
    clock = ShiftedClock()
    gateway.listener.handler.rates.clock = clock
    try:
        first = await send(gateway, X, ["5551201"])
        assert first[0] == 250
        await _age(gateway.db, first[1].rsplit(" ", 1)[-1], 50 * 60)
        clock.shift = 2.0  # past the cache, so the next check reads the aged row from the store
        assert (await send(gateway, X, ["5551202"]))[0] == 250
        assert await send(gateway, X, ["5551203"]) == TOO_MANY
        clock.shift += 11 * 60  # the first fax is now 61 minutes old, the second 11
        assert (await send(gateway, X, ["5551203"]))[0] == 250
        assert await send(gateway, X, ["5551204"]) == TOO_MANY
    finally:
        await gateway.stop()


async def test_a_broadcast_to_three_numbers_counts_three(tmp_path: Path) -> None:
    config = node_config(tmp_path / "data", rate_limit=3, subject_address="fax@fax.localhost")
    gateway = await start_listener(config)
    try:
        assert (await send(gateway, X, ["5551201", "5551202", "5551203"]))[0] == 250
        assert await send(gateway, X, ["5551204"]) == TOO_MANY
        assert await stored_faxes(gateway.db, X) == 3
        assert (await send(gateway, Y, ["5551201"]))[0] == 250
        three = await send(gateway, Y, ["fax@fax.localhost"], subject="5551202, 5551203, 5551204: Hi")
        assert three == TOO_MANY  # one RCPT, but three numbers once DATA reads the Subject
        assert await stored_faxes(gateway.db, Y) == 1
        assert (await send(gateway, Y, ["fax@fax.localhost"], subject="5551202, 5551203: Hi"))[0] == 250
        assert await stored_faxes(gateway.db, Y) == 3
    finally:
        await gateway.stop()


async def test_with_no_limit_nothing_is_queried_or_stored(tmp_path: Path) -> None:
    unreachable = Database("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    try:
        assert await RateLimiter(unreachable, 0, 3600).allows("anyone", 10**6)
        assert RateLimiter(unreachable, 0, 3600).stored_fields("anyone", 1) == {}
        with pytest.raises(OSError):  # the same store with a limit is asked, and cannot answer
            await RateLimiter(unreachable, 1, 3600).allows("anyone")
    finally:
        await unreachable.close()
    gateway = await start_listener(node_config(tmp_path / "data"))
    try:
        assert (await send(gateway, X, ["5551201", "5551202"]))[0] == 250
        async with gateway.db.transaction() as conn:
            rows = (await conn.execute(select(submissions.c.rate_key, submissions.c.fax_count))).all()
        assert [tuple(row) for row in rows] == [(None, None)]
    finally:
        await gateway.stop()


def long_key(name: str) -> str:
    """A rate key longer than submissions.rate_key can hold."""
    return f"{NETWORK} {name * 300}@example.com"


async def test_a_sender_key_too_long_for_the_column_is_counted_by_its_hash(tmp_path: Path) -> None:
    db = Database(node_config(tmp_path / "data").database_url)
    await db.migrate()
    try:
        fields = RateLimiter(db, 1, 3600).stored_fields(long_key("a"), 1)
        assert len(fields["rate_key"]) <= MAX_KEY_CHARS
        async with db.transaction() as conn:
            await create_submission(conn, source="smtp", principal=NETWORK, envelope_from="a@example.com",
                                    recipients=[{"number": "+15551201"}], raw=b"Subject: x\r\n\r\nx\r\n", **fields)
        fresh = RateLimiter(db, 1, 3600)
        assert not await fresh.allows(long_key("a"))
        assert await fresh.allows(long_key("b"))
    finally:
        await db.close()
