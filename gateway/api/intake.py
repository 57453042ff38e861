"""The intake sources of the node that answers (a polled mailbox's state, reason, failures and next try), which
/health also shows: for `faxgate sources` and the console."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request

from gateway.api.models import IntakeSourceStatus
from gateway.api.security import REFUSALS, require
from gateway.enums import AccessRights
from gateway.intake.auth import Principal
from gateway.intake.sources import ReportsStatus

if TYPE_CHECKING:
    from gateway.server import FaxServer

ConfigReader = Annotated[Principal, Depends(require(AccessRights.QUERY_CONFIG, "reading the configuration"))]
router = APIRouter(prefix="/intake", tags=["intake"], responses=REFUSALS)


def _status(report: dict[str, Any]) -> IntakeSourceStatus:
    """A source's own status dict in the published shape (a plug-in's source may report only some keys)."""
    return IntakeSourceStatus(
        name=str(report.get("name", "")), state=str(report.get("state", "")), reason=str(report.get("reason", "")),
        failures=int(report.get("failures") or 0),
        retry_at=float(report["retry_at"]) if report.get("retry_at") is not None else None,
        backend=str(report.get("backend", "")), folder=str(report.get("folder", "")),
        polls=int(report.get("polls") or 0))


@router.get("/sources", response_model=list[IntakeSourceStatus], summary="Intake sources and their state")
async def get_sources(request: Request, _: ConfigReader) -> list[IntakeSourceStatus]:
    """Every intake source on this node that reports a state, in the order they started."""
    server: FaxServer = request.app.state.fax_server
    return [_status(service.status()) for service in server.services if isinstance(service, ReportsStatus)]
