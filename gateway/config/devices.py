"""Fax devices (modems and simulated lines) and the simulated telephone network."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from gateway.config.base import Section


class DeviceSection(Section):
    """One fax device, after IFaxDevice: station ids, send/receive switches, rings before answer."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    provider: Literal["class1", "simulated"] = "class1"
    port: str = ""
    """Serial device such as /dev/ttyUSB0 or a pty path; unused by simulated devices."""
    profile: Literal["generic", "iaxmodem", "t38modem"] = "generic"
    number: str = ""
    """The number of this line on the simulated network."""
    tsid: str = "faxgate"
    csid: str = "faxgate"
    send_enabled: bool = True
    receive_mode: Literal["auto", "manual", "no_answer"] = "auto"
    rings_before_answer: int = Field(default=2, ge=1, le=20)
    max_bit_rate: Literal[2400, 4800, 7200, 9600, 12000, 14400] = 14400
    ecm: bool = True


class SimulationSection(Section):
    """The built-in simulated phone network: soft-modems and remote fax machines, for demos and tests."""

    enabled: bool = False
    layout: Path | None = None
    """A simnet layout file; empty for the built-in demo layout listed in the README."""
    pty_dir: Path | None = None
