"""What a call's result does to a job: retry when and how often, or give up (HylaFAX faxq + Windows retry rules)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.config.outbound import OutboundSection, RetryResult
from gateway.enums import ExtendedStatus, Priority
from gateway.model import OutgoingJob
from gateway.storage.transitions import Failure

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


@dataclass(frozen=True)
class Verdict:
    """A job's fate after a failed call: the failure counted, and either a retry time or giving up."""

    failure: Failure
    next_attempt_at: float | None = None
    """When to try again; None: give up (RETRIES_EXCEEDED), with ``failure.reason`` saying why."""
    sched_priority: int = 127

    @property
    def final(self) -> bool:
        """The job gives up."""
        return self.next_attempt_at is None


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
    failure = Failure(status, give_up or reason, job.retries + 1, dials, tries, counts)
    if give_up:
        return Verdict(failure)
    assert category is not None
    delay = getattr(policy.retry, category).delay.total_seconds()
    order = job.sched_priority + 1 if job.bulk else job.sched_priority - 1
    return Verdict(failure, now + delay, max(0, min(255, order)))


def shares_failure(status: ExtendedStatus, policy: OutboundSection) -> bool:
    """Whether a failed call counts for the other jobs waiting for the same number."""
    category = result_category(status)
    return category is not None and category in policy.share_call_failures
