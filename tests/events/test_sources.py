"""Server-level events: the service's first and last events, ACTIVITY when the counters change, QUEUE_STATE."""

from __future__ import annotations

from pathlib import Path

from gateway.config import parse_config
from gateway.enums import JobStatus, ServerEvents
from gateway.events import EventBus, ServerEvent, Subscription
from gateway.eventsources import ActivityWatch
from gateway.queue import controls
from gateway.server import FaxServer
from gateway.storage import Database, transitions
from gateway.storage.submissions import create_submission
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
