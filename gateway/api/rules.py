"""Inbound routing over HTTP: the rules in order, and the `faxgate route test` dry run (QUERY_CONFIG)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.models import RouteTest, RoutingRules, WholeNumber
from gateway.api.security import REFUSALS, require
from gateway.enums import AccessRights
from gateway.intake.auth import Principal
from routing.dryrun import dry_run, rules_summary

if TYPE_CHECKING:
    from gateway.server import FaxServer

Reader = Annotated[Principal, Depends(require(AccessRights.QUERY_CONFIG, "reading the routing rules"))]
LATEST_TIME = 253_402_214_400
"""9999-12-31 00:00 UTC: the last day a reception time can be read as a local date in any time zone."""
router = APIRouter(prefix="/routing", tags=["routing"], responses=REFUSALS)


class RouteQuestion(BaseModel):
    """A call to imagine: the same facts `faxgate route test` takes."""

    model_config = ConfigDict(strict=True)  # "at": false is a mistake, not the epoch

    device: str = Field(default="", max_length=64)
    did: str = Field(default="", max_length=64)
    caller_id: str = Field(default="", max_length=64)
    caller_name: str = Field(default="", max_length=200)
    tsid: str = Field(default="", max_length=64)
    subaddress: str = Field(default="", max_length=64)
    at: float | None = Field(default=None, ge=0, le=LATEST_TIME,
                             description="Reception time, UNIX seconds (default: now)")
    pages: WholeNumber = Field(default=1, ge=1, le=10_000)


def _server(request: Request) -> FaxServer:
    server: FaxServer = request.app.state.fax_server
    return server


@router.get("/rules", response_model=RoutingRules, summary="The inbound routing rules")
async def get_rules(request: Request, _: Reader) -> RoutingRules:
    """Each rule's match fields and the methods it uses (not their settings, which may hold secrets)."""
    config = _server(request).config
    return RoutingRules(rules=rules_summary(config), admin=config.inbound.admin, timezone=config.inbound.timezone)


@router.post("/test", response_model=RouteTest, summary="Dry-run the rules for a call (faxgate route test)")
async def test_route(request: Request, _: Reader, question: RouteQuestion) -> RouteTest:
    """Which rules match and what would be delivered where; nothing is sent (method discovery runs off the loop)."""
    config = _server(request).config
    return RouteTest.model_validate(await asyncio.to_thread(
        dry_run, config, device=question.device, did=question.did, caller_id=question.caller_id,
        caller_name=question.caller_name, tsid=question.tsid, subaddress=question.subaddress,
        received_at=question.at if question.at is not None else time.time(), pages=question.pages))
