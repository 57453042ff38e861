"""Submissions over HTTP: the broadcasts behind the outgoing jobs' SubmissionId, as Windows shows jobs: a sender
sees its own with a submit right, everyone's needs QUERY_JOBS (the right to view all outgoing jobs)."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, Path, Query, Request

from gateway.api.models import Problem, SubmissionInfo
from gateway.api.outgoing import SUBMIT_RIGHTS
from gateway.api.security import REFUSALS, ApiError, CurrentPrincipal, denied
from gateway.enums import AccessRights
from gateway.intake.auth import Principal
from gateway.model import Submission
from gateway.storage import submissions as store

if TYPE_CHECKING:
    from gateway.server import FaxServer

SubmissionId = Annotated[str, Path(pattern=r"^[0-9A-Za-z-]{1,36}$", description="The SubmissionId")]
router = APIRouter(prefix="/submissions", tags=["outgoing"], responses=REFUSALS)


def submission_model(submission: Submission) -> SubmissionInfo:
    """A stored submission as the API shows it (the CLI prints the same with --offline)."""
    return SubmissionInfo.model_validate(asdict(submission))


def _owner(principal: Principal, doing: str) -> str | None:
    """None when the caller sees every submission (QUERY_JOBS), else its own name (a submit right); else 403."""
    if principal.rights & AccessRights.QUERY_JOBS:
        return None
    if principal.rights & SUBMIT_RIGHTS:
        return principal.name
    raise denied(AccessRights.QUERY_JOBS, doing)


def _server(request: Request) -> FaxServer:
    server: FaxServer = request.app.state.fax_server
    return server


@router.get("", response_model=list[SubmissionInfo],
            summary="Submissions (broadcasts): own with a submit right, all with QUERY_JOBS")
async def list_submissions(request: Request, principal: CurrentPrincipal,
                           state: Annotated[Literal["received", "rendering", "queued", "failed"] | None,
                                            Query(description="Only submissions in this state")] = None,
                           limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[SubmissionInfo]:
    """Newest first: everyone's with QUERY_JOBS, else the caller's own with a submit right."""
    owner = _owner(principal, "listing submissions")
    async with _server(request).db.transaction() as conn:
        found = await store.list_submissions(conn, state, limit, principal=owner)
    return [submission_model(item) for item in found]


@router.get("/{submission_id}", response_model=SubmissionInfo,
            summary="One submission: own with a submit right, any with QUERY_JOBS",
            responses={404: {"model": Problem}})
async def get_submission(request: Request, principal: CurrentPrincipal,
                         submission_id: SubmissionId) -> SubmissionInfo:
    """One submission with its state, recipients and options; 403 for another sender's without QUERY_JOBS."""
    owner = _owner(principal, "reading a submission")
    async with _server(request).db.transaction() as conn:
        found = await store.get_submission(conn, submission_id)
    if found is None:
        raise ApiError(404, f"there is no submission {submission_id}")
    if owner is not None and found.principal != owner:
        raise denied(AccessRights.QUERY_JOBS, "seeing another sender's submission")
    return submission_model(found)
