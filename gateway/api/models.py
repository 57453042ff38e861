"""The typed documents of the HTTP API (the OpenAPI schema is generated from these); the Python client reads them too.

Names follow the Windows FaxServer objects in snake case; times are UNIX seconds, as everywhere in faxgate.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

API_VERSION = "v1"
PriorityName = Literal["low", "normal", "high"]


def _whole(value: Any) -> Any:
    """403.0 is the JSON Schema integer 403; strict models take it as such (and still refuse "403" or true)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


WHOLE = BeforeValidator(_whole)
WholeNumber = Annotated[int, WHOLE]
"""An integer field of a strict request model: any JSON number without a fraction, as JSON Schema's integer. An
optional one is written ``Annotated[int, Field(ge=.., le=..), WHOLE] | None``: bounds before the validator, or
pydantic leaves them out of the JSON schema."""


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
    queue_status: str = Field(description="The status in the words of the legacy FaxJob.QueueStatus")
    extended_status: str
    extended_status_code: int
    extended_status_text: str
    priority: PriorityName
    bulk: bool
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
    dials: int = Field(description="Calls made, counting busy and no-answer tries")
    route: str = Field(description='The outbound routing target: "group:NAME" or "device:NAME"')
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
    call_id: str


class OutgoingJobDetail(OutgoingJob):
    """A job with every call made for it."""

    attempts: list[Attempt]


class OutgoingJobPage(BaseModel):
    """One page of jobs, oldest first; pass ``next_after`` as ``after`` for the next page (null: no more); newest
    first (asked with ``before``), pass ``next_before`` as ``before``."""

    jobs: list[OutgoingJob]
    next_after: int | None
    next_before: int | None = None


class QueueState(BaseModel):
    """IFaxOutgoingQueue Paused and Blocked, with the queue's counts."""

    paused: bool
    blocked: bool
    queued: int
    sending: int


class QueueChange(BaseModel):
    """The switches to change; an absent one stays as it is."""

    model_config = ConfigDict(strict=True)  # "blocked": 0 is a mistake, not false

    paused: bool | None = None
    blocked: bool | None = None


class SubmitResult(BaseModel):
    """FaxDocument.Submit: the broadcast's SubmissionId; its jobs (one per recipient) appear once it is rendered."""

    submission_id: str
    recipients: list[FaxRecipient]


class SubmissionInfo(BaseModel):
    """What a sender handed in (the broadcast behind a SubmissionId) and how far it got: received, rendering,
    queued (one job per recipient) or failed."""

    id: str
    created_at: float
    source: str = Field(description="smtp, api, cli, mailbox, ...")
    principal: str = Field(description="Who submitted it")
    envelope_from: str
    recipients: list[dict[str, str]]
    subject: str
    state: Literal["received", "rendering", "queued", "failed"]
    reason: str
    pages: int
    options: dict[str, Any]
    raw_blob_id: str | None
    document_blob_id: str | None


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
    next_routing_at: float | None
    routed_at: float | None
    quality: dict[str, Any] = Field(description="How clean the received pages were (bad lines, rates)")
    archive_path: str = Field(description="Where the incoming archive keeps the fax on the server, if anywhere")
    has_tiff: bool


class RoutingDelivery(BaseModel):
    """One routing method run for a received fax."""

    key: str = Field(description="The delivery's key: the rule and method it runs for")
    rule: str = Field(description="The rule that chose it (empty for the catch-all)")
    method: str
    state: str = Field(description="pending, delivered or failed")
    attempts: int
    last_error: str
    detail: str
    delivered_at: float | None


class IncomingRouting(BaseModel):
    """How a received fax was routed and why: the rule decision, each delivery, and the call's session log."""

    routing_status: str
    why: str = Field(description="The decision in one sentence")
    matched: list[str] = Field(description="The rules that matched")
    decision: dict[str, Any] | None = Field(description="Every rule checked, as stored when it was routed")
    deliveries: list[RoutingDelivery]
    session_log: str


class RoutingRules(BaseModel):
    """The rules as configured, in the order they are tried, and who gets what no rule matched."""

    rules: list[dict[str, Any]]
    admin: str
    timezone: str


class ImaginedFax(BaseModel):
    """The fax the dry run pictured (as a routing method would be handed it)."""

    id: int
    device: str
    received_at: float
    caller_id: str
    caller_name: str
    did: str
    tsid: str
    csid: str
    subaddress: str
    pages: int
    partial: bool


