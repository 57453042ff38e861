"""What a simulated remote fax machine is like, what it kept, and how a line is impaired."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from modem import spandsp

PackedBitmap = npt.NDArray[np.uint8]

MODEM_BITS = {"V.27ter": spandsp.MODEM_V27TER, "V.29": spandsp.MODEM_V29, "V.17": spandsp.MODEM_V17}
COMPRESSION_BITS = {
    "1D": spandsp.COMPRESSION_T4_1D,
    "2D": spandsp.COMPRESSION_T4_2D,
    "T.6": spandsp.COMPRESSION_T6,
}


@dataclass
class RemoteFaxSpec:
    """A remote fax machine's capabilities and behaviour on the simulated network."""

    ident: str = ""
    """CSI when answering, TSI when calling (up to 20 characters)."""
    modems: tuple[str, ...] = ("V.17", "V.29", "V.27ter")
    compressions: tuple[str, ...] = ("1D", "2D", "T.6")
    """T.6 is only used with ECM."""
    ecm: bool = True
    fine: bool = True
    answer_after_rings: int = 2
    busy: bool = False
    busy_first_calls: int = 0
    """Answer BUSY to this many calls, then behave normally."""
    never_answer: bool = False
    no_dial_tone: bool = False
    """Calls to this number get NO DIALTONE (as if the caller's line were dead)."""
    not_fax: bool = False
    """Answers, but is a telephone: silence, no fax tones."""
    hangup_after_page_data_s: float | None = None
    """Drop the line after this many seconds of high-speed page data in one call."""
    hangup_after_pages: int | None = None
    """Drop the line one second into the page after this many pages were received (or sent)."""

    def terminal_config(self) -> spandsp.TerminalConfig:
        """The spandsp fax terminal settings for this machine."""
        modems = 0
        for name in self.modems:
            modems |= MODEM_BITS[name]
        compressions = 0
        for name in self.compressions:
            compressions |= COMPRESSION_BITS[name]
        return spandsp.TerminalConfig(
            ident=self.ident, modems=modems, compressions=compressions, ecm=self.ecm, fine=self.fine
        )


Outcome = Literal["completed", "failed", "busy", "no answer", "no dial tone", "not answered", "dropped"]


@dataclass
class RemoteCallRecord:
    """One call a remote fax machine took part in, as that machine saw it."""

    direction: Literal["received", "sent"]
    peer: str
    """The faxgate modem's name (or the calling modem's number)."""
    outcome: Outcome = "not answered"
    completion_code: int | None = None
    completion: str = ""
    """spandsp's words for the T.30 completion code ("OK" on success)."""
    pages: list[PackedBitmap] = field(default_factory=list)
    """Pages received, as packed bitmaps (empty when this machine sent)."""
    pages_sent: int = 0
    bit_rate: int = 0
    ecm: bool = False
    encoding: str = ""
    """"MH", "MR" or "MMR"."""
    resolution: str = ""
    """"standard" or "fine"."""
    remote_ident: str = ""
    """The faxgate side's TSI (when receiving) or CSI (when sending)."""
    bad_rows: int = 0
    caller_id: str = ""
    caller_name: str = ""
    did: str = ""
    subaddress: str = ""
    """The T.30 subaddress this machine sent with DCS when calling ("" for none)."""
    started_s: float = 0.0
    ended_s: float = 0.0
    log: list[str] = field(default_factory=list)
    frames: list[tuple[bool, bytes]] = field(default_factory=list)
    """(incoming, frame without FCS) for every T.30 frame, in order."""

    @property
    def ok(self) -> bool:
        """True when the T.30 session ended with completion code OK."""
        return self.completion_code == 0


Window = Literal["always", "tcf", "page", "call"]


@dataclass
class Impairment:
    """Noise added to the audio that one endpoint hears, restricted to some part of each call.

    ``toward`` names the endpoint that hears the noise (a modem name or a remote number). ``during``:
    "tcf" (the training check after DCS), "page" (page data, ECM or not), "always" (every high-speed
    carrier), or "call" (seconds since the call was connected). ``occurrences`` picks which windows of
    that kind count (0-based, per call); None means all. Inside a window the noise starts ``start_s``
    in and lasts ``duration_s`` (None: to the end of the window).
    """

    toward: str
    during: Window = "page"
    occurrences: tuple[int, ...] | None = None
    start_s: float = 0.0
    duration_s: float | None = None
    noise_rms: float = 6000.0
    bit_error_rate: float = 0.0
    """When set, no audio noise: bits of the high-speed data (TCF/page) passing a faxgate modem's DTE flip
    with this probability instead (the line's modems keep their training, as on a line with a steady
    error rate)."""
    calls: tuple[int, ...] | None = None
    """Which calls of that endpoint are impaired (0-based); None: every call."""
