"""The mailbox backend contract: what the poller and the inbound `mailbox` method need from IMAP, EWS or Graph.

Backends are blocking (imapclient, exchangelib and msal are); the source runs each on its own thread. An item id
is the backend's handle for one mail in one folder (IMAP: "UIDVALIDITY:UID"); it changes when the mail moves, so
the store keys mail by its Message-ID instead.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any, Protocol

from gateway.config.mailboxes import MailboxSection


def tls_context(section: MailboxSection) -> ssl.SSLContext:
    """Verification always on: the system's CAs, or the configured bundle instead."""
    context = ssl.create_default_context(cafile=str(section.ca_file) if section.ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class MailboxUnavailable(Exception):
    """The server cannot be used now (down, refusing, throttling, credentials rejected); try again later.

    `reason` is plain words for the status; `retry_after` is the server's own hint in seconds, if it gave one."""

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class MailboxBackend(Protocol):
    """One logged-in connection to one mailbox (blocking calls)."""

    def connect(self) -> None:
        """Log in (again); MailboxUnavailable if the server cannot be used."""
        ...

    def close(self) -> None:
        """Log out and drop the connection (never raises)."""
        ...

    def ensure_folder(self, folder: str) -> None:
        """Create the folder if it does not exist."""
        ...

    def list_items(self, folder: str) -> list[str]:
        """The item ids in the folder (mail marked deleted is left out): oldest first for IMAP, in the order the
        change feed reports them for EWS (SyncFolderItems) and Graph (delta)."""
        ...

    def fetch_mime(self, folder: str, item_id: str) -> bytes | None:
        """The whole mail as the server has it, without marking it read; None when it is gone."""
        ...

    def move(self, folder: str, item_id: str, target: str) -> bool:
        """Move one mail to `target`; False when it was no longer there (moved or deleted by someone else)."""
        ...

    def find(self, folder: str, message_id: str) -> str | None:
        """The item id of the mail with this Message-ID in the folder, or None."""
        ...

    def create_item(self, folder: str, mime: bytes) -> None:
        """Place a whole mail in the folder (IMAP APPEND, EWS CreateItem, Graph create message)."""
        ...

    def sync_state(self) -> dict[str, Any]:
        """Where incremental listing stands per folder, as JSON for the store; {} when the backend lists whole
        folders each time (IMAP)."""
        ...

    def resume(self, state: dict[str, Any]) -> None:
        """Take incremental listing up where an earlier run left it (the store's copy of `sync_state()`)."""
        ...

    def wait_for_change(self, folder: str, timeout: float, stop: Callable[[], bool]) -> bool | None:
        """Block until the folder changes (True; IMAP IDLE), `timeout` passes or `stop()` is true (False); None at
        once when the server cannot tell (then polling alone finds new mail)."""
        ...


BackendFactory = Callable[[MailboxSection], MailboxBackend]