class RuleResult(BaseModel):
    """How one rule fared: matched, not matched (the reasons say why), or skipped after a first-match rule."""

    rule: str
    matched: bool
    skipped: bool
    reasons: list[str]


class PlannedDelivery(BaseModel):
    """A routing method that would run, in its global priority, with what it would do."""

    key: str
    rule: str
    method: str
    guid: str
    priority: int
    action: str


class RouteTest(BaseModel):
    """The dry run's answer: every rule checked, the decision, and the deliveries that would be made."""

    fax: ImaginedFax
    rules: list[RuleResult]
    matched: list[str]
    catch_all: bool
    why: str
    deliveries: list[PlannedDelivery]
    notes: list[str]


class Rerouted(BaseModel):
    """A received fax put back to be routed again with the rules in force now."""

    id: int
    rerouted: bool


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
    state: str = Field(description="Lifecycle: ready, sending, ringing, receiving, retrying, not ready, disabled")
    retry_at: float | None = Field(description="When a retrying line tries to open its port again")
    failures: int
    node_id: str
    updated_at: float | None


class IntakeSourceStatus(BaseModel):
    """How one intake source of this node is doing (a polled mailbox: ready, or retrying and why)."""

    name: str = Field(description='The source\'s name, e.g. "mailbox:faxbox"')
    state: str = Field(description="Lifecycle: initializing, ready, retrying, stopped")
    reason: str = Field(description="Why it is retrying (empty when ready)")
    failures: int = Field(ge=0, description="Failed tries in a row")
    retry_at: float | None = Field(description="When a retrying source tries again (Unix time)")
    backend: str = Field(description="imap, ews or graph for a mailbox; empty for other sources")
    folder: str = Field(description="The polled folder; empty for other sources")
    polls: int = Field(ge=0, description="Successful polls since the source started")


class Activity(BaseModel):
    """IFaxActivity counters read from the shared store (so they cover every node)."""

    routing_messages: int
    outgoing_messages: int
    queued_messages: int


class ActivityLog(BaseModel):
    """The activity log of every call, oldest first, one HylaFAX xferfaxlog line each."""

    lines: list[str]


class ExtensionData(BaseModel):
    """A value to store under an extension GUID: opaque bytes, base64-encoded."""

    model_config = ConfigDict(strict=True)

    data: str = Field(description="base64 of the blob", examples=["aGVsbG8="],
                      pattern=r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$")


class ExtensionProperty(ExtensionData):
    """An extension configuration blob (IFaxServer/IFaxDevice Get/SetExtensionProperty)."""

    guid: str
    device_id: int = Field(description="0 for server-wide data, else the device id")


RightName = Literal["submit_low", "submit_normal", "submit_high", "query_jobs", "manage_jobs", "query_config",
                    "manage_config", "query_in_archive", "manage_in_archive", "query_out_archive",
                    "manage_out_archive"]


class TokenRequest(BaseModel):
    """A token to create: who it is for and the access rights it carries (at most the caller's own)."""

    model_config = ConfigDict(strict=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")
    rights: list[RightName] = Field(min_length=1)


class TokenInfo(BaseModel):
    """A stored token by name (the secret is never shown again)."""

    name: str
    rights: list[str]
    created_at: float


class NewToken(TokenInfo):
    """A token just created: ``token`` is the secret, shown this once."""

    token: str


class Statistics(BaseModel):
    """The dashboard's figures, read from the shared store."""

    outgoing_by_status: dict[str, int] = Field(description="Outgoing jobs by base status name")
    queue: int = Field(description="Outgoing jobs not yet final")
    archive: int = Field(description="Outgoing jobs that are final")
    incoming: int = Field(description="Received faxes kept")
    sent_since: int = Field(description="Jobs completed since `since`")
    failed_since: int = Field(description="Jobs that failed or were canceled since `since`")
    pages_sent_since: int
    received_since: int
    pages_received_since: int
    routing_failed: int = Field(description="Received faxes with a routing method that failed for good")
    routing_retrying: int = Field(default=0, description="Received faxes with a routing method failing, to be retried")


class ServerEventMessage(BaseModel):
    """One server event as the event stream, the WebSocket and webhooks carry it (ListenToServerEvents)."""

    id: int = Field(description="The store's event id: resume after it with Last-Event-ID; webhooks deduplicate on it")
    topic: str = Field(description="FAX_SERVER_EVENTS_TYPE_ENUM name without FAX_EVENT_TYPE_", examples=["OUT_QUEUE"])
    kind: str = Field(examples=["job.changed", "fei"])
    at: float
    node: str
    payload: dict[str, Any]
