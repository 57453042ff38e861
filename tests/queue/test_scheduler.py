"""The scheduler on virtual time: order, windows, retries per result, kill time, concurrency, batching, sharing."""

from __future__ import annotations

import itertools

from gateway.enums import ExtendedStatus, JobStatus, Priority, ScheduleType
from tests.queue.conftest import MakeQueue
from tests.queue.harness import MONDAY_10_UTC, force_columns


async def test_priorities_high_first_and_bulk_after_every_interactive_job(make_queue: MakeQueue) -> None:
    queue = await make_queue()
    low = await queue.add_job("5550101", priority=Priority.LOW)
    bulk_high = await queue.add_job("5550102", priority=Priority.HIGH, bulk=True)
    normal = await queue.add_job("5550103", priority=Priority.NORMAL)
    high = await queue.add_job("5550104", priority=Priority.HIGH)
    await queue.run_for(3600)
    assert [call.dialed for call in queue.lines.calls] == ["5550104", "5550103", "5550101", "5550102"]
    for job_id in (low, bulk_high, normal, high):
        assert (await queue.job(job_id)).job_status == JobStatus.COMPLETED


async def test_discount_job_waits_for_the_local_discount_window(make_queue: MakeQueue) -> None:
    queue = await make_queue({"outbox": {"timezone": "Europe/Berlin", "discount_start": "20:00",
                                         "discount_end": "07:00"}})
    cheap = await queue.add_job("5550101", schedule=ScheduleType.DISCOUNT_PERIOD)
    now = await queue.add_job("5550102")
    await queue.run_for(24 * 3600)
    calls = {call.dialed: call.started for call in queue.lines.calls}
    assert calls["5550102"] == MONDAY_10_UTC
    assert calls["5550101"] == MONDAY_10_UTC + 9 * 3600  # 20:00 in Berlin (UTC+1 in November) is 19:00 UTC
    assert (await queue.job(cheap)).job_status == JobStatus.COMPLETED
    assert (await queue.job(now)).job_status == JobStatus.COMPLETED


async def test_send_at_a_time_and_time_of_day_window(make_queue: MakeQueue) -> None:
    queue = await make_queue({"outbound": {"time_of_day": ["Mon-Fri 08:00-09:00"]}})
    job = await queue.add_job("5550101", schedule=ScheduleType.SPECIFIC_TIME, send_at=MONDAY_10_UTC + 600)
    await queue.run_for(3 * 24 * 3600)
    assert [call.started for call in queue.lines.calls] == [MONDAY_10_UTC + 22 * 3600]  # Tuesday 08:00
    assert (await queue.job(job)).job_status == JobStatus.COMPLETED


async def test_busy_retries_after_the_busy_delay_then_sends(make_queue: MakeQueue) -> None:
    queue = await make_queue()
    queue.lines.scripts["5550101"] = ["busy", "busy"]
    job = await queue.add_job("5550101", pages=2)
    await queue.run_for(3600)
    starts = [call.started - MONDAY_10_UTC for call in queue.lines.calls]
    # Each busy call takes 30 s of setup, then 3 minutes (JobReqBusy) until the next try.
    assert starts == [0, 30 + 180, 2 * (30 + 180)]
    done = await queue.job(job)
    assert (done.job_status, done.ext_status, done.dials, done.retries) == (
        JobStatus.COMPLETED, ExtendedStatus.CALL_COMPLETED, 3, 2)
    assert [a.extended_status for a in await queue.attempts(job)] == [
        ExtendedStatus.BUSY, ExtendedStatus.BUSY, ExtendedStatus.CALL_COMPLETED]


async def test_no_answer_gives_up_after_its_cap(make_queue: MakeQueue) -> None:
    queue = await make_queue({"outbound": {"retry": {"no_answer": {"delay": "5m", "max": 2}}}})
    queue.lines.scripts["5550101"] = ["no_answer"] * 10
    job = await queue.add_job("5550101")
    await queue.run_for(6 * 3600)
    failed = await queue.job(job)
    assert failed.job_status == JobStatus.RETRIES_EXCEEDED
    assert failed.ext_status == ExtendedStatus.NO_ANSWER
    assert len(queue.lines.calls) == 3
    assert "gave up" in failed.extended_status_text


