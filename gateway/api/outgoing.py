"""IFaxOutgoingQueue over HTTP: jobs (own ones with a submit right, all with QUERY_JOBS / MANAGE_JOBS), the queue
switches, and FaxDocument.Submit through the same pipeline as mail."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, Response, UploadFile
from fastapi.responses import PlainTextResponse
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.api.faxfiles import RECEIPT_RESPONSES, receipt_download
from gateway.api.incoming import page_png_response
from gateway.api.models import (
    Attempt,
    FaxRecipient,
    OutgoingJob,
    OutgoingJobDetail,
    OutgoingJobPage,
    PriorityName,
    Problem,
    QueueChange,
    QueueState,
    SubmitResult,
)
from gateway.api.security import REFUSALS, ApiError, CurrentPrincipal, denied, require
from gateway.config import FaxgateConfig
from gateway.enums import AccessRights, ExtendedStatus, JobOperations, JobStatus, Priority, ScheduleType
from gateway.intake.auth import Principal
from gateway.model import Attempt as StoredAttempt
from gateway.model import OutgoingJob as StoredJob
from gateway.numbers import NumberError, NumberPolicy
from gateway.queue import controls
from gateway.queue.report import stored_report
from gateway.queue.submit import (
    FileToFax,
    QueueBlocked,
    Recipient,
    files_as_mail,
    resolve_recipients,
    submit_files,
    submit_options,
)
from gateway.storage import get_blob
from gateway.storage import jobs as store
from gateway.storage.transitions import operations_for

if TYPE_CHECKING:
    from gateway.server import FaxServer

MAX_ID = 2**31 - 1
SUBMIT_RIGHTS = AccessRights.SUBMIT_LOW | AccessRights.SUBMIT_NORMAL | AccessRights.SUBMIT_HIGH
SUBMIT_RIGHT = {Priority.LOW: AccessRights.SUBMIT_LOW, Priority.NORMAL: AccessRights.SUBMIT_NORMAL,
                Priority.HIGH: AccessRights.SUBMIT_HIGH}
JobId = Annotated[int, Path(ge=1, le=MAX_ID)]
router = APIRouter(prefix="/outgoing", tags=["outgoing"], responses=REFUSALS)
_RECIPIENTS = TypeAdapter(list[FaxRecipient])


@functools.cache
def _status_fields(status: int) -> tuple[tuple[str, ...], str, tuple[str, ...]]:
    """status_names, queue_status and available_operations of a status (they depend on nothing else, and walking the
    flags per job was most of the cost of a page of the queue)."""
    job_status = JobStatus(status)
    operations = operations_for(job_status)
    return (tuple(str(f.name) for f in JobStatus if f & job_status and f.name), controls.describe_status(job_status),
            tuple(str(op.name).lower() for op in JobOperations if op & operations and op.name))


def job_model(job: StoredJob) -> OutgoingJob:
    """A stored job as IFaxOutgoingJob."""
    status_names, queue_status, operations = _status_fields(job.status)
    return OutgoingJob(
        id=job.id, submission_id=job.submission_id,
        recipient=FaxRecipient(number=job.recipient_number, name=job.recipient_name),
        status=job.status, status_names=list(status_names), queue_status=queue_status,
        extended_status=job.ext_status.name.lower(), extended_status_code=job.extended_status,
        extended_status_text=job.extended_status_text, priority=_priority_name(job.job_priority), bulk=job.bulk,
        schedule_type=_schedule_name(job.job_schedule), scheduled_time=job.scheduled_at,
        submission_time=job.submitted_at, next_attempt_time=job.next_attempt_at,
        transmission_start=job.transmission_start, transmission_end=job.transmission_end,
        device_name=job.device_name, csid=job.remote_csid, tsid=job.tsid, pages=job.pages,
        current_page=job.pages_sent, retries=job.retries, dials=job.dials, route=job.route,
        receipt_address=job.receipt_address,
        final_time=job.final_at,
        available_operations=list(operations),
    )


def job_detail(job: StoredJob, calls: list[StoredAttempt]) -> OutgoingJobDetail:
    """A stored job with every call made for it."""
    attempts = [Attempt(device_name=a.device_name, started_at=a.started_at, ended_at=a.ended_at,
                        result=_ext_name(a.extended_status), reason=a.reason, dialed=a.dialed,
                        start_page=a.start_page, pages_sent=a.pages_sent, bit_rate=a.bit_rate, ecm=bool(a.ecm),
                        remote_csid=a.remote_csid, call_id=a.call_id) for a in calls]
    return OutgoingJobDetail(**job_model(job).model_dump(), attempts=attempts)


def _priority_name(priority: Priority) -> PriorityName:
    return {Priority.LOW: "low", Priority.NORMAL: "normal", Priority.HIGH: "high"}[priority]  # type: ignore[return-value]


def _schedule_name(schedule: ScheduleType) -> Literal["now", "specific_time", "discount_period"]:
    return {ScheduleType.NOW: "now", ScheduleType.SPECIFIC_TIME: "specific_time",  # type: ignore[return-value]
            ScheduleType.DISCOUNT_PERIOD: "discount_period"}[schedule]


def _ext_name(value: int) -> str:
    try:
        return ExtendedStatus(value).name.lower()
    except ValueError:
        return str(value)


def _server(request: Request) -> FaxServer:
    server: FaxServer = request.app.state.fax_server
    return server


async def _visible_job(conn: AsyncConnection, principal: Principal, job_id: int) -> StoredJob:
    """The job if the caller may see it: its own with a submit right, any with QUERY_JOBS."""
    job = await store.get_job(conn, job_id)
    if job is None:
        raise ApiError(404, f"there is no job {job_id}")
    if principal.rights & AccessRights.QUERY_JOBS:
        return job
    if principal.rights & SUBMIT_RIGHTS and await store.job_principal(conn, job_id) == principal.name:
        return job
    raise denied(AccessRights.QUERY_JOBS, "seeing another sender's job")


@router.get("/jobs", response_model=OutgoingJobPage, summary="IFaxOutgoingQueue.GetJobs")
async def get_jobs(request: Request, principal: CurrentPrincipal,
                   limit: Annotated[int, Query(ge=1, le=500)] = 100,
                   after: Annotated[int | None, Query(ge=0, le=MAX_ID, description="The last id already seen")] = None,
                   submission: Annotated[str | None, Query(max_length=36)] = None,
                   state: Annotated[Literal["queue", "archive"] | None,
                                    Query(description="queue: not final yet; archive: final")] = None,
                   before: Annotated[int | None, Query(ge=0, le=MAX_ID,
                                                       description="Newest first, below this id")] = None,
                   ) -> OutgoingJobPage:
    """Jobs oldest first (newest first with ``before``): everyone's with QUERY_JOBS, else the caller's own with a
    submit right."""
    if principal.rights & AccessRights.QUERY_JOBS:
        owner = None
    elif principal.rights & SUBMIT_RIGHTS:
        owner = principal.name
    else:
        raise denied(AccessRights.QUERY_JOBS, "listing jobs")
    async with _server(request).db.transaction() as conn:
        found = await store.list_jobs(conn, principal=owner, after_id=after, submission_id=submission,
                                      limit=limit + 1, final=None if state is None else state == "archive",
                                      before_id=before, newest_first=before is not None)
    more = len(found) > limit
    found = found[:limit]
    cursor = found[-1].id if more else None
    return OutgoingJobPage(jobs=[job_model(job) for job in found], next_after=None if before is not None else cursor,
                           next_before=cursor if before is not None else None)


@router.get("/jobs/{job_id}", response_model=OutgoingJobDetail, summary="IFaxOutgoingQueue.GetJob",
            responses={404: {"model": Problem}})
async def get_job(request: Request, principal: CurrentPrincipal, job_id: JobId) -> OutgoingJobDetail:
    """One job with every call made for it."""
    async with _server(request).db.transaction() as conn:
        job = await _visible_job(conn, principal, job_id)
        calls = await store.list_attempts(conn, job_id=job_id)
    return job_detail(job, calls)


_DOCUMENT_TYPES = {"tiff": "image/tiff", "pdf": "application/pdf"}


def _document_route(fmt: str, summary: str) -> None:
    async def document(request: Request, principal: CurrentPrincipal, job_id: JobId) -> Response:
        async with _server(request).db.transaction() as conn:
            await _visible_job(conn, principal, job_id)
            try:
                data = await controls.job_document(conn, job_id, fmt)
            except controls.JobControlError as exc:
                raise ApiError(404, str(exc)) from None
        suffix = "tif" if fmt == "tiff" else fmt
        return Response(data, media_type=_DOCUMENT_TYPES[fmt],
                        headers={"Content-Disposition": f'attachment; filename="job-{job_id}.{suffix}"'})

    document.__doc__ = f"The job's fax as {fmt.upper()}: the caller's own with a submit right, any with QUERY_JOBS."
    router.add_api_route(f"/jobs/{{job_id}}/{fmt}", document, methods=["GET"], response_class=Response,
                         summary=summary, name=f"job_{fmt}",
                         responses={200: {"content": {_DOCUMENT_TYPES[fmt]: {}}}, 404: {"model": Problem}})


_document_route("tiff", "IFaxOutgoingJob.CopyTiff")
_document_route("pdf", "The job's fax as PDF")


@router.get("/jobs/{job_id}/receipt", response_class=Response, summary="The job's transmission report (PDF)",
            responses={**RECEIPT_RESPONSES, 404: {"model": Problem}})
async def get_receipt(request: Request, principal: CurrentPrincipal, job_id: JobId) -> Response:
    """The delivery receipt as the e-mail receipt attaches it: outcome, every call, page 1 reduced (so far, for a
    job not yet final). The caller's own job with a submit right, any with QUERY_JOBS."""
    server = _server(request)
    async with server.db.transaction() as conn:
        report = await stored_report(conn, await _visible_job(conn, principal, job_id))
    return await receipt_download(report, server.config)


