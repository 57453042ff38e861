"""The routing-method contract (FaxRouteMethod): a GUID, a name, a default priority, and `route(context)`.

A third party ships a method as an object with these attributes and registers it under the entry point
group "faxgate.routing_methods". A method must not change or delete the received TIFF; it may add files to
the file list. It signals "try again later" by raising RoutingFailure(retryable=True).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from typing import Any, Protocol, runtime_checkable

from gateway.config import FaxgateConfig
from routing.fax import ReceivedFax
from routing.files import FileList


class RoutingFailure(Exception):
    """A method could not deliver; ``retryable`` says whether a later attempt can succeed."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass
class RouteContext:
    """Everything one method run sees: the fax, its files, its configuration and the server settings."""

    fax: ReceivedFax
    files: FileList
    config: dict[str, Any]
    """The rule's settings for this method over the device's stored settings for it."""
    settings: FaxgateConfig
    zone: tzinfo
    delivery_key: str
    """Stable across retries and restarts: use it to make a delivery idempotent."""
    node_id: str = ""


@runtime_checkable
class RoutingMethod(Protocol):
    """One inbound routing method."""

    guid: str
    name: str
    friendly_name: str
    default_priority: int

    def check_config(self, config: dict[str, Any]) -> None:
        """Raise ValueError if ``config`` cannot work (checked when the server starts and by `route test`)."""
        ...

    def describe(self, config: dict[str, Any]) -> str:
        """One line saying what the method would do with this configuration."""
        ...

    async def route(self, context: RouteContext) -> str:
        """Deliver the fax; return a short note of what was done (message id, file path, HTTP status)."""
        ...
