"""A received fax as routing sees it: the facts rules match on and templates may use, read from its incoming job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from gateway.enums import ExtendedStatus


@dataclass(frozen=True)
class ReceivedFax:
    """What is known about one received fax (FAX_ROUTE): who called, which number, which device, how many pages."""

    id: int
    device: str
    device_id: int
    received_at: float
    caller_id: str = ""
    caller_name: str = ""
    did: str = ""
    tsid: str = ""
    csid: str = ""
    subaddress: str = ""
    pages: int = 0
    extended_status: int = int(ExtendedStatus.CALL_COMPLETED)

    @property
    def partial(self) -> bool:
        """True when the call ended before every page arrived."""
        return self.extended_status == int(ExtendedStatus.PARTIALLY_RECEIVED)

    @property
    def sender(self) -> str:
        """The best name for the sender: remote TSID, else caller ID, else "unknown"."""
        return self.tsid.strip() or self.caller_id.strip() or "unknown"

    def received(self, zone: tzinfo = UTC) -> datetime:
        """The reception time in a time zone."""
        return datetime.fromtimestamp(self.received_at, zone)

    def routing_info(self) -> str:
        """Windows RoutingInformation: the dialled number, then "|subaddress" when there is one."""
        return f"{self.did}|{self.subaddress}" if self.subaddress else self.did

    def to_json(self) -> dict[str, Any]:
        """The facts as JSON for webhooks and --json output."""
        return {
            "id": self.id,
            "device": self.device,
            "received_at": self.received_at,
            "caller_id": self.caller_id,
            "caller_name": self.caller_name,
            "did": self.did,
            "tsid": self.tsid,
            "csid": self.csid,
            "subaddress": self.subaddress,
            "pages": self.pages,
            "partial": self.partial,
        }
