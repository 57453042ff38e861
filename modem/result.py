"""What a fax call produced, in the Windows Fax Service's words (extended status) plus the line figures."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import IntEnum
from typing import Any


class ExtendedStatus(IntEnum):
    """FAX_JOB_EXTENDED_STATUS_ENUM: what the device last reported for a job (fjes*)."""

    NONE = 0
    DISCONNECTED = 1
    INITIALIZING = 2
    DIALING = 3
    TRANSMITTING = 4
    ANSWERED = 5
    RECEIVING = 6
    LINE_UNAVAILABLE = 7
    BUSY = 8
    NO_ANSWER = 9
    BAD_ADDRESS = 10
    NO_DIAL_TONE = 11
    FATAL_ERROR = 12
    CALL_DELAYED = 13
    CALL_BLACKLISTED = 14
    NOT_FAX_CALL = 15
    PARTIALLY_RECEIVED = 16
    HANDLED = 17
    CALL_COMPLETED = 18
    CALL_ABORTED = 19
    PROPRIETARY = 0x01000000

    @property
    def retryable(self) -> bool:
        """False for results that no retry can change (FS_BAD_ADDRESS, FS_CALL_BLACKLISTED, user abort)."""
        return self not in (
            ExtendedStatus.BAD_ADDRESS,
            ExtendedStatus.CALL_BLACKLISTED,
            ExtendedStatus.CALL_ABORTED,
            ExtendedStatus.CALL_COMPLETED,
        )


@dataclass
class CallResult:
    """The outcome of one send or receive call, as a device provider reports it at the end of a job."""

    status: ExtendedStatus
    reason: str = ""
    """A plain-words reason for people (receipts, job status), never raw modem output."""
    pages: int = 0
    """Pages confirmed by the far end (MCF/PIP) when sending; pages stored when receiving."""
    pages_total: int = 0
    bit_rate: int = 0
    ecm: bool = False
    compression: str = ""
    """"MH", "MR" or "MMR"."""
    resolution: str = ""
    """"standard" or "fine"."""
    remote_csid: str = ""
    """The far end's identifier (CSI when sending, TSI when receiving), already made safe to print."""
    caller_id: str = ""
    caller_name: str = ""
    did: str = ""
    subaddress: str = ""
    """The T.30 subaddress the sender sent with DCS (receiving only), sanitized; routes by ``subaddresses``."""
    duration_s: float = 0.0
    files: list[str] = field(default_factory=list)
    """Received TIFF Class F files, one per call."""
    session_log: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every page went through."""
        return self.status == ExtendedStatus.CALL_COMPLETED

    def to_json(self) -> dict[str, Any]:
        """The fields as plain JSON types, for ``--json`` output and storage."""
        data = asdict(self)
        data["status"] = self.status.name.lower()
        data["ok"] = self.ok
        data.pop("session_log")
        return data
