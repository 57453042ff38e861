"""The IMAP backend on imapclient: UID commands only, BODY.PEEK so nothing is marked read, MOVE (RFC 6851) where
offered (else COPY, flag deleted, UID EXPUNGE), IDLE (RFC 2177) where offered.

Item ids are "UIDVALIDITY:UID". When a folder's UIDVALIDITY changes (the folder was recreated or the server
rebuilt its index), every id taken before is stale: it is treated as gone, never as another mail. Mail is keyed
by Message-ID in the store, so nothing is faxed twice because its UID changed.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from gateway.config.mailboxes import MailboxSection
from gateway.logs import log_event, logger
from gateway.mailbox.backend import MailboxUnavailable, tls_context

log = logger("general")
IDLE_SLICE_S = 1.0
"""IDLE is checked in slices this long, so a stopping source is not held up for a whole poll interval."""
_TRANSIENT = (OSError, socket.timeout, ssl.SSLError, imaplib.IMAP4.abort, IMAPClientError)


class ImapBackend:
    """One IMAP connection to one mailbox (blocking; used from one thread at a time)."""

    def __init__(self, section: MailboxSection) -> None:
        self.section = section
        self._client: Any = None
        self._selected: str | None = None
        self.uidvalidity: dict[str, int] = {}
        """The UIDVALIDITY each folder had when last selected."""

    def _call(self, what: str, action: Callable[[], Any]) -> Any:
        """Run one command; a broken connection becomes MailboxUnavailable (and is dropped, to reconnect)."""
        if self._client is None:
            self.connect()
        try:
            return action()
        except LoginError as exc:
            self.close()
            raise MailboxUnavailable(f"the IMAP server refused the login: {_text(exc)}") from exc
        except _TRANSIENT as exc:
            self.close()
            raise MailboxUnavailable(f"IMAP {what} failed: {type(exc).__name__}: {_text(exc)}") from exc

    def connect(self) -> None:
        """Connect (TLS as configured) and log in."""
        self.close()
        section = self.section
        try:
            client = IMAPClient(section.host, port=section.port, ssl=section.tls == "implicit",
                                ssl_context=tls_context(section) if section.tls != "none" else None,
                                timeout=section.timeout.total_seconds())
            if section.tls == "starttls":
                client.starttls(tls_context(section))
            client.login(section.username, section.password)
        except LoginError as exc:
            raise MailboxUnavailable(f"the IMAP server refused the login: {_text(exc)}") from exc
        except _TRANSIENT as exc:
            raise MailboxUnavailable(f"cannot reach the IMAP server {section.host}:{section.port}: "
                                     f"{type(exc).__name__}: {_text(exc)}") from exc
        self._client = client
        self._selected = None

    def close(self) -> None:
        """Log out if possible, else just drop the socket."""
        client, self._client, self._selected = self._client, None, None
        if client is None:
            return
        try:
            client.logout()
        except Exception:
            with contextlib.suppress(Exception):  # the connection is being dropped either way
                client.shutdown()

    def _select(self, folder: str) -> None:
        if self._selected == folder:
            return
        info = self._client.select_folder(folder)
        validity = int(info.get(b"UIDVALIDITY", 0))
        previous = self.uidvalidity.get(folder)
        if previous is not None and previous != validity:
            log_event(log, logging.WARNING, "mailbox.uidvalidity_changed", mailbox=self.section.name,
                      folder=folder, was=previous, now=validity)
        self.uidvalidity[folder] = validity
        self._selected = folder

    def _uid(self, folder: str, item_id: str) -> int | None:
        """The UID an id names in the selected folder; None when its UIDVALIDITY is no longer the folder's."""
        validity, _, uid = item_id.partition(":")
        if int(validity) != self.uidvalidity.get(folder):
            return None
        return int(uid)

    def ensure_folder(self, folder: str) -> None:
        """CREATE unless it exists."""
        def run() -> None:
            if not self._client.folder_exists(folder):
                try:
                    self._client.create_folder(folder)
                except imaplib.IMAP4.error as exc:
                    if isinstance(exc, imaplib.IMAP4.abort) or "ALREADYEXISTS" not in str(exc):
                        raise  # else: created by another session (another node) meanwhile
        self._call("CREATE", run)

    def list_items(self, folder: str) -> list[str]:
        """UID SEARCH UNDELETED in the folder."""
        def run() -> list[str]:
            self._selected = None  # reselect: a fresh view of the folder and its UIDVALIDITY
            self._select(folder)
            validity = self.uidvalidity[folder]
            return [f"{validity}:{uid}" for uid in sorted(self._client.search(["UNDELETED"]))]
        result: list[str] = self._call("SEARCH", run)
        return result

    def fetch_mime(self, folder: str, item_id: str) -> bytes | None:
        """UID FETCH BODY.PEEK[] (leaves \\Seen alone)."""
        def run() -> bytes | None:
            self._select(folder)
            uid = self._uid(folder, item_id)
            if uid is None:
                return None
            found = self._client.fetch([uid], ["BODY.PEEK[]"])
            data = found.get(uid, {}).get(b"BODY[]")
            return bytes(data) if data is not None else None
        result: bytes | None = self._call("FETCH", run)
        return result

    def move(self, folder: str, item_id: str, target: str) -> bool:
        """UID MOVE (or COPY + \\Deleted + UID EXPUNGE); False if the mail is no longer in `folder`."""
        def run() -> bool:
            self._select(folder)
            uid = self._uid(folder, item_id)
            self._client.noop()  # hear about mail expunged by another session before looking
            if uid is None or not self._client.search(["UID", str(uid), "UNDELETED"]):
                return False
            try:
                if self._client.has_capability("MOVE"):
                    self._client.move([uid], target)
                else:
                    self._client.copy([uid], target)
                    self._client.add_flags([uid], [b"\\Deleted"])
                    self._client.uid_expunge([uid])
            except imaplib.IMAP4.error as exc:
                if isinstance(exc, imaplib.IMAP4.abort) or "EXPUNGEISSUED" not in str(exc):
                    raise
                return False  # taken away by another session between the search and the move
            return True
        result: bool = self._call("MOVE", run)
        return result

    def find(self, folder: str, message_id: str) -> str | None:
        """UID SEARCH HEADER Message-ID in the folder."""
        def run() -> str | None:
            self._selected = None
            self._select(folder)
            uids = self._client.search(["HEADER", "Message-ID", message_id])
            return f"{self.uidvalidity[folder]}:{min(uids)}" if uids else None
        result: str | None = self._call("SEARCH", run)
        return result

    def create_item(self, folder: str, mime: bytes) -> None:
        """APPEND, marked unread so a person notices it."""
        self._call("APPEND", lambda: self._client.append(folder, mime))

    def sync_state(self) -> dict[str, Any]:
        """SEARCH lists the whole folder each poll (UIDs are cheap): nothing to keep across restarts."""
        return {}

    def resume(self, state: dict[str, Any]) -> None:
        """Nothing to take up: see sync_state."""

    def wait_for_change(self, folder: str, timeout: float, stop: Callable[[], bool]) -> bool | None:
        """IDLE on the folder until the server reports a change, `timeout` passes or `stop()` is true."""
        def run() -> bool | None:
            if not self._client.has_capability("IDLE"):
                return None
            self._selected = None
            self._select(folder)
            self._client.idle()
            changed = False
            deadline = time.monotonic() + timeout
            try:
                while not changed and not stop() and time.monotonic() < deadline:
                    responses = self._client.idle_check(timeout=min(IDLE_SLICE_S, max(deadline - time.monotonic(),
                                                                                        0.01)))
                    changed = any(_is_change(response) for response in responses)
            finally:
                self._client.idle_done()
            return changed
        result: bool | None = self._call("IDLE", run)
        return result


def _is_change(response: Any) -> bool:
    """An untagged "* N EXISTS" or "* N EXPUNGE" (new mail, or mail taken away)."""
    return isinstance(response, tuple) and len(response) >= 2 and response[1] in (b"EXISTS", b"EXPUNGE")


def _text(exc: BaseException) -> str:
    text = str(exc)
    return text[:200] if text else type(exc).__name__
