"""The simulated telephone network of the embedded defaults, over HTTP: its remote fax machines, and asking one of
them to call a faxgate line with a demo fax (the console's button and `faxgate simline call`)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Annotated

import numpy as np
from fastapi import APIRouter, Depends, Request
from PIL import Image, ImageDraw, ImageFont
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.models import Problem, WholeNumber
from gateway.api.security import REFUSALS, ApiError, require
from gateway.enums import AccessRights, DeviceState
from gateway.intake.auth import Principal

if TYPE_CHECKING:
    from gateway.server import FaxServer
    from modem.simnet.network import SimNetwork

WIDTH, ROWS = 1728, 1143
"""An A4 page at standard resolution (204 x 98 dpi)."""
Reader = Annotated[Principal, Depends(require(AccessRights.QUERY_CONFIG, "reading the simulated network"))]
Caller = Annotated[Principal, Depends(require(AccessRights.MANAGE_CONFIG, "placing a simulated call"))]
router = APIRouter(prefix="/simulation", tags=["simulation"], responses=REFUSALS)


class RemoteMachine(BaseModel):
    """A remote fax machine on the simulated network."""

    number: str
    ident: str


class Simulation(BaseModel):
    """The simulated network, if this node runs one, and faxgate's own numbers on it."""

    running: bool
    remotes: list[RemoteMachine]
    lines: dict[str, str] = Field(description="faxgate device name -> its number")


class CallRequest(BaseModel):
    """Which remote machine calls which faxgate number, with how many demo pages."""

    model_config = ConfigDict(strict=True)

    caller: str = Field(default="5550100", max_length=32, description="The remote machine's number")
    to: str = Field(default="", max_length=32, description="A faxgate line's number (default: the first line)")
    pages: WholeNumber = Field(default=2, ge=1, le=10)
    did: str = Field(default="", max_length=32)


class CallPlaced(BaseModel):
    """The call is being made; the fax appears in the inbox when it ends."""

    caller: str
    to: str
    pages: int


def _network(request: Request) -> SimNetwork | None:
    server: FaxServer = request.app.state.fax_server
    for service in server.services:
        network = getattr(service, "network", None)
        if network is not None and hasattr(network, "remotes"):
            return network  # type: ignore[no-any-return]
    return None


def _lines(request: Request) -> dict[str, str]:
    server: FaxServer = request.app.state.fax_server
    return {d.name: d.number for d in server.config.devices if d.provider == "simulated" and d.number}


def _idle_line(request: Request, lines: dict[str, str]) -> str:
    """The number of the first simulated line that is ready (a busy one would turn the caller away), else the first."""
    server: FaxServer = request.app.state.fax_server
    for service in server.services:
        devices = getattr(service, "devices", None)
        if isinstance(devices, dict):
            for name, number in lines.items():
                line = devices.get(name)
                if line is not None and getattr(line, "state", None) == DeviceState.READY:
                    return number
    return next(iter(lines.values()), "")


@router.get("", response_model=Simulation, summary="The simulated network")
async def get_simulation(request: Request, _: Reader) -> Simulation:
    """Its remote machines and faxgate's numbers on it (running is false when this node has none)."""
    network = _network(request)
    remotes = [] if network is None else [RemoteMachine(number=number, ident=remote.spec.ident)
                                          for number, remote in sorted(network.remotes.items())]
    return Simulation(running=network is not None, remotes=remotes, lines=_lines(request))


def _font(name: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.truetype(name, size)
    except OSError:
        return ImageFont.load_default()


def demo_pages(count: int, caller: str, ident: str) -> list[np.ndarray]:
    """Pages with a letterhead and lines of text, packed one bit per pixel (1 = black) as the fax engine wants."""
    big, small = _font("DejaVuSans-Bold.ttf", 64), _font("DejaVuSans.ttf", 32)
    stamp = time.strftime("%Y-%m-%d %H:%M")
    pages = []
    for number in range(1, count + 1):
        image = Image.new("L", (WIDTH, ROWS * 2), 255)  # square pixels, squeezed to standard resolution below
        draw = ImageDraw.Draw(image)
        draw.rectangle((120, 160, WIDTH - 120, 192), fill=0)
        draw.text((120, 240), f"Fax from {ident or caller}", font=big, fill=0)
        draw.text((120, 340), f"Simulated machine {caller} - {stamp} - page {number} of {count}", font=small, fill=0)
        for row in range(14):
            draw.text((120, 480 + row * 60), f"{row + 1:>2}. " + "Lorem ipsum dolor sit amet, consectetur " * 2,
                      font=small, fill=0)
        squeezed = image.resize((WIDTH, ROWS), Image.Resampling.BOX).point(lambda v: 255 if v > 160 else 0)
        bits = (np.asarray(squeezed, dtype=np.uint8) == 0).astype(np.uint8)
        pages.append(np.packbits(bits, axis=1))
    return pages


@router.post("/calls", response_model=CallPlaced, status_code=202, summary="Ask a remote machine to call in",
             responses={404: {"model": Problem}, 409: {"model": Problem}})
async def place_call(request: Request, _: Caller, call: CallRequest) -> CallPlaced:
    """The remote machine dials the faxgate number and sends demo pages; the fax arrives as any other."""
    network = _network(request)
    if network is None:
        raise ApiError(409, "this node runs no simulated network ([simulation] enabled with simulated devices)")
    remote = network.remotes.get(call.caller)
    if remote is None:
        raise ApiError(404, f"there is no remote machine {call.caller} on the simulated network")
    lines = _lines(request)
    target = call.to or _idle_line(request, lines)
    if target not in lines.values():
        raise ApiError(404, f"no faxgate line answers {target or 'any number'} on the simulated network")
    pages = await asyncio.to_thread(demo_pages, call.pages, call.caller, remote.spec.ident)
    remote.call(target, pages, fine=False, caller_id=call.caller, caller_name=remote.spec.ident, did=call.did)
    return CallPlaced(caller=call.caller, to=target, pages=call.pages)
