"""Server-level events: the service's first and last events, ACTIVITY when the counters change, QUEUE_STATE."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.config import parse_config
from gateway.enums import JobStatus, ServerEvents
from gateway.events import EventBus, ServerEvent, Subscription
from gateway.eventsources import ActivityWatch, count_activity, recount
from gateway.queue import controls
from gateway.server import FaxServer
from gateway.storage import Database, transitions
from gateway.storage.schema import events as events_table
from gateway.storage.submissions import create_submission
from tests.events.conftest import OpenNode, database
from tests.support.net import free_port

EVERY = ServerEvents(sum(int(flag) for flag in ServerEvents))


def _drain(subscription: Subscription) -> list[ServerEvent]:
    found = []
    while not subscription.queue.empty():
        found.append(subscription.queue.get_nowait())
    return found


def _name(event: ServerEvent) -> str:
    return str(event.payload["fei"]) if event.kind == "fei" else event.kind


async def test_the_server_says_started_first_and_ended_last(tmp_path: Path) -> None:
    config = parse_config({
        "server": {"data_dir": str(tmp_path / "data"), "shutdown_grace": "0s"},
        "smtp": {"listen": f"127.0.0.1:{free_port()}"}, "http": {"listen": f"127.0.0.1:{free_port()}"},
        "outbox": {"paused": True},
        "devices": [{"name": "gone", "provider": "class1", "port": str(tmp_path / "unplugged-tty")}],
    })
    server = FaxServer(config)
    everything = server.events.subscribe(EVERY)
    await server.start()
    started = server.events.subscribe(EVERY, after_id=0)  # a client connecting later replays the start
    first = [await started.get(timeout=30) for _ in range(2)]
    await server.stop()
    names = [_name(event) for event in _drain(everything)]
    assert [_name(event) for event in first] == ["FEI_FAXSVC_STARTED", "queue.state"]
    assert first[1].payload == {"outgoing_blocked": False, "outgoing_paused": True, "incoming_blocked": False}
    assert names[:2] == ["FEI_FAXSVC_STARTED", "queue.state"]  # before the line's first status
    assert "FEI_MODEM_POWERED_OFF" in names and "device.status" in names  # its port is missing: retrying
    assert names[-2:] == ["server.stopped", "FEI_FAXSVC_ENDED"]  # nothing after the service's end


async def test_activity_is_announced_when_the_counters_change(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'faxgate.db'}")
    await db.migrate()
    bus = EventBus()
    await bus.start(db, "n1")
    watch = ActivityWatch(db, bus)
    watch.start()
    activity = bus.subscribe(ServerEvents.ACTIVITY)
    try:
        async with db.transaction() as conn:
            submission = await create_submission(conn, source="test", principal="alice", envelope_from="",
                                                 recipients=[], raw=b"", subject="")
            await transitions.queue(conn, submission_id=submission, recipient_number="5550100",
                                    status=int(JobStatus.PENDING), priority=1, next_attempt_at=0.0,
                                    submitted_at=0.0, updated_at=0.0, pages=1)
        event = await activity.get(timeout=30)
        assert event.payload == {"incoming_messages": 0, "routing_messages": 0, "outgoing_messages": 0,
                                 "queued_messages": 1}
    finally:
        await watch.stop()
        await bus.stop()
        await db.close()


async def test_every_pause_and_block_is_a_queue_state_event(tmp_path: Path) -> None:
    config = parse_config({"server": {"data_dir": str(tmp_path)}})
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'faxgate.db'}")
    await db.migrate()
    bus = EventBus()
    await bus.start(db, "n1")
    changes = bus.subscribe(ServerEvents.QUEUE_STATE | ServerEvents.CONFIG)
    try:
        for switch in ({"paused": True}, {"blocked": True}, {"paused": False}, {"blocked": False}):
            async with db.transaction() as conn:
                await controls.set_switches(conn, 0.0, config, **switch)
        got = [await changes.get(timeout=30) for _ in range(8)]
    finally:
        await bus.stop()
        await db.close()
    states = [(e.payload["outgoing_paused"], e.payload["outgoing_blocked"]) for e in got if e.kind == "queue.state"]
    assert states == [(True, False), (True, True), (False, True), (False, False)]
    assert {e.payload["area"] for e in got if e.kind == "config.changed"} == {"outgoing_queue"}


async def _queue_job(db: Database) -> int:
    async with db.transaction() as conn:
        submission = await create_submission(conn, source="test", principal="alice", envelope_from="",
                                             recipients=[], raw=b"", subject="")
        job = await transitions.queue(conn, submission_id=submission, recipient_number="5550100",
                                      status=int(JobStatus.PENDING), priority=1, next_attempt_at=0.0,
                                      submitted_at=0.0, updated_at=0.0, pages=1)
    return job.id


async def _stored_activity(db: Database) -> list[dict[str, int]]:
    async with db.transaction() as conn:
        rows = await conn.execute(select(events_table.c.payload).where(
            events_table.c.topic == int(ServerEvents.ACTIVITY)).order_by(events_table.c.id))
        return [dict(row.payload) for row in rows]


async def test_two_nodes_recounting_the_same_change_at_once_announce_it_once(open_node: OpenNode) -> None:
    (db_a, bus_a), (db_b, bus_b) = await open_node("a"), await open_node("b")
    for round_ in range(1, 6):
        await _queue_job(db_a)
        outcomes = await asyncio.gather(recount(db_a, bus_a), recount(db_b, bus_b))
        assert sum(outcome is not None for outcome in outcomes) == 1, outcomes  # one node announces, one sees it
        assert await asyncio.gather(recount(db_a, bus_a), recount(db_b, bus_b)) == [None, None]  # no change
        stored = await _stored_activity(db_a)
        assert len(stored) == round_ and stored[-1]["queued_messages"] == round_
    async with db_b.transaction() as conn:
        assert stored[-1] == await count_activity(conn)


@pytest.mark.postgres
async def test_activity_watches_on_two_postgresql_nodes_announce_each_change_once(pg_database: str) -> None:
    nodes: list[tuple[Database, EventBus, ActivityWatch]] = []
    try:
        for name in ("a", "b"):
            db = database(pg_database)
            await db.migrate()
            bus = EventBus()
            await bus.start(db, name, poll_s=3600)  # woken by NOTIFY: both see each change at once
            watch = ActivityWatch(db, bus)
            watch.start()
            nodes.append((db, bus, watch))
        (db_a, _, _), (_, bus_b, _) = nodes
        heard = bus_b.subscribe(ServerEvents.ACTIVITY)
        for expected in (1, 2, 3):
            looked = [watch.recounts for _, _, watch in nodes]
            await _queue_job(db_a)
            event = await heard.get(timeout=30)
            assert event.payload["queued_messages"] == expected

            async def both_looked(looked: list[int] = looked) -> None:
                """Both nodes recounted this change (and announced it at most once)."""
                while any(watch.recounts == before for (_, _, watch), before in zip(nodes, looked, strict=True)):
                    await asyncio.sleep(0.05)

            await asyncio.wait_for(both_looked(), 30)
        for _, _, watch in nodes:
            await watch.stop()  # lets a recount in flight finish
        await bus_b.flush()
        assert heard.queue.empty()
        stored = await _stored_activity(db_a)
        assert [payload["queued_messages"] for payload in stored] == [1, 2, 3]
        async with db_a.transaction() as conn:
            total = (await conn.execute(select(func.count()).select_from(events_table).where(
                events_table.c.topic == int(ServerEvents.ACTIVITY)))).scalar_one()
        assert total == 3
    finally:
        for db, bus, watch in reversed(nodes):
            await watch.stop()
            await bus.stop()
            await db.close()