async def test_bad_number_is_never_retried(make_queue: MakeQueue) -> None:
    queue = await make_queue()
    queue.lines.scripts["5550101"] = ["bad_address"]
    job = await queue.add_job("5550101")
    await queue.run_for(6 * 3600)
    failed = await queue.job(job)
    assert (failed.job_status, failed.ext_status, len(queue.lines.calls)) == (
        JobStatus.RETRIES_EXCEEDED, ExtendedStatus.BAD_ADDRESS, 1)


async def test_max_dials_limits_every_kind_of_failure(make_queue: MakeQueue) -> None:
    queue = await make_queue({"outbound": {"max_dials": 4}})
    queue.lines.scripts["5550101"] = ["busy"] * 20
    job = await queue.add_job("5550101")
    await queue.run_for(6 * 3600)
    assert len(queue.lines.calls) == 4
    assert (await queue.job(job)).job_status == JobStatus.RETRIES_EXCEEDED


async def test_kill_time_ends_a_job_that_keeps_failing(make_queue: MakeQueue) -> None:
    queue = await make_queue({"outbound": {"kill_after": "10m"}})
    queue.lines.scripts["5550101"] = ["busy"] * 20
    job = await queue.add_job("5550101")
    await queue.run_for(6 * 3600)
    killed = await queue.job(job)
    assert killed.job_status == JobStatus.RETRIES_EXCEEDED
    assert "kill time" in killed.extended_status_text
    assert killed.final_at == MONDAY_10_UTC + 600
    assert [call.started - MONDAY_10_UTC for call in queue.lines.calls] == [0, 210, 420]


async def test_one_call_at_a_time_to_one_number(make_queue: MakeQueue) -> None:
    queue = await make_queue({"outbound": {"max_batch_jobs": 1}}, devices=("sim0", "sim1"))
    await queue.add_job("5550101", pages=2)
    await queue.add_job("5550101", pages=2)
    await queue.run_for(3600)
    first, second = queue.lines.calls
    assert second.started >= first.ended
    assert {first.device, second.device} <= {"sim0", "sim1"}


async def test_concurrency_limit_two_lets_calls_overlap(make_queue: MakeQueue) -> None:
    queue = await make_queue({"outbound": {"max_batch_jobs": 1, "max_concurrent_calls": 2}},
                             devices=("sim0", "sim1"))
    await queue.add_job("5550101", pages=2)
    await queue.add_job("5550101", pages=2)
    await queue.run_for(3600)
    first, second = queue.lines.calls
    assert first.started == second.started
    assert {first.device, second.device} == {"sim0", "sim1"}


async def test_jobs_to_one_number_go_in_one_call(make_queue: MakeQueue) -> None:
    queue = await make_queue(devices=("sim0", "sim1"))
    jobs = [await queue.add_job("5550101", pages=pages) for pages in (1, 2, 3)]
    other = await queue.add_job("5550199")
    await queue.run_for(3600)
    batch = [call for call in queue.lines.calls if call.dialed == "5550101"]
    assert len(batch) == 1 and batch[0].pages_offered == 6
    for job_id in (*jobs, other):
        assert (await queue.job(job_id)).job_status == JobStatus.COMPLETED
    call_ids = {(await queue.attempts(job_id))[0].call_id for job_id in jobs}
    assert len(call_ids) == 1


async def test_a_batched_job_cancelled_before_its_pages_is_skipped_and_the_call_ends_properly(
        make_queue: MakeQueue) -> None:
    from gateway.queue.controls import cancel_job

    queue = await make_queue()
    first, second, third = [await queue.add_job("5550101", pages=2) for _ in range(3)]
    await queue.run_for(40)  # the first job's first page is on the line
    async with queue.db.transaction() as conn:
        await cancel_job(conn, third, queue.clock.now(), by="carol")
    await queue.run_for(600)
    [call] = queue.lines.calls
    assert (call.pages_offered, call.pages_confirmed, call.ended) == (6, 4, MONDAY_10_UTC + 30 + 4 * 20)
    done = [await queue.job(job) for job in (first, second, third)]
    assert [(job.job_status, job.pages_sent) for job in done] == [
        (JobStatus.COMPLETED, 2), (JobStatus.COMPLETED, 2), (JobStatus.CANCELED, 0)]
    assert [job.final_at for job in done[:2]] == [MONDAY_10_UTC + 70, MONDAY_10_UTC + 110]  # each at its last page
    [attempt] = await queue.attempts(third)
    assert (attempt.extended_status, attempt.pages_sent) == (ExtendedStatus.CALL_ABORTED, 0)
    assert queue.manager.slots["sim0"].device.aborts == 0  # type: ignore[attr-defined]


