"""Turning one recipient of a submission into a queued job: order, first eligible time, kill time and route."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.config import FaxgateConfig
from gateway.enums import ExtendedStatus, JobStatus, Priority, ScheduleType
from gateway.queue.policy import queue_order
from gateway.queue.routing import OutboundRouter
from gateway.queue.windows import CallWindows
from gateway.storage import transitions


@dataclass(frozen=True)
class JobRequest:
    """What one job needs: who to call, what to send, when, and who hears about it."""

    submission_id: str
    number: str
    document_blob_id: str
    pages: int
    recipient_name: str = ""
    priority: Priority = Priority.NORMAL
    bulk: bool = False
    schedule: ScheduleType = ScheduleType.NOW
    send_at: float | None = None
    receipt_address: str = ""
    billing_code: str = ""
    tsid: str = ""
    refused: ExtendedStatus | None = None
    """BAD_ADDRESS or CALL_BLACKLISTED: the job is recorded but never dialled (no retry can help); its
    FEI_BAD_ADDRESS / FEI_CALL_BLACKLISTED carries the job id (transitions.queue). A number the SMTP listener
    (RCPT TO, 550) or the API (400) refuses makes no job and so no event, as FaxSendDocument failing on Windows."""
    refusal: str = ""


class JobFactory:
    """Creates jobs with the configured windows and routing rules."""

    def __init__(self, config: FaxgateConfig, local_devices: list[str]) -> None:
        self.config = config
        self.local_devices = local_devices
        self.reconfigure()

    def reconfigure(self) -> None:
        """Build the routes and call windows from the configuration in force (again after a runtime change)."""
        config = self.config
        self.router = OutboundRouter(config.outbound, self.local_devices)
        self.windows = CallWindows(config.outbox.timezone, config.outbound.time_of_day,
                                   config.outbox.discount_start, config.outbox.discount_end)

    def first_time(self, request: JobRequest, now: float) -> float:
        """When the job may first be dialled: now, its time (or now if past), or the discount period."""
        start = now
        if request.schedule == ScheduleType.SPECIFIC_TIME and request.send_at is not None:
            start = max(now, request.send_at)
        return self.windows.next_allowed(start, discount=request.schedule == ScheduleType.DISCOUNT_PERIOD)

    async def create(self, conn: AsyncConnection, request: JobRequest, now: float) -> int:
        """Insert the job; a refused number goes straight to its final state."""
        first = self.first_time(request, now)
        kill_after = self.config.outbound.kill_after.total_seconds()
        values: dict[str, object] = {
            "submission_id": request.submission_id,
            "recipient_number": request.number,
            "recipient_name": request.recipient_name,
            "status": int(JobStatus.PENDING),
            "priority": int(request.priority),
            "sched_priority": queue_order(request.priority, request.bulk),
            "bulk": request.bulk,
            "schedule_type": int(request.schedule),
            "scheduled_at": request.send_at if request.schedule == ScheduleType.SPECIFIC_TIME else None,
            "next_attempt_at": first,
            "submitted_at": now,
            "pages": request.pages,
            "document_blob_id": request.document_blob_id,
            "receipt_address": request.receipt_address,
            "billing_code": request.billing_code,
            "tsid": request.tsid,
            "kill_at": first + kill_after if kill_after > 0 else None,
            "route": self.router.route_for(request.number),
            "result_counts": {},
            "updated_at": now,
        }
        if request.refused is not None:
            values.update(status=int(JobStatus.RETRIES_EXCEEDED), extended_status=int(request.refused),
                          extended_status_text=request.refusal, final_at=now)
        return (await transitions.queue(conn, **values)).id
