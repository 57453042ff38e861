"""The core entities, after the Windows Fax Service object model; each mirrors one table row.

Submission ~ FaxDocument as submitted; OutgoingJob ~ IFaxOutgoingJob (one per recipient); Attempt ~ one
call; IncomingJob ~ IFaxIncomingJob (a received fax while it is routed). Storage modules build these from
rows; nothing else constructs them from SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Self

from gateway.enums import ExtendedStatus, JobStatus, Priority, ScheduleType


class _FromRow:
    """Build a dataclass from a SQLAlchemy row, taking only the columns the dataclass knows."""

    @classmethod
    def from_row(cls, row: Any) -> Self:
        """The entity for one row (a Row or a mapping)."""
        mapping = row._mapping if hasattr(row, "_mapping") else row
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{key: value for key, value in mapping.items() if key in names})


class SubmissionState:
    """Where a submission is on its way from "accepted" to "jobs queued"."""

    RECEIVED = "received"
    """The raw message or files are committed; nothing else is done yet."""
    RENDERING = "rendering"
    QUEUED = "queued"
    """Pages rendered and one outgoing job per recipient created."""
    FAILED = "failed"
    """Could not become fax pages; the sender was told why."""


@dataclass
class Submission(_FromRow):
    """What a sender handed in: a raw mail or files, for one or more recipients (one submission id per broadcast)."""

    id: str
    created_at: float
    source: str
    principal: str
    envelope_from: str
    recipients: list[dict[str, str]]
    subject: str
    state: str
    reason: str
    raw_blob_id: str | None
    document_blob_id: str | None
    pages: int
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class OutgoingJob(_FromRow):
    """One recipient's fax in the outgoing queue (IFaxOutgoingJob)."""

    id: int
    submission_id: str
    recipient_number: str
    recipient_name: str
    status: int
    extended_status: int
    extended_status_text: str
    priority: int
    schedule_type: int
    scheduled_at: float | None
    next_attempt_at: float
    submitted_at: float
    transmission_start: float | None
    transmission_end: float | None
    retries: int
    dials: int
    pages: int
    pages_sent: int
    device_name: str | None
    remote_csid: str
    tsid: str
    receipt_address: str
    billing_code: str
    kill_at: float | None
    sched_priority: int = 127
    """Queue order, lower first (HylaFAX: high 63, normal 127, low 190, bulk after every interactive job)."""
    bulk: bool = False
    route: str = ""
    """The outbound routing target: "group:NAME" or "device:NAME"."""
    document_blob_id: str | None = None
    tries: int = 0
    """Calls that reached the far end and failed (HylaFAX tottries); ``dials`` counts every call placed."""
    result_counts: dict[str, int] | None = None
    final_at: float | None = None
    receipt_sent_at: float | None = None
    archived_at: float | None = None
    call_id: str | None = None
    claimed_by: str | None = None
    claimed_until: float | None = None

    @property
    def job_status(self) -> JobStatus:
        """The Windows status flags."""
        return JobStatus(self.status)

    @property
    def ext_status(self) -> ExtendedStatus:
        """The Windows extended status."""
        return ExtendedStatus(self.extended_status)

    @property
    def job_priority(self) -> Priority:
        """The Windows priority."""
        return Priority(self.priority)

    @property
    def job_schedule(self) -> ScheduleType:
        """Now, at a time, or in the discount window."""
        return ScheduleType(self.schedule_type)


@dataclass
class Attempt(_FromRow):
    """One call made for a job: device, times, result and line figures."""

    id: int
    job_id: int
    device_name: str
    started_at: float
    ended_at: float | None
    extended_status: int
    reason: str
    pages_sent: int
    bit_rate: int
    ecm: bool
    compression: str
    resolution: str
    remote_csid: str
    duration_s: float
    node_id: str = ""
    call_id: str = ""
    dialed: str = ""
    start_page: int = 0
    pages_total: int = 0


@dataclass
class IncomingJob(_FromRow):
    """A received fax from the moment the call ends until routing is done (IFaxIncomingJob)."""

    id: int
    device_name: str
    received_at: float
    ended_at: float | None
    caller_id: str
    caller_name: str
    did: str
    remote_tsid: str
    csid: str
    pages: int
    status: int
    extended_status: int
    reason: str
    tiff_blob_id: str | None
    quality: dict[str, Any]
    routing_retries: int
    next_routing_at: float | None
    routed_at: float | None
    routing_status: str


@dataclass
class DeviceRecord(_FromRow):
    """A device's last reported state, shared between nodes through the store."""

    name: str
    node_id: str
    provider: str
    status: int
    status_text: str
    """Why the line is in its state (the reason of "retrying" / "not ready"), or "available"."""
    updated_at: float
    state: str = "initializing"
    retry_at: float | None = None
    failures: int = 0