async def test_busy_is_shared_with_the_other_jobs_for_the_number(make_queue: MakeQueue) -> None:
    queue = await make_queue()
    queue.lines.scripts["5550101"] = ["busy", "busy"]
    first = await queue.add_job("5550101")
    later = await queue.add_job("5550101", schedule=ScheduleType.SPECIFIC_TIME, send_at=MONDAY_10_UTC + 60)
    await queue.run_until(MONDAY_10_UTC + 31)
    shared = await queue.job(later)
    assert shared.retries == 1 and shared.dials == 0
    assert shared.ext_status == ExtendedStatus.BUSY
    assert shared.next_attempt_at == MONDAY_10_UTC + 30 + 180
    await queue.run_for(3600)
    # Both jobs then went in the same calls: busy once more, then sent together.
    assert len(queue.lines.calls) == 3
    assert queue.lines.calls[-1].pages_offered == 2
    assert (await queue.job(first)).job_status == JobStatus.COMPLETED
    assert (await queue.job(later)).job_status == JobStatus.COMPLETED


async def test_partial_send_resumes_at_the_first_unconfirmed_page(make_queue: MakeQueue) -> None:
    queue = await make_queue()
    queue.lines.scripts["5550101"] = ["drop:2"]
    job = await queue.add_job("5550101", pages=5)
    await queue.run_for(3600)
    first, second = queue.lines.calls
    assert (first.pages_offered, first.pages_confirmed) == (5, 2)
    assert second.pages_offered == 3
    attempts = await queue.attempts(job)
    assert [(a.start_page, a.pages_sent) for a in attempts] == [(0, 2), (2, 3)]
    done = await queue.job(job)
    assert (done.job_status, done.pages_sent) == (JobStatus.COMPLETED, 5)


async def test_stagger_spaces_call_starts(make_queue: MakeQueue) -> None:
    queue = await make_queue({"outbound": {"stagger_calls": "45s"}}, devices=("sim0", "sim1"))
    await queue.add_job("5550101", pages=3)
    await queue.add_job("5550102", pages=3)
    await queue.run_for(3600)
    assert [call.started - MONDAY_10_UTC for call in queue.lines.calls] == [0, 45]


async def test_receive_window_leaves_a_line_that_answers_calls_to_callers_after_each_call(
        make_queue: MakeQueue) -> None:
    queue = await make_queue({"outbound": {"receive_window": "30s"}}, devices=("sim0", "sim1"))
    queue.manager.receive_window = queue.config.outbound.receive_window.total_seconds()  # as the service does
    answers, sends_only = queue.manager.slots["sim0"], queue.manager.slots["sim1"]
    answers.answers_calls = True
    for slot in (answers, sends_only):
        slot.call_ended_at = lambda name=slot.name: max(  # type: ignore[misc]
            (call.ended for call in queue.lines.calls if call.device == name), default=0.0)
    sends_only.send_enabled = False
    for number in ("5550101", "5550102", "5550103"):
        await queue.add_job(number, pages=1)
    await queue.run_for(3600)
    gaps = [later.started - earlier.ended for earlier, later in itertools.pairwise(queue.lines.calls)]
    assert len(queue.lines.calls) == 3 and all(30 <= gap < 32 for gap in gaps), gaps

    answers.answers_calls = False  # receive mode no_answer: nothing to wait for
    for number in ("5550104", "5550105"):
        await queue.add_job(number, pages=1)
    await queue.run_for(3600)
    assert queue.lines.calls[4].started - queue.lines.calls[3].ended < 2


