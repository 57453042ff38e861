"""What a call's result does to a job: retry when and how often, or give up (HylaFAX faxq + Windows retry rules)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.config.outbound import OutboundSection, RetryResult
from gateway.enums import ExtendedStatus, JobStatus, Priority
from gateway.model import OutgoingJob

_CATEGORY: dict[ExtendedStatus, RetryResult] = {
    ExtendedStatus.BUSY: "busy",
    ExtendedStatus.CALL_DELAYED: "busy",
    ExtendedStatus.NO_ANSWER: "no_answer",
    ExtendedStatus.NOT_FAX_CALL: "no_carrier",
    ExtendedStatus.NO_DIAL_TONE: "no_dial_tone",
    ExtendedStatus.FATAL_ERROR: "protocol",
    ExtendedStatus.DISCONNECTED: "protocol",
    ExtendedStatus.LINE_UNAVAILABLE: "line_unavailable",
}
_NEVER_CONNECTED = {ExtendedStatus.BUSY, ExtendedStatus.CALL_DELAYED, ExtendedStatus.NO_ANSWER,
                    ExtendedStatus.NO_DIAL_TONE, ExtendedStatus.LINE_UNAVAILABLE, ExtendedStatus.BAD_ADDRESS,
                    ExtendedStatus.CALL_BLACKLISTED}
_BASE_ORDER = {Priority.HIGH: 63, Priority.NORMAL: 127, Priority.LOW: 190}
BULK_ORDER = 191
"""HylaFAX's "bulk": after every interactive job whatever its priority."""


def queue_order(priority: Priority, bulk: bool) -> int:
    """The scheduling order value (lower goes first): bulk jobs after all interactive ones, by priority within."""
    if bulk:
        return BULK_ORDER + (Priority.HIGH - priority)
    return _BASE_ORDER[priority]


def result_category(status: ExtendedStatus) -> RetryResult | None:
    """The retry-table row for a failed call's result; None when no retry can help (bad or forbidden number)."""
    if not status.retryable:
        return None
    return _CATEGORY.get(status, "other")


@dataclass
class Verdict:
    """The job's new state after a failed call: values for its row, and whether it is now final."""

    values: dict[str, Any] = field(default_factory=dict)
    final: bool = False


def after_failure(
    job: OutgoingJob,
    status: ExtendedStatus,
    reason: str,
    now: float,
    policy: OutboundSection,
    *,
    dialed: bool = True,
) -> Verdict:
    """Count the failure and either requeue the job (RETRYING at a later time) or give up (RETRIES_EXCEEDED).

    ``dialed`` is False when the failure is shared from another job's call (HylaFAX ShareCallFailures).
    """
    category = result_category(status)
    counts = dict(job.result_counts or {})
    dials = job.dials + (1 if dialed else 0)
    tries = job.tries + (1 if dialed and status not in _NEVER_CONNECTED else 0)
    values: dict[str, Any] = {
        "extended_status": int(status),
        "extended_status_text": reason,
        "retries": job.retries + 1,
        "dials": dials,
        "tries": tries,
        "updated_at": now,
        "claimed_by": None,
        "claimed_until": None,
    }
    if category is None:
        give_up = reason or "the number cannot be called"
    else:
        counts[category] = counts.get(category, 0) + 1
        rule = getattr(policy.retry, category)
        give_up = ""
        if counts[category] > rule.max:
            give_up = f"{reason}; gave up after {counts[category]} such results" if reason else "too many failed calls"
        elif dials >= policy.max_dials:
            give_up = f"{reason}; gave up after {dials} calls"
        elif tries >= policy.max_tries:
            give_up = f"{reason}; gave up after {tries} failed transmissions"
    values["result_counts"] = counts
    if give_up:
        values.update(status=int(JobStatus.RETRIES_EXCEEDED), extended_status_text=give_up, final_at=now)
        return Verdict(values, final=True)
    assert category is not None
    delay = getattr(policy.retry, category).delay.total_seconds()
    order = job.sched_priority + 1 if job.bulk else job.sched_priority - 1
    values.update(
        status=int(JobStatus.RETRYING),
        next_attempt_at=now + delay,
        sched_priority=max(0, min(255, order)),
    )
    return Verdict(values)


def shares_failure(status: ExtendedStatus, policy: OutboundSection) -> bool:
    """Whether a failed call counts for the other jobs waiting for the same number."""
    category = result_category(status)
    return category is not None and category in policy.share_call_failures