@router.get("/jobs/{job_id}/pages/{page}.png", response_class=Response, summary="One page of a job as PNG",
            responses={200: {"content": {"image/png": {}}}, 404: {"model": Problem}})
async def get_page(request: Request, principal: CurrentPrincipal, job_id: JobId,
                   page: Annotated[int, Path(ge=1, le=10_000)],
                   width: Annotated[int | None, Query(ge=16, le=4000)] = None) -> Response:
    """A page as it is sent (cover page and header included): the preview of what the recipient gets."""
    async with _server(request).db.transaction() as conn:
        job = await _visible_job(conn, principal, job_id)
        if job.document_blob_id is None:
            raise ApiError(404, f"job {job_id} has no rendered pages")
        data = await get_blob(conn, job.document_blob_id)
    return await page_png_response(data, page, width, f"job {job_id}")


@router.get("/jobs/{job_id}/log", response_class=Response, summary="The session logs of a job's calls",
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, 404: {"model": Problem}})
async def get_log(request: Request, principal: CurrentPrincipal, job_id: JobId) -> PlainTextResponse:
    """Every call's T.30 session log, oldest call first, each under a heading line."""
    async with _server(request).db.transaction() as conn:
        await _visible_job(conn, principal, job_id)
        logs = await store.attempt_logs(conn, job_id)
    text = "\n".join(f"== call on {device} at {datetime.fromtimestamp(started, UTC):%Y-%m-%d %H:%M:%S} UTC\n"
                     f"{log.rstrip() or '(no session log)'}\n" for started, device, log in logs)
    return PlainTextResponse(text or "no call has been made yet\n")


