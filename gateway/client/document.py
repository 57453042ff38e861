"""FaxDocument: what to send and to whom, built on the client side and handed to a server's submit."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal, overload

if TYPE_CHECKING:
    from gateway.api.models import SubmitResult
    from gateway.client.aio import AsyncFaxServer
    from gateway.client.sync import FaxServer


@dataclass
class FaxRecipient:
    """IFaxRecipient."""

    number: str
    name: str = ""


@dataclass
class FaxDocument:
    """IFaxDocument: body files (paths or (name, bytes)), recipients, cover page, priority, schedule, receipt."""

    body: list[Path | tuple[str, bytes]] = field(default_factory=list)
    recipients: list[FaxRecipient] = field(default_factory=list)
    subject: str = ""
    note: str = ""
    cover: bool = False
    priority: Literal["low", "normal", "high"] | None = None
    send_at: datetime | None = None
    discount: bool = False
    receipt_address: str = ""

    def bodies(self) -> list[tuple[str, bytes]]:
        """Each body document as (file name, bytes)."""
        return [(item.name, item.read_bytes()) if isinstance(item, Path) else item for item in self.body]

    @overload
    def submit(self, server: AsyncFaxServer) -> Awaitable[SubmitResult]: ...

    @overload
    def submit(self, server: FaxServer) -> SubmitResult: ...

    def submit(self, server: AsyncFaxServer | FaxServer) -> Awaitable[SubmitResult] | SubmitResult:
        """FaxDocument.Submit(server): awaitable on an AsyncFaxServer, immediate on a FaxServer."""
        return server.submit(self)
