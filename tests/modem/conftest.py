"""Fixtures for the fax engine tests: a simulated network on virtual time and faxgate devices on it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from modem.port import ModemPort
from modem.provider import Class1Device, DeviceConfig
from modem.simnet import SimModemPort, SimNetwork

FAXGATE_NUMBER = "5551000"
FAXGATE_IDENT = "+1 555 1000"


@pytest.fixture
def net() -> Iterator[SimNetwork]:
    """A fresh simulated telephone network (virtual time, 60 ms line delay)."""
    network = SimNetwork()
    yield network
    network.close()


def device_on(port: SimModemPort, name: str = "sim0", **config: Any) -> Class1Device:
    """A faxgate device driving ``port``; once the device closes it, a fresh port to the same modem."""
    current = port

    async def opener() -> ModemPort:
        nonlocal current
        if current.closed:
            current = current.network.port(current.name)
        return current

    return Class1Device(DeviceConfig(name=name, csid=FAXGATE_IDENT, **config), opener)