Control = Callable[[AsyncConnection, int, float, FaxgateConfig, Principal], Awaitable[StoredJob]]


async def _cancel(conn: AsyncConnection, job_id: int, now: float, config: FaxgateConfig, who: Principal) -> StoredJob:
    return await controls.cancel_job(conn, job_id, now, by=who.name)


async def _pause(conn: AsyncConnection, job_id: int, now: float, config: FaxgateConfig, who: Principal) -> StoredJob:
    return await controls.pause_job(conn, job_id, now)


async def _resume(conn: AsyncConnection, job_id: int, now: float, config: FaxgateConfig, who: Principal) -> StoredJob:
    return await controls.resume_job(conn, job_id, now)


async def _restart(conn: AsyncConnection, job_id: int, now: float, config: FaxgateConfig, who: Principal) -> StoredJob:
    return await controls.restart_job(conn, job_id, now, config)


_CONTROLS: dict[str, tuple[Control, str]] = {
    "cancel": (_cancel, "IFaxOutgoingJob.Cancel"),
    "pause": (_pause, "IFaxOutgoingJob.Pause"),
    "resume": (_resume, "IFaxOutgoingJob.Resume"),
    "restart": (_restart, "IFaxOutgoingJob.Restart"),
}


def _control_route(name: str, action: Control, summary: str) -> None:
    async def control(request: Request, principal: CurrentPrincipal, job_id: JobId) -> OutgoingJob:
        server = _server(request)
        async with server.db.transaction() as conn:
            job = await store.get_job(conn, job_id)
            if job is None:
                raise ApiError(404, f"there is no job {job_id}")
            own = bool(principal.rights & SUBMIT_RIGHTS) and await store.job_principal(conn, job_id) == principal.name
            if not own and not principal.rights & AccessRights.MANAGE_JOBS:
                raise denied(AccessRights.MANAGE_JOBS, f"{name} of another sender's job")
            try:
                changed = await action(conn, job_id, time.time(), server.config, principal)
            except controls.JobControlError as exc:
                raise ApiError(409, str(exc)) from exc
        return job_model(changed)

    control.__doc__ = f"{name.capitalize()} a job: the caller's own with a submit right, any with MANAGE_JOBS."
    router.add_api_route(f"/jobs/{{job_id}}/{name}", control, methods=["POST"], response_model=OutgoingJob,
                         summary=summary, name=f"{name}_job",
                         responses={404: {"model": Problem}, 409: {"model": Problem}})