async def test_paused_queue_holds_jobs_until_resumed(make_queue: MakeQueue) -> None:
    from gateway.storage import jobs as store

    queue = await make_queue()
    async with queue.db.transaction() as conn:
        await store.set_queue_state(conn, {"paused": True, "blocked": False}, queue.clock.now())
    job = await queue.add_job("5550101")
    await queue.run_for(600)
    assert queue.lines.calls == []
    assert (await queue.job(job)).job_status == JobStatus.PENDING
    async with queue.db.transaction() as conn:
        await store.set_queue_state(conn, {"paused": False, "blocked": False}, queue.clock.now())
    await queue.run_for(600)
    assert (await queue.job(job)).job_status == JobStatus.COMPLETED


async def test_wedged_device_is_restarted_and_the_job_goes_at_once(make_queue: MakeQueue) -> None:
    from gateway.queue.devices import RESTART_REST_S, WEDGED_GRACE_S

    queue = await make_queue()
    queue.lines.scripts["5550101"] = ["hang"]
    job = await queue.add_job("5550101", pages=1)
    await queue.run_for(3600)
    slot = queue.manager.slots["sim0"]
    assert (slot.device.aborts, slot.device.closes) == (1, 1)  # type: ignore[attr-defined]
    first, second = await queue.attempts(job)
    assert first.extended_status == ExtendedStatus.LINE_UNAVAILABLE and "restarted" in first.reason
    expected = 90 + 120 * 1
    assert first.ended_at is not None and first.ended_at - first.started_at >= expected + WEDGED_GRACE_S
    assert second.started_at - first.ended_at == RESTART_REST_S  # retried as soon as the device is back
    assert (await queue.job(job)).job_status == JobStatus.COMPLETED


async def test_group_rank_order_and_routing_rules(make_queue: MakeQueue) -> None:
    queue = await make_queue({"outbound": {
        "groups": [{"name": "East coast", "devices": ["sim2", "sim0"]}],
        "rules": [{"country_code": 1, "area_code": 212, "group": "East coast"},
                  {"country_code": 44, "device": "sim1"}],
        "dialing": {"country_code": "1", "area_code": "212", "international_prefix": "011",
                    "long_distance_prefix": "1"}}}, devices=("sim0", "sim1", "sim2"))
    east = await queue.add_job("+12125550100")
    uk = await queue.add_job("+442079460000")
    other = await queue.add_job("+13105550100", priority=Priority.LOW)
    await queue.run_for(3600)
    calls = {call.dialed: call.device for call in queue.lines.calls}
    assert calls == {"5550100": "sim2", "011442079460000": "sim1", "13105550100": "sim0"}
    for job_id in (east, uk, other):
        assert (await queue.job(job_id)).job_status == JobStatus.COMPLETED


async def test_a_job_waiting_for_a_busy_line_shows_no_line(make_queue: MakeQueue) -> None:
    queue = await make_queue()
    first = await queue.add_job("5550101", pages=3)
    second = await queue.add_job("5550102")
    await queue.run_for(10)
    assert (await queue.job(first)).job_status == JobStatus.INPROGRESS
    assert (await queue.job(second)).job_status == JobStatus.PENDING | JobStatus.NOLINE
    await queue.run_for(3600)
    assert (await queue.job(second)).job_status == JobStatus.COMPLETED


async def test_age_limit_gives_up_old_jobs_then_removes_them(make_queue: MakeQueue) -> None:
    queue = await make_queue({"outbox": {"age_limit": "2h"}, "outbound": {"kill_after": "0s"}})
    held = await queue.add_job("5550101", schedule=ScheduleType.SPECIFIC_TIME, send_at=MONDAY_10_UTC + 86400)
    sent = await queue.add_job("5550102")
    await queue.run_for(2 * 3600 - 60)
    await queue.chores.run_now("age-limit")
    assert (await queue.job(held)).job_status == JobStatus.PENDING  # not yet past the age limit
    await queue.run_for(61)
    await queue.chores.run_now("age-limit")
    given_up = await queue.job(held)
    assert given_up.job_status == JobStatus.RETRIES_EXCEEDED and "age limit" in given_up.extended_status_text
    await queue.run_for(2 * 3600 + 1)
    await queue.chores.run_now("age-limit")
    async with queue.db.transaction() as conn:
        from gateway.storage import jobs as store

        remaining = [job.id for job in await store.list_jobs(conn)]
    assert remaining == [sent]  # the sent job stays as history; the given-up one is gone after the age limit
    assert queue.lines.calls[0].dialed == "5550102" and len(queue.lines.calls) == 1


