"""Fax devices (modems and simulated lines) and the simulated telephone network."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from gateway.config.base import Section


class DeviceSection(Section):
    """One fax device, after IFaxDevice: station ids, send/receive switches, rings before answer."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    provider: str = "class1"
    """A device provider by name (a ``faxgate.device_providers`` entry point): faxgate's own "class1" and
    "simulated", or one an installed package registers."""
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
    description: str = Field(default="", max_length=256)
    routing_methods: dict[str, bool] = Field(default_factory=dict)
    """Routing methods (name or GUID) switched on or off for this device (IFaxDevice.UseRoutingMethod); a method
    not named here follows [[inbound.methods]]."""
    """Free text shown with the device (IFaxDevice.Description)."""
    enabled: bool = True
    """False keeps the line "disabled": configured and shown, never opened."""

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        """Only installed providers (entry points, read without importing them); one that fails to load is known,
        and its lines show "not ready"."""
        from modem.providers import ProviderRegistry, unknown_provider

        known = ProviderRegistry().names()
        if value not in known:
            raise ValueError(unknown_provider(value, known))
        return value


class SimulationSection(Section):
    """The built-in simulated phone network: soft-modems and remote fax machines, for demos and tests."""

    enabled: bool = False
    layout: Path | None = None
    """A simnet layout file; empty for the built-in demo layout listed in the README."""
    pty_dir: Path | None = None