for _name, (_action, _summary) in _CONTROLS.items():
    _control_route(_name, _action, _summary)


async def _queue_state(conn: AsyncConnection, server: FaxServer) -> QueueState:
    switches = await controls.queue_switches(conn, server.config)
    queued, sending = await controls.queue_counts(conn)
    return QueueState(paused=switches["paused"], blocked=switches["blocked"], queued=queued, sending=sending)


@router.get("/queue", response_model=QueueState, summary="IFaxOutgoingQueue Paused and Blocked")
async def get_queue(request: Request,
                    _: Annotated[Principal, Depends(require(AccessRights.QUERY_CONFIG, "reading the queue"))],
                    ) -> QueueState:
    """The queue switches in force on every node, and the counts."""
    server = _server(request)
    async with server.db.transaction() as conn:
        return await _queue_state(conn, server)


@router.put("/queue", response_model=QueueState, summary="IFaxOutgoingQueue.Save",
            responses={400: {"model": Problem}})
async def put_queue(request: Request, change: QueueChange,
                    _: Annotated[Principal, Depends(require(AccessRights.MANAGE_CONFIG, "changing the queue"))],
                    ) -> QueueState:
    """Pause or resume sending, block or unblock submissions, for every node."""
    server = _server(request)
    async with server.db.transaction() as conn:
        await controls.set_switches(conn, time.time(), server.config, paused=change.paused, blocked=change.blocked)
        return await _queue_state(conn, server)


RECIPIENTS_SCHEMA: dict[str, Any] = {
    "type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/FaxRecipient"},
    "description": 'JSON: [{"number": "+15550100", "name": "Ada"}, ...]',
}


FORMS = {"/api/v1/outgoing/submit": RECIPIENTS_SCHEMA,
         "/api/v1/outgoing/preview": {**RECIPIENTS_SCHEMA, "minItems": 0, "default": []}}
"""The forms with a JSON recipients part, and its schema in each (the preview may have none)."""


