"""The EWS backend on exchangelib, for on-premises Exchange (Exchange Online is switching EWS off in 2026-27).

exchangelib is blocking; the source calls it from the mailbox's own thread. No autodiscover and a fixed server
version, so no probing requests; FailFast, because the source retries with its own backoff and status.
Folder names are paths from the top of the mailbox ("Processed", "Faxes/Received"); "INBOX" is the Inbox and
"INBOX/Done" a folder below it, as with IMAP. Item ids are EWS ItemIds (they change when an item moves).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import requests.adapters
from exchangelib import (
    BASIC,
    DELEGATE,
    NTLM,
    OAUTH2,
    Account,
    Configuration,
    Credentials,
    FailFast,
    FileAttachment,
    Folder,
    Identity,
    Message,
    OAuth2Credentials,
    Version,
)
from exchangelib.errors import (
    ErrorFolderNotFound,
    ErrorItemNotFound,
    ErrorServerBusy,
    EWSError,
    TransportError,
    UnauthorizedError,
)
from exchangelib.folders import FolderCollection
from exchangelib.properties import ItemId
from exchangelib.protocol import BaseProtocol
from exchangelib.version import EXCHANGE_2016
from oauthlib.oauth2 import OAuth2Error
from requests.exceptions import RequestException

from gateway.config.mailboxes import MailboxSection
from gateway.mailbox.backend import MailboxUnavailable

_CA_BY_HOST: dict[str, str] = {}
"""A configured CA bundle per EWS host: exchangelib has one HTTP adapter class for the whole process."""
_CA_LOCK = threading.Lock()


class _CaByHostAdapter(requests.adapters.HTTPAdapter):
    """Verifies each EWS host against its configured CA bundle (else the system's); never turns verification off."""

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        host = (urlsplit(url).hostname or "").lower()
        super().cert_verify(conn, url, _CA_BY_HOST.get(host, verify), cert)


class _ClientCredentials(OAuth2Credentials):  # type: ignore[misc]
    """OAuth2 client credentials with a configurable token endpoint (exchangelib hard-wires Microsoft's)."""

    def __init__(self, *args: Any, token_endpoint: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._token_endpoint = token_endpoint

    @property
    def token_url(self) -> str:
        return self._token_endpoint or str(super().token_url)


def _unavailable(what: str, exc: Exception) -> MailboxUnavailable:
    """An exchangelib or transport error as the source's retryable outage, with the server's back-off if any."""
    retry_after = getattr(exc, "back_off", None)
    if isinstance(exc, UnauthorizedError | OAuth2Error):
        return MailboxUnavailable(f"the EWS server refused the credentials ({what}): {type(exc).__name__}")
    if isinstance(exc, ErrorServerBusy):
        return MailboxUnavailable(f"the EWS server is busy ({what}); it asks to wait",
                                  retry_after=float(retry_after) if retry_after else None)
    return MailboxUnavailable(f"EWS {what} failed: {type(exc).__name__}: {str(exc)[:200]}")


_FAILURES = (EWSError, TransportError, RequestException, OAuth2Error, OSError)


class EwsBackend:
    """One exchangelib Account for one mailbox (blocking; used from one thread at a time)."""

    def __init__(self, section: MailboxSection) -> None:
        self.section = section
        self._account: Any = None
        self._folders: dict[str, Any] = {}

    def _call(self, what: str, action: Callable[[], Any]) -> Any:
        if self._account is None:
            self.connect()
        try:
            return action()
        except (ErrorItemNotFound, ErrorFolderNotFound):
            raise
        except _FAILURES as exc:
            self.close()
            raise _unavailable(what, exc) from exc

    def connect(self) -> None:
        """An Account on the configured endpoint (no I/O until the first call)."""
        section = self.section
        address = section.address or section.username
        if section.ca_file is not None:
            with _CA_LOCK:
                _CA_BY_HOST[(urlsplit(section.endpoint).hostname or "").lower()] = str(section.ca_file)
                BaseProtocol.HTTP_ADAPTER_CLS = _CaByHostAdapter
        credentials: Any
        if section.auth == "oauth2":
            credentials = _ClientCredentials(client_id=section.client_id, client_secret=section.client_secret,
                                             tenant_id=section.tenant_id or None,
                                             identity=Identity(primary_smtp_address=address),
                                             token_endpoint=section.token_url)
            auth_type = OAUTH2
        else:
            credentials = Credentials(section.username, section.password)
            auth_type = NTLM if section.auth == "ntlm" else BASIC
        config = Configuration(service_endpoint=section.endpoint, credentials=credentials, auth_type=auth_type,
                               version=Version(build=EXCHANGE_2016), retry_policy=FailFast(),
                               max_connections=1)
        self._account = Account(address, config=config, autodiscover=False, access_type=DELEGATE)
        self._folders = {}

    def close(self) -> None:
        """Drop the Account and its HTTP sessions."""
        account, self._account, self._folders = self._account, None, {}
        if account is not None:
            with contextlib.suppress(Exception):  # dropping it either way
                account.protocol.close()

    def _children(self, parent: Any) -> list[Any]:
        """The direct subfolders of `parent` (one FindFolder, shallow)."""
        return list(FolderCollection(account=self._account, folders=[parent]).find_folders(depth="Shallow"))

    def _folder(self, path: str, create: bool = False) -> Any:
        """The folder at `path`; ErrorFolderNotFound unless `create`."""
        if path in self._folders:
            return self._folders[path]
        parts = [part for part in path.split("/") if part]
        if parts and parts[0].upper() == "INBOX":
            folder, parts = self._account.inbox, parts[1:]
        else:
            folder = self._account.msg_folder_root
        for name in parts:
            found = next((child for child in self._children(folder) if (child.name or "").lower() == name.lower()),
                         None)
            if found is None:
                if not create:
                    raise ErrorFolderNotFound(f"no folder {path!r}")
                found = Folder(parent=folder, name=name)
                found.save()
            folder = found
        self._folders[path] = folder
        return folder

    def ensure_folder(self, folder: str) -> None:
        """FindFolder, and CreateFolder where missing."""
        self._call("CreateFolder", lambda: self._folder(folder, create=True))

    def list_items(self, folder: str) -> list[str]:
        """FindItem in the folder, oldest first (ids only)."""
        def run() -> list[str]:
            items = self._folder(folder).all().order_by("datetime_received").only("id", "changekey")
            return [str(item.id) for item in items]
        result: list[str] = self._call("FindItem", run)
        return result

    def fetch_mime(self, folder: str, item_id: str) -> bytes | None:
        """GetItem with MimeContent; None when the item is gone."""
        def run() -> bytes | None:
            [item] = list(self._account.fetch(ids=[ItemId(id=item_id)], only_fields=["mime_content"]))
            if isinstance(item, Exception) or item.mime_content is None:
                return None
            return bytes(item.mime_content)
        result: bytes | None = self._call("GetItem", run)
        return result

    def move(self, folder: str, item_id: str, target: str) -> bool:
        """MoveItem; False when the item is gone (moved or deleted by someone else)."""
        def run() -> bool:
            outcome = list(self._account.bulk_move(ids=[ItemId(id=item_id)], to_folder=self._folder(target)))
            return not any(isinstance(entry, Exception) for entry in outcome)
        result: bool = self._call("MoveItem", run)
        return result

    def find(self, folder: str, message_id: str) -> str | None:
        """FindItem restricted to the InternetMessageId."""
        def run() -> str | None:
            found = list(self._folder(folder).filter(message_id=message_id).only("id", "changekey")[:1])
            return str(found[0].id) if found else None
        result: str | None = self._call("FindItem", run)
        return result

    def create_item(self, folder: str, mime: bytes) -> None:
        """CreateItem (SaveOnly) in the folder: the mail's subject, text and file attachments, and its Message-ID."""
        message = message_from_bytes(mime, policy=policy.default)
        assert isinstance(message, EmailMessage)

        def run() -> None:
            body = message.get_body(("plain",))
            attachments = [FileAttachment(name=part.get_filename() or "attachment", content=part.get_content(),
                                          content_type=part.get_content_type())
                           for part in message.iter_attachments()]
            item = Message(account=self._account, folder=self._folder(folder, create=True),
                           subject=str(message["Subject"] or ""), message_id=str(message["Message-ID"] or ""),
                           body=body.get_content() if body is not None else "", attachments=attachments)
            item.save()
        self._call("CreateItem", run)

    def wait_for_change(self, folder: str, timeout: float, stop: Callable[[], bool]) -> bool | None:
        """EWS has streaming notifications, but a poll at the interval is what this backend does."""
        return None
