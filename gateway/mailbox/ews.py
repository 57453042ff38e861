"""The EWS backend on exchangelib, for on-premises Exchange (Exchange Online is switching EWS off in 2026-27).

exchangelib is blocking; the source calls it from the mailbox's own thread. No autodiscover and a fixed server
version, so no probing requests; FailFast, because the source retries with its own backoff and status.
Folder names are paths from the top of the mailbox ("Processed", "Faxes/Received"); "INBOX" is the Inbox and
"INBOX/Done" a folder below it, as with IMAP. Item ids are EWS ItemIds (they change when an item moves).

New mail is found with SyncFolderItems: the first poll gets the whole folder, later polls only the changes since
the SyncState, which the source keeps in the store with the ids still in the folder (a restart resumes it). A
mail is marked read with UpdateItem (read receipts suppressed) before MoveItem takes it out, so a person looking
at the processed folder sees which mail faxgate handled. An item the server cannot convert to MIME is rebuilt
from GetItem's properties and its file attachments, fetched with GetAttachment.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
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
    HTMLBody,
    Identity,
    Message,
    OAuth2Credentials,
    Version,
)
from exchangelib.errors import (
    ErrorFolderNotFound,
    ErrorInvalidSyncStateData,
    ErrorItemNotFound,
    ErrorMimeContentConversionFailed,
    ErrorServerBusy,
    EWSError,
    TransportError,
    UnauthorizedError,
)
from exchangelib.folders import FolderCollection
from exchangelib.items import ALWAYS_OVERWRITE
from exchangelib.properties import ItemId
from exchangelib.protocol import BaseProtocol
from exchangelib.version import EXCHANGE_2016
from oauthlib.oauth2 import OAuth2Error
from requests.exceptions import RequestException

from gateway.config.mailboxes import MailboxSection
from gateway.mailbox.backend import MailboxUnavailable
from gateway.textsafe import safe_text

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
_PROPERTIES = ("subject", "body", "author", "to_recipients", "cc_recipients", "message_id", "datetime_sent",
               "attachments")
"""What a mail is rebuilt from when the server cannot give its MIME."""


def _address(mailbox: Any) -> str:
    """An EWS Mailbox as one address header value (control characters blanked: it came from the sender)."""
    return formataddr((safe_text(mailbox.name or "", 200), safe_text(mailbox.email_address or "", 254)))


class EwsBackend:
    """One exchangelib Account for one mailbox (blocking; used from one thread at a time)."""

    def __init__(self, section: MailboxSection) -> None:
        self.section = section
        self._account: Any = None
        self._folders: dict[str, Any] = {}
        self._sync: dict[str, str] = {}
        """The SyncState per folder path, from the last complete SyncFolderItems round."""
        self._known: dict[str, dict[str, str | None]] = {}
        """The item ids (with their ChangeKeys) in each folder as the sync rounds tell it, in the order reported."""

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
        """SyncFolderItems (ids only): the whole folder first, then only what changed; a SyncState the server no
        longer takes starts the folder over."""
        def run() -> list[str]:
            try:
                return self._sync_folder(folder)
            except ErrorInvalidSyncStateData:
                self._sync.pop(folder, None)
                self._known.pop(folder, None)
                return self._sync_folder(folder)
        result: list[str] = self._call("SyncFolderItems", run)
        return result

    def _sync_folder(self, folder: str) -> list[str]:
        """One sync round: apply the changes to the known ids; the new SyncState only once every page is in."""
        target = self._folder(folder)
        target.item_sync_state = self._sync.get(folder)  # exchangelib falls back on the folder's own otherwise
        known = dict(self._known.get(folder, {}))
        changes = target.sync_items(sync_state=self._sync.get(folder), only_fields=["id", "changekey"])
        for entry in changes:
            if isinstance(entry, Exception):
                raise entry
            change, item = entry
            if change in ("create", "update"):
                known[str(item.id)] = item.changekey
            elif change == "delete":
                known.pop(str(item.id), None)
        if target.item_sync_state:
            self._sync[folder] = str(target.item_sync_state)
        self._known[folder] = known
        return list(known)

    def fetch_mime(self, folder: str, item_id: str) -> bytes | None:
        """GetItem with MimeContent; None when the item is gone. An item the server cannot convert to MIME
        (ErrorMimeContentConversionFailed) is rebuilt from its properties and file attachments instead of being
        left in the folder for ever."""
        def run() -> bytes | None:
            [item] = list(self._account.fetch(ids=[ItemId(id=item_id)], only_fields=["mime_content"]))
            if isinstance(item, ErrorMimeContentConversionFailed):
                return self._rebuilt(item_id)
            if isinstance(item, Exception) or item.mime_content is None:
                return None
            return bytes(item.mime_content)
        result: bytes | None = self._call("GetItem", run)
        return result

    def _rebuilt(self, item_id: str) -> bytes | None:
        """The mail from GetItem's properties, each file attachment's content by GetAttachment (streamed)."""
        [item] = list(self._account.fetch(ids=[ItemId(id=item_id)], only_fields=list(_PROPERTIES)))
        if isinstance(item, Exception):
            return None
        message = EmailMessage()
        if item.author is not None:
            message["From"] = _address(item.author)
        for header, people in (("To", item.to_recipients), ("Cc", item.cc_recipients)):
            if people:
                message[header] = ", ".join(_address(person) for person in people)
        message["Subject"] = safe_text(item.subject or "", 998)
        if item.message_id:
            message["Message-ID"] = safe_text(item.message_id, 255)
        if item.datetime_sent is not None:
            message["Date"] = format_datetime(item.datetime_sent)
        message.set_content(str(item.body or ""), subtype="html" if isinstance(item.body, HTMLBody) else "plain")
        for attachment in item.attachments or []:
            if isinstance(attachment, FileAttachment):
                kind = (attachment.content_type or "").partition("/")
                maintype, subtype = (kind[0], kind[2]) if kind[2] else ("application", "octet-stream")
                message.add_attachment(attachment.content, maintype=maintype, subtype=subtype,
                                       filename=safe_text(attachment.name or "attachment", 200))
        return message.as_bytes(policy=policy.SMTP)

    def move(self, folder: str, item_id: str, target: str) -> bool:
        """UpdateItem (read, no read receipt), then MoveItem; False when the item is gone (moved or deleted by
        someone else)."""
        known = self._known.get(folder, {})

        def run() -> bool:
            read = Message(account=self._account, id=item_id, changekey=known.get(item_id), is_read=True)
            [marked] = self._account.bulk_update(items=[(read, ["is_read"])], conflict_resolution=ALWAYS_OVERWRITE,
                                                 suppress_read_receipts=True)
            if isinstance(marked, ErrorItemNotFound):
                return False
            if isinstance(marked, Exception):
                raise marked
            outcome = list(self._account.bulk_move(ids=[ItemId(id=item_id)], to_folder=self._folder(target)))
            return not any(isinstance(entry, Exception) for entry in outcome)
        try:
            result: bool = self._call("UpdateItem/MoveItem", run)
        except ErrorItemNotFound:
            result = False
        known.pop(item_id, None)  # out of the folder either way
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

    def sync_state(self) -> dict[str, Any]:
        """Per folder path the SyncState and the ids still in the folder with their ChangeKeys (the sync tells
        only changes, and a mail left for later must be listed again after a restart)."""
        return {folder: {"sync": state, "known": [[item, key] for item, key in self._known.get(folder, {}).items()]}
                for folder, state in self._sync.items()}

    def resume(self, state: dict[str, Any]) -> None:
        """Take up the stored SyncStates (an entry that is not one is ignored: that folder is synced whole)."""
        for folder, entry in state.items():
            if isinstance(entry, dict) and isinstance(entry.get("sync"), str):
                self._sync[folder] = entry["sync"]
                self._known[folder] = {str(pair[0]): (str(pair[1]) if pair[1] else None)
                                       for pair in entry.get("known", []) if isinstance(pair, list) and len(pair) == 2}

    def wait_for_change(self, folder: str, timeout: float, stop: Callable[[], bool]) -> bool | None:
        """EWS has streaming notifications, but a poll at the interval is what this backend does."""
        return None
