"""The durable event bus on both engines: ids given at commit, nothing for a rollback, replay exactly once."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from gateway.enums import ServerEvents
from gateway.events import EventBus, ServerEvent, Subscription
from gateway.storage import Database
from gateway.storage import events as event_log
from gateway.storage.schema import events as events_table
from tests.events.conftest import database

Node = tuple[Database, EventBus]


async def _record(db: Database, bus: EventBus, *numbers: int, topic: ServerEvents = ServerEvents.OUT_QUEUE) -> None:
    async with db.transaction() as conn:
        for number in numbers:
            await bus.record(conn, topic, "job.changed", job_id=number)


async def _take(subscription: Subscription, count: int) -> list[ServerEvent]:
    return [await subscription.get(timeout=30) for _ in range(count)]


async def _stored(db: Database) -> int:
    async with db.transaction() as conn:
        return int((await conn.execute(select(func.count()).select_from(events_table))).scalar_one())


async def test_an_event_is_delivered_once_its_transaction_commits_with_its_store_id(node: Node) -> None:
    db, bus = node
    subscription = bus.subscribe(ServerEvents.OUT_QUEUE)
    async with db.transaction() as conn:
        await bus.record(conn, ServerEvents.OUT_QUEUE, "job.changed", job_id=7)
        assert subscription.queue.empty()  # not before the commit
    event = await subscription.get(timeout=30)
    assert (event.kind, event.payload, event.node) == ("job.changed", {"job_id": 7}, "n1")
    assert event.id == await bus.latest_id() > 0


async def test_a_rolled_back_change_stores_and_delivers_no_event(node: Node) -> None:
    db, bus = node
    subscription = bus.subscribe(ServerEvents.OUT_QUEUE)
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await bus.record(conn, ServerEvents.OUT_QUEUE, "job.changed", job_id=1)
            raise RuntimeError("the change failed")
    await _record(db, bus, 2)
    event = await subscription.get(timeout=30)
    assert event.payload == {"job_id": 2}  # the next event is the committed one; the rolled back one never came
    assert await _stored(db) == 1


async def test_recording_outside_a_store_transaction_is_refused(node: Node) -> None:
    db, bus = node
    async with db.engine.begin() as conn:
        with pytest.raises(RuntimeError, match=r"Database\.transaction"):
            await bus.record(conn, ServerEvents.OUT_QUEUE, "job.changed", job_id=1)


async def test_the_mask_picks_topics(node: Node) -> None:
    db, bus = node
    devices = bus.subscribe(ServerEvents.DEVICE_STATUS)
    await _record(db, bus, 1, topic=ServerEvents.OUT_QUEUE)
    await _record(db, bus, 2, topic=ServerEvents.DEVICE_STATUS)
    assert (await devices.get(timeout=30)).payload == {"job_id": 2}
    assert devices.queue.empty()


async def test_replay_from_an_id_gives_every_later_event_once_in_order_then_live_ones(node: Node) -> None:
    db, bus = node
    await _record(db, bus, 1, 2, 3)
    first = await bus.latest_id() - 2
    await _record(db, bus, 4)
    await _record(db, bus, 5, topic=ServerEvents.DEVICE_STATUS)  # another topic: not replayed
    subscription = bus.subscribe(ServerEvents.OUT_QUEUE, after_id=first)
    replayed = await _take(subscription, 3)
    await _record(db, bus, 6, 7)
    live = await _take(subscription, 2)
    got = replayed + live
    assert [event.payload["job_id"] for event in got] == [2, 3, 4, 6, 7]
    assert [event.id for event in got] == sorted({event.id for event in got})
    await _record(db, bus, 8)
    assert (await subscription.get(timeout=30)).payload["job_id"] == 8  # no repeat of 6 or 7 in between


async def test_events_committed_while_replaying_come_once_and_in_order(node: Node) -> None:
    db, bus = node
    await _record(db, bus, *range(1, 1201))  # more than one page of the store
    subscription = bus.subscribe(ServerEvents.OUT_QUEUE, after_id=0)

    async def keep_writing() -> None:
        for number in range(1201, 1301):
            await _record(db, bus, number)

    writer = asyncio.create_task(keep_writing())
    got = await _take(subscription, 1300)
    await writer
    assert [event.payload["job_id"] for event in got] == list(range(1, 1301))
    await _record(db, bus, 1301)
    assert (await subscription.get(timeout=30)).payload["job_id"] == 1301


async def test_a_slow_subscriber_reads_what_overflowed_its_queue_back_from_the_store(store_url: str) -> None:
    db = database(store_url)
    await db.migrate()
    bus = EventBus(queue_size=10)
    await bus.start(db, "n1")
    try:
        subscription = bus.subscribe(ServerEvents.OUT_QUEUE)
        for number in range(1, 51):  # nobody reads meanwhile: the queue overflows
            await _record(db, bus, number)
        got = await _take(subscription, 50)
        assert [event.payload["job_id"] for event in got] == list(range(1, 51))
    finally:
        await bus.stop()
        await db.close()


async def test_a_change_committed_while_nobody_listened_is_delivered_by_replay(store_url: str) -> None:
    """A client remembers its last id, the server goes away; a change commits; the next server replays it."""
    first_db = database(store_url)
    await first_db.migrate()
    first = EventBus()
    await first.start(first_db, "n1")
    await _record(first_db, first, 1)
    seen = await first.latest_id()
    await first.stop()
    await first_db.close()

    writer_db = database(store_url)  # e.g. the command line, with no feed and no subscriber
    async with writer_db.transaction() as conn:
        event_log.record(conn, ServerEvents.OUT_QUEUE, "job.changed", {"job_id": 2})
    await writer_db.close()

    later_db = database(store_url)
    later = EventBus()
    await later.start(later_db, "n1")
    try:
        subscription = later.subscribe(ServerEvents.OUT_QUEUE, after_id=seen)
        event = await subscription.get(timeout=30)
        assert event.payload == {"job_id": 2} and event.id > seen
    finally:
        await later.stop()
        await later_db.close()


async def test_published_events_are_stored_in_order_and_delivered(node: Node) -> None:
    db, bus = node
    subscription = bus.subscribe(ServerEvents.QUEUE_STATE)
    for number in range(5):
        bus.publish(ServerEvents.QUEUE_STATE, "queue.state", n=number)
    await bus.flush()
    got = await _take(subscription, 5)
    assert [event.payload["n"] for event in got] == list(range(5)) and all(event.id for event in got)
    assert await _stored(db) == 5


async def test_retention_deletes_old_events_but_keeps_the_newest_so_ids_never_restart(node: Node) -> None:
    db, bus = node
    await _record(db, bus, 1, 2, 3)
    newest = await bus.latest_id()
    assert await bus.prune(retention_s=1e-9) == 2  # every event is older than that, but the newest stays
    assert await _stored(db) == 1 and await bus.latest_id() == newest
    await _record(db, bus, 4)
    assert await bus.latest_id() == newest + 1


@pytest.mark.postgres
async def test_two_nodes_each_see_the_others_events_in_one_order(pg_database: str) -> None:
    """Two nodes on one PostgreSQL store (SQLite is one node) write at once; both feeds hand out one sequence."""
    db_a, db_b = database(pg_database), database(pg_database)
    await db_a.migrate()
    bus_a, bus_b = EventBus(), EventBus()
    # A poll an hour apart: only NOTIFY can wake a feed within the test's waits.
    await bus_a.start(db_a, "a", poll_s=3600)
    await bus_b.start(db_b, "b", poll_s=3600)
    on_a = bus_a.subscribe(ServerEvents.OUT_QUEUE)
    on_b = bus_b.subscribe(ServerEvents.OUT_QUEUE)

    async def write(db: Database, bus: EventBus, base: int) -> None:
        for number in range(base, base + 100):
            await _record(db, bus, number)

    await asyncio.gather(write(db_a, bus_a, 0), write(db_b, bus_b, 1000))
    seen_a, seen_b = await _take(on_a, 200), await _take(on_b, 200)
    assert [event.id for event in seen_a] == [event.id for event in seen_b]
    ids = [event.id for event in seen_a]
    assert ids == sorted(set(ids))
    for node, base in (("a", 0), ("b", 1000)):  # each node's own events keep their commit order
        assert [e.payload["job_id"] for e in seen_b if e.node == node] == list(range(base, base + 100))
    for bus, db in ((bus_a, db_a), (bus_b, db_b)):
        await bus.stop()
        await db.close()


async def test_an_event_published_from_a_worker_thread_is_stored_and_delivered(node: Node) -> None:
    _db, bus = node
    subscription = bus.subscribe(ServerEvents.IN_ARCHIVE)
    await asyncio.to_thread(bus.publish, ServerEvents.IN_ARCHIVE, "message.removed", message_id="7")
    event = await subscription.get(timeout=30)
    assert event.payload == {"message_id": "7"} and event.id > 0
