"""The typed documents of the HTTP API (the OpenAPI schema is generated from these); the Python client reads them too.

Names follow the Windows FaxServer objects in snake case; times are UNIX seconds, as everywhere in faxgate.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

API_VERSION = "v1"
PriorityName = Literal["low", "normal", "high"]


class Problem(BaseModel):
    """Why a request was refused; ``missing_right`` names the access right a 403 lacked."""

    detail: str
    missing_right: str | None = Field(default=None, examples=["query_jobs"])


class ServerInfo(BaseModel):
    """IFaxServer identity: ServerName, APIVersion, Major/MinorVersion, MajorBuild, Debug."""

    server_name: str
    node_id: str
    api_version: str
    windows_api_version: int = Field(description="fsAPI_VERSION_* value of the Windows model this follows")
    version: str
    major_version: int
    minor_version: int
    major_build: int
    debug: bool
    granted_rights: list[str] = Field(description="IFaxSecurity.GrantedRights: the caller's access rights")


class FaxRecipient(BaseModel):
    """IFaxRecipient: a fax number and a name."""

    number: str
    name: str = ""


class OutgoingJob(BaseModel):
    """IFaxOutgoingJob: one recipient's fax in the outgoing queue."""

    id: int
    submission_id: str
    recipient: FaxRecipient
    status: int = Field(description="FAX_JOB_STATUS_ENUM bits (PAUSED and NOLINE are modifiers)")
    status_names: list[str]
    extended_status: str
    extended_status_code: int
    extended_status_text: str
    priority: PriorityName
    schedule_type: Literal["now", "specific_time", "discount_period"]
    scheduled_time: float | None
    submission_time: float
    next_attempt_time: float
    transmission_start: float | None
    transmission_end: float | None
    device_name: str | None
    csid: str = Field(description="The remote station's id")
    tsid: str
    pages: int
    current_page: int = Field(description="Pages the far end confirmed")
    retries: int
    receipt_address: str
    final_time: float | None
    available_operations: list[str]


class Attempt(BaseModel):
    """One call made for a job."""

    device_name: str
    started_at: float
    ended_at: float | None
    result: str
    reason: str
    dialed: str
    start_page: int
    pages_sent: int
    bit_rate: int
    ecm: bool
    remote_csid: str


class OutgoingJobDetail(OutgoingJob):
    """A job with every call made for it."""

    attempts: list[Attempt]


class OutgoingJobPage(BaseModel):
    """One page of jobs, oldest first; pass ``next_after`` as ``after`` for the next page (null: no more)."""

    jobs: list[OutgoingJob]
    next_after: int | None


class QueueState(BaseModel):
    """IFaxOutgoingQueue Paused and Blocked, with the queue's counts."""

    paused: bool
    blocked: bool
    queued: int
    sending: int


class QueueChange(BaseModel):
    """The switches to change; an absent one stays as it is."""

    paused: bool | None = None
    blocked: bool | None = None


class SubmitResult(BaseModel):
    """FaxDocument.Submit: the broadcast's SubmissionId; its jobs (one per recipient) appear once it is rendered."""

    submission_id: str
    recipients: list[FaxRecipient]


class IncomingJob(BaseModel):
    """IFaxIncomingJob / IFaxIncomingMessage: a received fax and how routing it went."""

    id: int
    device_name: str
    transmission_start: float
    transmission_end: float | None
    caller_id: str
    caller_name: str
    routing_information: str = Field(description="The number dialled (DID)")
    subaddress: str
    csid: str = Field(description="This station's id as sent to the caller")
    tsid: str = Field(description="The sender's station id")
    pages: int
    size: int
    status: int
    status_names: list[str]
    extended_status: str
    extended_status_code: int
    reason: str
    routing_status: str
    retries: int = Field(description="Routing retries so far")
    has_tiff: bool


class IncomingJobPage(BaseModel):
    """One page of received faxes, newest first; pass ``next_before`` as ``before`` for older ones."""

    jobs: list[IncomingJob]
    next_before: int | None


class Device(BaseModel):
    """IFaxDevice: configuration and the last state its node reported."""

    id: int
    name: str
    provider: str
    csid: str
    tsid: str
    send_enabled: bool
    receive_mode: str
    rings_before_answer: int
    status: int | None = Field(description="FPS_* state last reported; null if no node runs this device")
    status_text: str
    node_id: str
    updated_at: float | None


class Activity(BaseModel):
    """IFaxActivity counters read from the shared store (so they cover every node)."""

    routing_messages: int
    outgoing_messages: int
    queued_messages: int


class ExtensionData(BaseModel):
    """A value to store under an extension GUID: opaque bytes, base64-encoded."""

    data: str = Field(description="base64 of the blob", examples=["aGVsbG8="],
                      pattern=r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$")


class ExtensionProperty(ExtensionData):
    """An extension configuration blob (IFaxServer/IFaxDevice Get/SetExtensionProperty)."""

    guid: str
    device_id: int = Field(description="0 for server-wide data, else the device id")


class ServerEventMessage(BaseModel):
    """One server event as the event stream, the WebSocket and webhooks carry it (ListenToServerEvents)."""

    id: int = Field(description="The store's event id: resume after it with Last-Event-ID; webhooks deduplicate on it")
    topic: str = Field(description="FAX_SERVER_EVENTS_TYPE_ENUM name without FAX_EVENT_TYPE_", examples=["OUT_QUEUE"])
    kind: str = Field(examples=["job.changed", "fei"])
    at: float
    node: str
    payload: dict[str, Any]
