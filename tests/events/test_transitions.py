"""Named job transitions on both engines: each changes the job and stores its events in one transaction."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.config import parse_config
from gateway.enums import ACTIVE_STATUSES, WAITING_STATUSES, ExtendedStatus, JobStatus, ServerEvents
from gateway.events import EventBus
from gateway.model import OutgoingJob
from gateway.queue.enqueue import JobFactory, JobRequest
from gateway.storage import Database, transitions
from gateway.storage import jobs as store
from gateway.storage.schema import events, outgoing_jobs
from gateway.storage.submissions import create_submission
from gateway.storage.transitions import CallEnd, Failure
from tests.events.conftest import database

NOW = 1_800_000_000.0
Action = Callable[[AsyncConnection, OutgoingJob], Awaitable[Any]]


async def _new_job(db: Database, **columns: Any) -> OutgoingJob:
    async with db.transaction() as conn:
        submission = await create_submission(conn, source="test", principal="alice", envelope_from="",
                                             recipients=[], raw=b"", subject="")
        job = await transitions.queue(
            conn, submission_id=submission, recipient_number="5550100", status=int(JobStatus.PENDING),
            priority=1, next_attempt_at=NOW, submitted_at=NOW, updated_at=NOW, pages=3, route="device:sim0")
        if columns:
            await conn.execute(update(outgoing_jobs).where(outgoing_jobs.c.id == job.id).values(**columns))
        found = await store.get_job(conn, job.id)
    assert found is not None
    return found


async def _events_after(db: Database, after: int) -> list[tuple[int, str, dict[str, Any]]]:
    async with db.transaction() as conn:
        rows = await conn.execute(select(events).where(events.c.id > after).order_by(events.c.id))
        return [(row.topic, row.kind, dict(row.payload)) for row in rows]


def _names(found: list[tuple[int, str, dict[str, Any]]]) -> list[str]:
    return [payload["fei"] if kind == "fei" else kind for _, kind, payload in found]


@dataclass
class Case:
    name: str
    before: dict[str, Any]
    action: Action
    status: JobStatus
    events: list[str]


async def _claim(conn: AsyncConnection, _job: OutgoingJob) -> Any:
    return await transitions.claim(conn, node_id="n1", now=NOW, lease_s=60, routes=["device:sim0"],
                                   max_concurrent=1, batch_limit=0)


_HELD = {"status": int(JobStatus.INPROGRESS), "claimed_by": "n1", "claimed_until": NOW + 60}
_BUSY = Failure(ExtendedStatus.BUSY, "busy", retries=1, dials=1, tries=0, result_counts={"busy": 1})
CASES = [
    Case("claim", {}, _claim, JobStatus.INPROGRESS, ["job.changed"]),
    Case("start call", _HELD, lambda conn, job: transitions.start_call(
        conn, job, node_id="n1", device="sim0", device_id=1, call_id="c1", dialed="5550100", start_page=0,
        pages_total=3, now=NOW), JobStatus.INPROGRESS, ["FEI_HANDLED", "job.changed", "FEI_DIALING"]),
    Case("record page", _HELD, lambda conn, job: transitions.record_page(
        conn, job.id, node_id="n1", sent=1, total=3, now=NOW), JobStatus.INPROGRESS, ["job.changed", "FEI_SENDING"]),
    Case("complete", _HELD, lambda conn, job: transitions.complete(
        conn, job, node_id="n1", now=NOW, call=CallEnd(3, "REMOTE", NOW)), JobStatus.COMPLETED,
        ["job.changed", "FEI_COMPLETED", "job.removed", "FEI_DELETED"]),
    Case("requeue after a failure", _HELD, lambda conn, job: transitions.requeue(
        conn, job, reason="busy", extended_status=ExtendedStatus.BUSY, now=NOW, next_attempt_at=NOW + 300,
        failure=_BUSY, held_by="n1"), JobStatus.RETRYING, ["job.changed", "FEI_BUSY"]),
    Case("requeue a cut call", _HELD, lambda conn, job: transitions.requeue(
        conn, job, reason="the node stopped", extended_status=ExtendedStatus.LINE_UNAVAILABLE, now=NOW,
        next_attempt_at=NOW), JobStatus.PENDING, ["job.changed", "FEI_LINE_UNAVAILABLE"]),
    Case("give up", _HELD, lambda conn, job: transitions.give_up(
        conn, job, reason="busy; gave up", now=NOW, failure=_BUSY, held_by="n1"), JobStatus.RETRIES_EXCEEDED,
        ["job.changed", "FEI_BUSY"]),
    Case("cancel a waiting job", {}, lambda conn, job: transitions.cancel(conn, job, text="canceled by bob", now=NOW),
         JobStatus.CANCELED, ["job.changed", "job.removed", "FEI_DELETED"]),
    Case("cancel a call", _HELD, lambda conn, job: transitions.cancel(conn, job, text="canceled by bob", now=NOW),
         JobStatus.CANCELING, ["job.changed", "FEI_ABORTING"]),
    Case("end a cancel", {**_HELD, "status": int(JobStatus.CANCELING)}, lambda conn, job: transitions.end_cancel(
        conn, job, now=NOW, extended_status=ExtendedStatus.CALL_ABORTED, held_by="n1"), JobStatus.CANCELED,
        ["job.changed", "job.removed", "FEI_DELETED"]),
    Case("pause", {}, lambda conn, job: transitions.pause(conn, job, NOW), JobStatus.PENDING | JobStatus.PAUSED,
         ["job.changed"]),
    Case("resume", {"status": int(JobStatus.RETRYING | JobStatus.PAUSED)},
         lambda conn, job: transitions.resume(conn, job, NOW), JobStatus.RETRYING, ["job.changed"]),
    Case("restart", {"status": int(JobStatus.RETRIES_EXCEEDED), "final_at": NOW},
         lambda conn, job: transitions.restart(conn, job, NOW, None), JobStatus.PENDING,
         ["job.changed", "FEI_JOB_QUEUED"]),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_each_transition_changes_the_job_and_stores_its_events_with_it(db: Database, case: Case) -> None:
    job = await _new_job(db, **case.before)
    async with db.transaction() as conn:
        mark = int((await conn.execute(text("SELECT coalesce(max(id), 0) FROM events"))).scalar_one())
        await case.action(conn, job)
    async with db.transaction() as conn:
        after = await store.get_job(conn, job.id)
    assert after is not None and after.job_status == case.status
    found = await _events_after(db, mark)
    assert _names(found) == case.events
    change = next(payload for _, kind, payload in found if kind == "job.changed")
    assert {row[0] for row in found} == {int(ServerEvents.OUT_QUEUE)}
    assert (change["job_id"], change["status"], change["principal"]) == (job.id, int(case.status), "alice")


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_a_rolled_back_transition_leaves_neither_the_change_nor_its_events(db: Database, case: Case) -> None:
    job = await _new_job(db, **case.before)
    async with db.transaction() as conn:
        mark = int((await conn.execute(text("SELECT coalesce(max(id), 0) FROM events"))).scalar_one())
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await case.action(conn, job)
            raise RuntimeError("something after the transition failed")
    async with db.transaction() as conn:
        after = await store.get_job(conn, job.id)
    assert after == job
    assert await _events_after(db, mark) == []


async def test_the_job_is_handed_to_its_device_before_it_dials(db: Database) -> None:
    job = await _new_job(db, **_HELD)
    async with db.transaction() as conn:
        mark = int((await conn.execute(text("SELECT coalesce(max(id), 0) FROM events"))).scalar_one())
        await transitions.start_call(conn, job, node_id="n1", device="sim0", device_id=4, call_id="c1",
                                     dialed="5550100", start_page=0, pages_total=3, now=NOW)
    handed, _, dialing = [payload for _, _, payload in await _events_after(db, mark)]
    assert (handed["fei"], handed["fei_id"], handed["job_id"], handed["device_id"], handed["device"]) == (
        "FEI_HANDLED", 26, job.id, 4, "sim0")
    assert handed["principal"] == "alice"  # a submitter's stream shows it: it is about the submitter's job
    assert (dialing["fei"], dialing["job_id"], dialing["device_id"]) == ("FEI_DIALING", job.id, 4)


@pytest.mark.parametrize(("refusal", "fei", "fei_id"), [(ExtendedStatus.BAD_ADDRESS, "FEI_BAD_ADDRESS", 7),
                                                        (ExtendedStatus.CALL_BLACKLISTED, "FEI_CALL_BLACKLISTED", 13)])
async def test_a_number_refused_at_queueing_gets_its_fei_event_with_the_job_id(
        db: Database, tmp_path: Path, refusal: ExtendedStatus, fei: str, fei_id: int) -> None:
    async with db.transaction() as conn:
        mark = int((await conn.execute(text("SELECT coalesce(max(id), 0) FROM events"))).scalar_one())
        submission = await create_submission(conn, source="test", principal="alice", envelope_from="",
                                             recipients=[], raw=b"", subject="")
        factory = JobFactory(parse_config({"server": {"data_dir": str(tmp_path)}}), ["sim0"])
        job_id = await factory.create(conn, JobRequest(submission, "0900123", "blob", 1, refused=refusal,
                                                       refusal="not allowed"), NOW)
    found = await _events_after(db, mark)
    assert _names(found) == ["job.added", "FEI_JOB_QUEUED", fei]
    refused = found[-1][2]
    assert (refused["fei_id"], refused["job_id"], refused["principal"]) == (fei_id, job_id, "alice")
    assert found[0][2]["status"] == int(JobStatus.RETRIES_EXCEEDED)


@pytest.mark.parametrize("result", [ExtendedStatus.NO_ANSWER, ExtendedStatus.NO_DIAL_TONE,
                                    ExtendedStatus.DISCONNECTED, ExtendedStatus.FATAL_ERROR,
                                    ExtendedStatus.NOT_FAX_CALL, ExtendedStatus.CALL_DELAYED],
                         ids=lambda result: result.name)
async def test_a_failed_call_gives_the_fei_event_of_its_result_with_the_job_and_device(
        db: Database, result: ExtendedStatus) -> None:
    job = await _new_job(db, **{**_HELD, "device_name": "sim0"})
    failure = Failure(result, result.name.lower(), retries=1, dials=1, tries=0)
    async with db.transaction() as conn:
        mark = int((await conn.execute(text("SELECT coalesce(max(id), 0) FROM events"))).scalar_one())
        await transitions.give_up(conn, job, reason="gave up", now=NOW, failure=failure, held_by="n1", device_id=3)
    found = await _events_after(db, mark)
    assert _names(found) == ["job.changed", f"FEI_{result.name}"]
    assert (found[1][2]["job_id"], found[1][2]["device_id"], found[1][2]["device"]) == (job.id, 3, "sim0")


async def test_a_transition_on_a_job_another_node_holds_changes_nothing(db: Database) -> None:
    job = await _new_job(db, **{**_HELD, "claimed_by": "n2"})
    async with db.transaction() as conn:
        mark = int((await conn.execute(text("SELECT coalesce(max(id), 0) FROM events"))).scalar_one())
        assert await transitions.complete(conn, job, node_id="n1", now=NOW) is None
    assert await _events_after(db, mark) == []


async def test_subscribers_hear_a_transition_after_its_commit(db: Database) -> None:
    bus = EventBus()
    await bus.start(db, "n1")
    try:
        job = await _new_job(db)
        subscription = bus.subscribe(ServerEvents.OUT_QUEUE)
        async with db.transaction() as conn:
            await transitions.pause(conn, job, NOW)
        event = await subscription.get(timeout=30)
        assert (event.kind, event.payload["job_id"], event.payload["status"]) == (
            "job.changed", job.id, int(JobStatus.PENDING | JobStatus.PAUSED))
        assert event.payload["available_operations"] & 0x04  # RESUME
    finally:
        await bus.stop()


async def test_the_partial_indexes_list_the_statuses_of_the_enum(db: Database) -> None:
    """The ready and active indexes (made by the migrations) agree with WAITING_STATUSES and ACTIVE_STATUSES."""
    async with db.transaction() as conn:
        if db.is_sqlite:
            rows = await conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'index'"))
        else:
            rows = await conn.execute(text("SELECT indexname, indexdef FROM pg_indexes"))
        definitions = {str(name): str(sql) for name, sql in rows}
    for name, statuses in (("ix_outgoing_jobs_ready", WAITING_STATUSES), ("ix_outgoing_jobs_active", ACTIVE_STATUSES)):
        predicate = definitions[name].split("WHERE", 1)[1]
        listed = {int(number) for number in re.findall(r"\d+", predicate)}
        assert listed == {int(status) for status in statuses}, name


@pytest.mark.postgres
async def test_a_subscriber_on_node_b_sees_node_a_transitions_in_order(pg_database: str) -> None:
    node_a, node_b = database(pg_database), database(pg_database)
    node_a.node_id = "a"  # node A runs no feed here: it only commits
    await node_a.migrate()
    bus_b = EventBus()
    await bus_b.start(node_b, "b", poll_s=3600)  # woken by node A's NOTIFY, not by a poll
    try:
        live = bus_b.subscribe(ServerEvents.OUT_QUEUE)
        job = await _new_job(node_a)
        for step in (lambda conn, j: transitions.pause(conn, j, NOW), lambda conn, j: transitions.resume(conn, j, NOW),
                     lambda conn, j: transitions.cancel(conn, j, text="canceled by bob", now=NOW)):
            async with node_a.transaction() as conn:
                current = await store.get_job(conn, job.id)
                assert current is not None
                await step(conn, current)
        expected = ["job.added", "FEI_JOB_QUEUED", "job.changed", "job.changed", "job.changed", "job.removed",
                    "FEI_DELETED"]
        got = [await live.get(timeout=30) for _ in expected]
        assert [event.payload["fei"] if event.kind == "fei" else event.kind for event in got] == expected
        assert [event.payload["status"] for event in got if event.kind == "job.changed"] == [
            int(JobStatus.PENDING | JobStatus.PAUSED), int(JobStatus.PENDING), int(JobStatus.CANCELED)]
        assert {event.node for event in got} == {"a"}
        replayed = bus_b.subscribe(ServerEvents.OUT_QUEUE, after_id=0)  # a client that connects afterwards
        assert [(await replayed.get(timeout=30)).id for _ in expected] == [event.id for event in got]
    finally:
        await bus_b.stop()
        await node_b.close()
        await node_a.close()