def document_submit_form(document: dict[str, Any]) -> None:
    """Describe the submit and preview forms as multipart really carries them, where FastAPI's schema cannot.

    ``recipients`` is a JSON part: FastAPI can only declare the form field as a string, OpenAPI says it with the
    field's schema and an encoding of application/json. An optional field has no null in a form (it is left out),
    so the null branch FastAPI writes for ``X | None`` goes; the files part is then plainly an array of files.
    """
    for path, recipients in FORMS.items():
        content = document["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]
        body = document["components"]["schemas"][content["schema"]["$ref"].rsplit("/", 1)[1]]
        for name, field in body["properties"].items():
            branches = [branch for branch in field.get("anyOf", []) if branch != {"type": "null"}]
            if "anyOf" in field and len(branches) == 1:
                del field["anyOf"]
                body["properties"][name] = {**branches[0], **field}
        body["properties"]["recipients"] = recipients
        content["encoding"] = {"recipients": {"contentType": "application/json"}}
    document["components"]["schemas"].setdefault("FaxRecipient", FaxRecipient.model_json_schema())


def recipients_part(text: str) -> list[FaxRecipient]:
    """The form's JSON recipients part; 400 when it is not a list of recipients."""
    try:
        return _RECIPIENTS.validate_python(json.loads(text))
    except (ValueError, ValidationError):
        raise ApiError(400, 'recipients must be JSON like [{"number": "+15550100", "name": "Ada"}]') from None


@router.post("/submit", response_model=SubmitResult, status_code=202, summary="FaxDocument.Submit",
             responses={400: {"model": Problem}, 409: {"model": Problem}})
async def submit(
    request: Request,
    principal: CurrentPrincipal,
    recipients: Annotated[str, Form(description='JSON: [{"number": "+15550100", "name": "Ada"}, ...]')],
    files: Annotated[list[UploadFile] | None, File(description="The body documents")] = None,
    priority: Annotated[PriorityName | None, Form()] = None,
    subject: Annotated[str, Form(max_length=200)] = "",
    note: Annotated[str, Form(max_length=4000)] = "",
    cover: Annotated[bool, Form()] = False,
    schedule: Annotated[Literal["now", "discount_period", "specific_time"], Form()] = "now",
    send_at: Annotated[datetime | None, Form(description="For specific_time; UTC unless an offset is given")] = None,
    receipt_address: Annotated[str, Form(max_length=320)] = "",
) -> SubmitResult:
    """Queue the files (and a cover page) as one fax to each recipient, as a mail would be."""
    server = _server(request)
    config = server.config
    if not principal.rights & SUBMIT_RIGHTS:
        raise denied(AccessRights.SUBMIT_LOW, "submitting a fax")
    wanted = Priority[priority.upper()] if priority else (
        Priority.NORMAL if principal.rights.may_submit(Priority.NORMAL) else Priority.LOW)
    if not principal.rights.may_submit(wanted):
        raise denied(SUBMIT_RIGHT[wanted], f"submitting at {wanted.name.lower()} priority")
    asked = recipients_part(recipients)
    if not asked:
        raise ApiError(400, "there is no recipient")
    if len(asked) > config.outbox.max_recipients:
        raise ApiError(400, f"at most {config.outbox.max_recipients} recipients per fax")
    try:
        resolved = resolve_recipients(NumberPolicy(config.numbers), [Recipient(r.number, r.name) for r in asked],
                                      principal.destinations)
    except NumberError as exc:
        raise ApiError(400, exc.reason) from None
    documents = [FileToFax(item.filename or "document", await item.read()) for item in files or []]
    if sum(len(item.data) for item in documents) > config.smtp.max_message_size:
        raise ApiError(400, f"the files are larger than {config.smtp.max_message_size} bytes")
    if not documents and not (cover and note):
        raise ApiError(400, "there is nothing to fax: no files, and no cover page with a note")
    kind = {"now": ScheduleType.NOW, "discount_period": ScheduleType.DISCOUNT_PERIOD,
            "specific_time": ScheduleType.SPECIFIC_TIME}[schedule]
    when = None
    if kind == ScheduleType.SPECIFIC_TIME:
        if send_at is None:
            raise ApiError(400, "specific_time needs send_at")
        when = (send_at if send_at.tzinfo else send_at.replace(tzinfo=UTC)).timestamp()
    envelope = receipt_address or principal.email
    raw = files_as_mail(documents, principal.email or "api@localhost", subject or (documents[0].name if documents
                        else "fax"), sender_name=principal.display_name, note=note if cover else "")
    options = submit_options(wanted, kind, when, receipt=bool(receipt_address), cover=cover)
    async with server.db.transaction() as conn:
        try:
            submission_id = await submit_files(conn, config, source="api", principal=principal.name,
                                               envelope_from=envelope, recipients=resolved, raw=raw,
                                               subject=subject, options=options)
        except QueueBlocked as exc:
            raise ApiError(409, str(exc)) from None
    return SubmitResult(submission_id=submission_id,
                        recipients=[FaxRecipient(number=r["number"], name=r["name"]) for r in resolved])