async def test_other_failures_use_the_windows_retries_and_retry_delay(make_queue: MakeQueue) -> None:
    queue = await make_queue({"outbox": {"retries": 1, "retry_delay": "7m"}})
    queue.lines.scripts["5550101"] = ["vendor_error"] * 5  # a result without a row of its own: "other"
    job = await queue.add_job("5550101")
    await queue.run_for(6 * 3600)
    assert [call.started - MONDAY_10_UTC for call in queue.lines.calls] == [0, 30 + 420]
    assert (await queue.job(job)).job_status == JobStatus.RETRIES_EXCEEDED


async def test_cancel_during_a_call_ends_it_after_the_page_on_the_line(make_queue: MakeQueue) -> None:
    from gateway.queue.controls import cancel_job

    queue = await make_queue()
    job = await queue.add_job("5550101", pages=5)
    await queue.run_for(60)  # page 1 confirmed at 50 s, page 2 on the line
    async with queue.db.transaction() as conn:
        assert (await cancel_job(conn, job, queue.clock.now())).job_status == JobStatus.CANCELING
    await queue.run_for(600)
    canceled = await queue.job(job)
    assert (canceled.job_status, canceled.ext_status) == (JobStatus.CANCELED, ExtendedStatus.CALL_ABORTED)
    assert canceled.pages_sent == 2  # the page on the line was finished, then the call ended (EOP, DCN)
    [attempt] = await queue.attempts(job)
    assert attempt.extended_status == ExtendedStatus.CALL_ABORTED
    assert attempt.ended_at == MONDAY_10_UTC + 30 + 2 * 20
    [call] = queue.lines.calls
    device = queue.manager.slots["sim0"].device
    assert (call.pages_confirmed, call.ended, device.aborts) == (2, MONDAY_10_UTC + 70, 0)  # type: ignore[attr-defined]


async def test_cancel_before_the_pages_begin_drops_the_call(make_queue: MakeQueue) -> None:
    from gateway.queue.controls import cancel_job

    queue = await make_queue()
    job = await queue.add_job("5550101", pages=5)
    await queue.run_for(10)  # dialing
    async with queue.db.transaction() as conn:
        await cancel_job(conn, job, queue.clock.now())
    await queue.run_for(600)
    canceled = await queue.job(job)
    assert (canceled.job_status, canceled.pages_sent) == (JobStatus.CANCELED, 0)
    [attempt] = await queue.attempts(job)
    assert attempt.extended_status == ExtendedStatus.CALL_ABORTED
    assert attempt.ended_at is not None and attempt.ended_at - MONDAY_10_UTC <= 15  # within one heartbeat
    assert [call.pages_confirmed for call in queue.lines.calls] == [0]


async def test_discount_job_retries_stay_inside_the_discount_window(make_queue: MakeQueue) -> None:
    queue = await make_queue({"outbox": {"discount_start": "20:00", "discount_end": "20:05"},
                              "outbound": {"kill_after": "0s"}})
    queue.lines.scripts["5550101"] = ["busy", "busy"]
    job = await queue.add_job("5550101", schedule=ScheduleType.DISCOUNT_PERIOD)
    await queue.run_for(2 * 86400)
    starts = [call.started - MONDAY_10_UTC for call in queue.lines.calls]
    # 20:00 busy; 20:03:30 busy; the next try (20:07) is past the window: Tuesday 20:00.
    assert starts == [10 * 3600, 10 * 3600 + 210, 10 * 3600 + 86400]
    assert (await queue.job(job)).job_status == JobStatus.COMPLETED


async def test_a_job_with_every_page_confirmed_completes_without_a_call(make_queue: MakeQueue) -> None:

    queue = await make_queue()
    job = await queue.add_job("5550101", pages=2)
    async with queue.db.transaction() as conn:
        await force_columns(conn, job, pages_sent=2)  # as a crash right after the last MCF leaves it
    await queue.run_for(60)
    done = await queue.job(job)
    assert (done.job_status, done.pages_sent, queue.lines.calls) == (JobStatus.COMPLETED, 2, [])
