"""The device provider contract, after the Windows FSP: one ``FaxDevice`` protocol for sending and receiving.

A provider (``faxgate.device_providers`` entry point) turns a ``DeviceSpec`` into a ``FaxDevice``. The Class 1
session (modem.provider.Class1Device) is one strategy behind it; a Class 2 or T.38 session would be another.
``start`` raises ``DeviceNotReady`` with a plain reason when the line cannot be used yet (Home Assistant's
ConfigEntryNotReady): the caller retries with backoff. ``report`` is FaxDevReportStatus: the last call progress
and, once the port or modem failed, why, so the line can be restarted without restarting the server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from modem.port import ModemPort
from modem.result import CallResult, ExtendedStatus
from modem.t30.common import StatusCallback
from modem.t30.receiver import TsidScreen
from modem.t30.sender import PagePlan

Bitmap = npt.NDArray[np.uint8]
PageStamp = Callable[[Bitmap], Bitmap]
HeaderFactory = Callable[[int, int], PageStamp]
"""``header(page_index, page_count)`` returns a function that stamps the header line onto a page."""
PortOpener = Callable[[], Awaitable[ModemPort]]


class DeviceNotReady(Exception):
    """The line cannot be used now (port missing, modem silent); ``str()`` is the plain reason. Retried later."""


@dataclass
class SendJob:
    """One outgoing fax call."""

    dial_string: str
    tiff_path: str
    first_page: int = 0
    """0-based index of the first page to send (to resume after a partial send)."""
    tsid: str = ""
    header: HeaderFactory | None = None
    max_bit_rate: int = 14400
    ecm: bool = True
    plan: PagePlan | None = None
    """Chooses each next page and hears each confirmation (a batch of jobs); None: every page in order."""


@dataclass
class IncomingCall:
    """A ringing line: who calls (untrusted, made printable) and which number they dialled."""

    caller_id: str = ""
    caller_name: str = ""
    did: str = ""
    rings: int = 0
    transcript: list[str] = field(default_factory=list, repr=False)
    """The session log while it rang (RING, caller ID and DID reports)."""


@dataclass(frozen=True)
class DeviceReport:
    """FaxDevReportStatus: the last progress of the current or last call, and a port or modem fault if any."""

    status: ExtendedStatus = ExtendedStatus.NONE
    fault: str = ""
    """Non-empty once the port or the modem failed: the line must be started again before it is used."""
    ringing: bool = False
    """A call is ringing that has been neither answered nor rung out: a send waits for it (no glare)."""


@dataclass(frozen=True)
class DeviceSpec:
    """What a provider is given for one line (from the [[devices]] config, without gateway types)."""

    name: str
    port: str = ""
    profile: str = "generic"
    csid: str = ""
    rings_to_answer: int = 2
    max_bit_rate: int = 14400
    ecm: bool = True
    open_port: PortOpener | None = None
    """Set by the server for lines it hosts itself (the simulated network); else the provider opens ``port``."""


@runtime_checkable
class FaxDevice(Protocol):
    """One fax line, as the queue (send) and inbound routing (wait for a call, answer, reject) use it."""

    async def start(self) -> None:
        """Open the line and check the modem answers; raises DeviceNotReady (with the reason) if it cannot."""
        ...

    async def send(self, job: SendJob, on_status: StatusCallback) -> CallResult:
        """Dial, send the pages from ``job.first_page`` on (as ``job.plan`` chooses, telling it each confirmed page),
        hang up; the result says what the far end confirmed."""
        ...

    async def wait_for_call(self, timeout: float | None = None) -> IncomingCall:
        """Return once a call has rung the device's number of rings; TimeoutError when none did in time."""
        ...

    async def answer(
        self,
        call: IncomingCall,
        out_dir: str | Path,
        csid: str = "",
        *,
        screen_tsid: TsidScreen | None = None,
        max_pages: int | None = None,
        on_status: StatusCallback | None = None,
    ) -> CallResult:
        """Pick up and receive into a TIFF in ``out_dir``, ending the call on a refused TSID or past max_pages.
        A device that can should keep each page in ``out_dir``/pages as it is taken (modem.rxspool), for crash
        recovery, and tell ``on_status`` (RECEIVING, page) as each page begins."""
        ...

    async def reject(self, call: IncomingCall) -> None:
        """Let the call ring out."""
        ...

    def report(self) -> DeviceReport:
        """The device's status now (FaxDevReportStatus)."""
        ...

    async def finish_after_page(self) -> None:
        """End the call being sent once its page in flight is confirmed."""
        ...

    async def abort(self) -> None:
        """Drop the call in progress; its send or answer returns CALL_ABORTED."""
        ...

    async def close(self) -> None:
        """Release the port; the next start or call opens it afresh."""
        ...


class DeviceProvider(Protocol):
    """A device provider (FSP): makes the device for one configured line."""

    def create(self, spec: DeviceSpec) -> FaxDevice:
        """The device for ``spec``; raising here leaves the line "not ready" with the reason."""
        ...
