"""IFaxOutgoingArchive over HTTP: sent faxes (QUERY_OUT_ARCHIVE), their TIFF and PDF, delete (MANAGE_OUT_ARCHIVE).

The store is the archive every node shares (the sent document is a blob there); the archive folder is each node's
file copy, which a delete also removes on the node that serves the request.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from gateway.api.faxfiles import RECEIPT_RESPONSES, pdf_download, receipt_download, tiff_download
from gateway.api.models import Problem
from gateway.api.outgoing import job_model
from gateway.api.security import REFUSALS, ApiError, require
from gateway.api.settings_models import ArchivedJob, ArchivedJobPage
from gateway.enums import AccessRights
from gateway.intake.auth import Principal
from gateway.model import OutgoingJob
from gateway.queue.report import stored_report
from gateway.storage import get_blob
from gateway.storage import outarchive as store

if TYPE_CHECKING:
    from gateway.server import FaxServer

MAX_ID = 2**31 - 1
MessageId = Annotated[int, Path(ge=1, le=MAX_ID)]
Reader = Annotated[Principal, Depends(require(AccessRights.QUERY_OUT_ARCHIVE, "reading the outgoing archive"))]
Manager = Annotated[Principal, Depends(require(AccessRights.MANAGE_OUT_ARCHIVE, "deleting a sent fax"))]
router = APIRouter(prefix="/outgoing-archive", tags=["outgoing archive"], responses=REFUSALS)
NOT_FOUND: dict[int | str, dict[str, object]] = {404: {"model": Problem}}


def _server(request: Request) -> FaxServer:
    server: FaxServer = request.app.state.fax_server
    return server


def archived(job: OutgoingJob) -> ArchivedJob:
    """A sent job as IFaxOutgoingMessage."""
    return ArchivedJob(**job_model(job).model_dump(), archived_time=job.archived_at)


@router.get("/messages", response_model=ArchivedJobPage, summary="IFaxOutgoingArchive.GetMessages")
async def get_messages(request: Request, _: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 100,
                       before: Annotated[int | None, Query(ge=0, le=MAX_ID, description="The last id already seen")]
                       = None) -> ArchivedJobPage:
    """Sent faxes, newest first, across every node."""
    async with _server(request).db.transaction() as conn:
        found = await store.list_sent(conn, before_id=before, limit=limit + 1)
    more = len(found) > limit
    found = found[:limit]
    return ArchivedJobPage(messages=[archived(job) for job in found], next_before=found[-1].id if more else None)


@router.get("/messages/{message_id}", response_model=ArchivedJob, summary="IFaxOutgoingArchive.GetMessage",
            responses=NOT_FOUND)
async def get_message(request: Request, _: Reader, message_id: MessageId) -> ArchivedJob:
    """One sent fax."""
    async with _server(request).db.transaction() as conn:
        job = await store.get_sent(conn, message_id)
    if job is None:
        raise ApiError(404, f"there is no sent fax {message_id}")
    return archived(job)


async def _tiff(request: Request, message_id: int) -> bytes:
    async with _server(request).db.transaction() as conn:
        job = await store.get_sent(conn, message_id)
        if job is None or job.document_blob_id is None:
            raise ApiError(404, f"there is no sent fax {message_id} with pages")
        return await get_blob(conn, job.document_blob_id)


@router.get("/messages/{message_id}/tiff", response_class=Response, summary="IFaxOutgoingMessage.CopyTiff",
            responses={200: {"content": {"image/tiff": {}}}, **NOT_FOUND})
async def get_tiff(request: Request, _: Reader, message_id: MessageId) -> Response:
    """The fax as sent: TIFF Class F."""
    return tiff_download(await _tiff(request, message_id), f"sent-{message_id}")


@router.get("/messages/{message_id}/pdf", response_class=Response, summary="The sent fax as PDF",
            responses={200: {"content": {"application/pdf": {}}}, **NOT_FOUND})
async def get_pdf(request: Request, _: Reader, message_id: MessageId) -> Response:
    """The fax as a PDF, one page per fax page at its true aspect ratio."""
    return await pdf_download(await _tiff(request, message_id), f"sent-{message_id}")


@router.get("/messages/{message_id}/receipt", response_class=Response, summary="The sent fax's transmission report",
            responses={**RECEIPT_RESPONSES, **NOT_FOUND})
async def get_receipt(request: Request, _: Reader, message_id: MessageId) -> Response:
    """The delivery receipt as PDF: outcome, every call, page 1 reduced."""
    server = _server(request)
    async with server.db.transaction() as conn:
        job = await store.get_sent(conn, message_id)
        if job is None:
            raise ApiError(404, f"there is no sent fax {message_id}")
        report = await stored_report(conn, job)
    return await receipt_download(report, server.config)


@router.delete("/messages/{message_id}", status_code=204, response_class=Response,
               summary="IFaxOutgoingMessage.Delete", responses=NOT_FOUND)
async def delete_message(request: Request, _: Manager, message_id: MessageId) -> Response:
    """Delete a sent fax from the store, and this node's archive file of it."""
    server = _server(request)
    async with server.db.transaction() as conn:
        job = await store.get_sent(conn, message_id)
        deleted = await store.delete_sent(conn, message_id)
    if not deleted or job is None:
        raise ApiError(404, f"there is no sent fax {message_id}")
    section = server.config.archive.outgoing
    folder = section.folder or server.config.server.data_dir / "archive" / "outgoing"
    stamp = datetime.fromtimestamp(job.final_at or job.submitted_at, UTC)
    path = folder / stamp.strftime("%Y") / stamp.strftime("%m") / f"{message_id}.tif"
    for leftover in (path, path.with_suffix(".json")):
        leftover.unlink(missing_ok=True)
    return Response(status_code=204)
