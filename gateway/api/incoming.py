"""IFaxIncomingArchive over HTTP: received faxes (QUERY_IN_ARCHIVE), their TIFF, PDF and page images, how they were
routed; delete and reroute (MANAGE_IN_ARCHIVE)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from gateway.api.faxfiles import pdf_download, tiff_download
from gateway.api.models import IncomingJob, IncomingJobPage, IncomingRouting, Problem, Rerouted, RoutingDelivery
from gateway.api.security import REFUSALS, ApiError, require
from gateway.enums import AccessRights, ExtendedStatus, JobStatus
from gateway.intake.auth import Principal
from gateway.storage import incoming as store

if TYPE_CHECKING:
    from gateway.server import FaxServer

MAX_ID = 2**31 - 1
JobId = Annotated[int, Path(ge=1, le=MAX_ID)]
Reader = Annotated[Principal, Depends(require(AccessRights.QUERY_IN_ARCHIVE, "reading the incoming archive"))]
Manager = Annotated[Principal, Depends(require(AccessRights.MANAGE_IN_ARCHIVE, "deleting a received fax"))]
Rerouter = Annotated[Principal, Depends(require(AccessRights.MANAGE_IN_ARCHIVE, "routing a received fax again"))]
router = APIRouter(prefix="/incoming", tags=["incoming"], responses=REFUSALS)
NOT_FOUND: dict[int | str, dict[str, object]] = {404: {"model": Problem}}


def incoming_model(record: store.IncomingRecord) -> IncomingJob:
    """A stored received fax as IFaxIncomingJob."""
    job = record.job
    try:
        extended = ExtendedStatus(job.extended_status).name.lower()
    except ValueError:
        extended = str(job.extended_status)
    return IncomingJob(
        id=job.id, device_name=job.device_name, transmission_start=job.received_at, transmission_end=job.ended_at,
        caller_id=job.caller_id, caller_name=job.caller_name, routing_information=job.did,
        subaddress=record.subaddress, csid=job.csid, tsid=job.remote_tsid, pages=job.pages, size=record.size,
        status=job.status, status_names=[str(f.name) for f in JobStatus if f & JobStatus(job.status) and f.name],
        extended_status=extended, extended_status_code=job.extended_status, reason=job.reason,
        routing_status=job.routing_status, retries=job.routing_retries, next_routing_at=job.next_routing_at,
        routed_at=job.routed_at, quality=job.quality or {}, archive_path=record.archive_path or "",
        has_tiff=job.tiff_blob_id is not None,
    )


def _server(request: Request) -> FaxServer:
    server: FaxServer = request.app.state.fax_server
    return server


@router.get("/jobs", response_model=IncomingJobPage, summary="IFaxIncomingArchive.GetMessages")
async def get_jobs(request: Request, _: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 100,
                   before: Annotated[int | None, Query(ge=0, le=MAX_ID, description="The last id already seen")]
                   = None) -> IncomingJobPage:
    """Received faxes, newest first."""
    async with _server(request).db.transaction() as conn:
        found = await store.list_jobs(conn, limit=limit + 1, before_id=before)
    more = len(found) > limit
    found = found[:limit]
    return IncomingJobPage(jobs=[incoming_model(r) for r in found], next_before=found[-1].job.id if more else None)


@router.get("/jobs/{job_id}", response_model=IncomingJob, summary="IFaxIncomingArchive.GetMessage",
            responses=NOT_FOUND)
async def get_job(request: Request, _: Reader, job_id: JobId) -> IncomingJob:
    """One received fax."""
    async with _server(request).db.transaction() as conn:
        record = await store.get(conn, job_id)
    if record is None:
        raise ApiError(404, f"there is no received fax {job_id}")
    return incoming_model(record)


@router.get("/jobs/{job_id}/routing", response_model=IncomingRouting, summary="How a received fax was routed",
            responses=NOT_FOUND)
async def get_routing(request: Request, _: Reader, job_id: JobId) -> IncomingRouting:
    """The routing decision (every rule checked), each method's delivery, and the call's session log."""
    async with _server(request).db.transaction() as conn:
        record = await store.get(conn, job_id)
        if record is None:
            raise ApiError(404, f"there is no received fax {job_id}")
        deliveries = await store.deliveries(conn, job_id)
    return routing_model(record, deliveries)


def routing_model(record: store.IncomingRecord, deliveries: list[store.Delivery]) -> IncomingRouting:
    """The routing of one received fax as the API shows it (the CLI prints the same)."""
    decision = record.decision or {}
    return IncomingRouting(
        routing_status=record.job.routing_status, why=str(decision.get("why", "")),
        matched=[str(name) for name in decision.get("matched", [])], decision=record.decision,
        session_log=record.session_log, deliveries=[
            RoutingDelivery(key=d.key, rule=d.rule, method=d.method_name, state=d.state, attempts=d.attempts,
                            last_error=d.last_error, detail=d.detail, delivered_at=d.delivered_at)
            for d in deliveries])


@router.post("/jobs/{job_id}/reroute", response_model=Rerouted, summary="Route a received fax again",
             responses=NOT_FOUND)
async def reroute(request: Request, _: Rerouter, job_id: JobId) -> Rerouted:
    """Route the fax again with the rules in force now (every method runs again)."""
    async with _server(request).db.transaction() as conn:
        done = await store.reroute(conn, job_id, time.time())
    if not done:
        raise ApiError(404, f"there is no received fax {job_id} with pages to route")
    return Rerouted(id=job_id, rerouted=True)


async def _tiff(request: Request, job_id: int) -> bytes:
    async with _server(request).db.transaction() as conn:
        data = await store.tiff(conn, job_id)
    if data is None:
        raise ApiError(404, f"there is no received fax {job_id} with pages")
    return data


@router.get("/jobs/{job_id}/tiff", response_class=Response, summary="IFaxIncomingMessage.CopyTiff",
            responses={200: {"content": {"image/tiff": {}}}, **NOT_FOUND})
async def get_tiff(request: Request, _: Reader, job_id: JobId) -> Response:
    """The fax as received: TIFF Class F."""
    return tiff_download(await _tiff(request, job_id), f"fax-{job_id}")


@router.get("/jobs/{job_id}/pdf", response_class=Response, summary="The received fax as PDF",
            responses={200: {"content": {"application/pdf": {}}}, **NOT_FOUND})
async def get_pdf(request: Request, _: Reader, job_id: JobId) -> Response:
    """The fax as a PDF, one page per fax page at its true aspect ratio."""
    return await pdf_download(await _tiff(request, job_id), f"fax-{job_id}")


PageNumber = Annotated[int, Path(ge=1, le=10_000)]
Width = Annotated[int | None, Query(ge=16, le=4000, description="Scale down to this many pixels wide (a thumbnail)")]
PNG: dict[int | str, dict[str, object]] = {200: {"content": {"image/png": {}}}, **NOT_FOUND}


async def page_png_response(data: bytes, page: int, width: int | None, what: str) -> Response:
    """One page of a stored TIFF as PNG, decoded and drawn off the event loop; 404 past the last page."""
    from gateway.queue.documents import page_png, tiff_pages

    def render() -> bytes | None:
        pages = tiff_pages(data)
        return page_png(pages[page - 1], width) if page <= len(pages) else None

    png = await asyncio.to_thread(render)
    if png is None:
        raise ApiError(404, f"{what} has no page {page}")
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


@router.get("/jobs/{job_id}/pages/{page}.png", response_class=Response, summary="One received page as PNG",
            responses=PNG)
async def get_page(request: Request, _: Reader, job_id: JobId, page: PageNumber, width: Width = None) -> Response:
    """A page of the received fax at its true aspect ratio; ``width`` makes a thumbnail."""
    return await page_png_response(await _tiff(request, job_id), page, width, f"received fax {job_id}")


@router.delete("/jobs/{job_id}", status_code=204, response_class=Response, summary="IFaxIncomingMessage.Delete",
               responses=NOT_FOUND)
async def delete_job(request: Request, _: Manager, job_id: JobId) -> Response:
    """Delete a received fax and its stored TIFF (copies already delivered stay where they went)."""
    async with _server(request).db.transaction() as conn:
        deleted = await store.delete_job(conn, job_id)
    if not deleted:
        raise ApiError(404, f"there is no received fax {job_id}")
    return Response(status_code=204)
