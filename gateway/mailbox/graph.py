"""The Microsoft Graph backend (Exchange Online): msal client-credentials tokens, httpx for the REST calls.

New mail is found with a delta query on the folder (`messages/delta`): the first poll lists the folder, later
polls ask only for changes with the deltaLink. The source keeps the deltaLink and the ids still in the folder in
the store (`sync_state`), so a restarted source resumes the delta instead of listing the folder again. MIME comes
from `messages/{id}/$value`; moves are `messages/{id}/move`; a received fax is created in a folder as a message
with a file attachment, flagged as sent (not a draft). 429 and 503 carry Retry-After, which becomes the source's
wait; a 401 drops the cached token so the next try gets a new one. Application permission needed: Mail.ReadWrite
(limit it to the fax mailbox with an application access policy).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

import httpx
import msal
import requests

from gateway.config.mailboxes import MailboxSection
from gateway.mailbox.backend import MailboxUnavailable, tls_context

GRAPH = "https://graph.microsoft.com/v1.0"
SCOPE = ["https://graph.microsoft.com/.default"]
PR_MESSAGE_FLAGS_SENT = {"id": "Integer 0x0E07", "value": "1"}
"""MSGFLAG_READ: an item created in a folder shows as a received mail, not as a draft."""


class _NotFound(Exception):
    """404: the item or folder is gone."""


class _Gone(Exception):
    """410 to a deltaLink (syncStateNotFound, resyncRequired): Graph no longer knows it; list the folder again."""


class GraphBackend:
    """One Graph mailbox (blocking; used from one thread at a time)."""

    def __init__(self, section: MailboxSection) -> None:
        self.section = section
        self.base = (section.endpoint or GRAPH).rstrip("/") + f"/users/{quote(section.address)}"
        self._http: httpx.Client | None = None
        self._app: Any = None
        self._folders: dict[str, str] = {}
        self._delta: dict[str, str] = {}
        """The deltaLink per folder path, from the last complete delta round."""
        self._known: dict[str, list[str]] = {}
        """The message ids in each folder (by path) as the delta rounds tell it, oldest first."""

    def connect(self) -> None:
        """An HTTP client and an MSAL app (tokens are fetched on the first request)."""
        self.close()
        section = self.section
        session = requests.Session()
        session.trust_env = False  # REQUESTS_CA_BUNDLE would override the CA configured here
        session.verify = str(section.ca_file) if section.ca_file else True
        authority = section.authority or f"https://login.microsoftonline.com/{section.tenant_id}"
        try:  # MSAL reads the authority's OpenID configuration here
            self._app = msal.ConfidentialClientApplication(
                section.client_id, client_credential=section.client_secret, authority=authority, http_client=session,
                instance_discovery=bool(not section.authority), timeout=section.timeout.total_seconds())
        except (requests.RequestException, ValueError) as exc:
            raise MailboxUnavailable(f"cannot reach the token authority {authority}: {type(exc).__name__}: "
                                     f"{str(exc)[:200]}") from exc
        self._http = httpx.Client(verify=tls_context(section), timeout=section.timeout.total_seconds(),
                                  trust_env=False)

    def close(self) -> None:
        """Drop the HTTP client (the token cache goes with the MSAL app)."""
        http, self._http, self._app = self._http, None, None
        self._folders = {}
        if http is not None:
            http.close()

    def _token(self) -> str:
        try:
            result = self._app.acquire_token_for_client(scopes=SCOPE)
        except (requests.RequestException, ValueError) as exc:
            raise MailboxUnavailable(f"cannot get a Graph token: {type(exc).__name__}: {str(exc)[:200]}") from exc
        if "access_token" not in result:
            raise MailboxUnavailable(f"the token endpoint refused: {result.get('error', 'no token')}: "
                                     f"{str(result.get('error_description', ''))[:200]}")
        return str(result["access_token"])

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One Graph call; 404 raises _NotFound, anything else that is not a success is MailboxUnavailable."""
        if self._http is None:
            self.connect()
        assert self._http is not None
        full = url if url.startswith("https://") or url.startswith("http://") else self.base + url
        try:
            response = self._http.request(method, full, headers={"Authorization": f"Bearer {self._token()}"},
                                          **kwargs)
        except httpx.HTTPError as exc:
            self.close()
            raise MailboxUnavailable(f"Graph {method} failed: {type(exc).__name__}: {str(exc)[:200]}") from exc
        if response.status_code == 404:
            raise _NotFound(url)
        if response.status_code == 410:
            raise _Gone(url)
        if response.status_code == 401:
            self._app.remove_tokens_for_client()  # MSAL would hand out the same token again
            raise MailboxUnavailable("Graph refused the token (401); a new one is fetched on the next try")
        if response.status_code in (429, 503) or response.status_code >= 500:
            after = response.headers.get("Retry-After", "")
            raise MailboxUnavailable(f"Graph answered {response.status_code} to {method}"
                                     + (" (throttled)" if response.status_code == 429 else ""),
                                     retry_after=float(after) if after.isdigit() else None)
        if response.status_code >= 400:
            raise MailboxUnavailable(f"Graph answered {response.status_code} to {method}: {response.text[:200]}")
        return response

    def _children(self, parent: str | None) -> list[dict[str, Any]]:
        url = f"/mailFolders/{parent}/childFolders" if parent else "/mailFolders"
        found: list[dict[str, Any]] = []
        next_url: str | None = url + "?$top=100"
        while next_url:
            page = self._request("GET", next_url).json()
            found += page.get("value", [])
            next_url = page.get("@odata.nextLink")
        return found

    def _folder(self, path: str, create: bool = False) -> str:
        """The folder id at `path` ("INBOX" is the well-known inbox)."""
        if path in self._folders:
            return self._folders[path]
        parts = [part for part in path.split("/") if part]
        parent: str | None = None
        if parts and parts[0].upper() == "INBOX":
            parent = str(self._request("GET", "/mailFolders/inbox").json()["id"])
            parts = parts[1:]
        for name in parts:
            found = next((f for f in self._children(parent) if str(f.get("displayName", "")).lower() == name.lower()),
                         None)
            if found is None:
                if not create:
                    raise _NotFound(path)
                url = f"/mailFolders/{parent}/childFolders" if parent else "/mailFolders"
                found = self._request("POST", url, json={"displayName": name}).json()
            parent = str(found["id"])
        assert parent is not None
        self._folders[path] = parent
        return parent

    def ensure_folder(self, folder: str) -> None:
        """Find it, or create it."""
        self._folder(folder, create=True)

    def list_items(self, folder: str) -> list[str]:
        """The folder's messages by delta query: the whole folder first, then only what changed; a deltaLink
        Graph no longer takes (410, e.g. one stored long ago) starts the folder over."""
        try:
            return self._delta_round(folder)
        except _Gone:
            self._delta.pop(folder, None)
            self._known.pop(folder, None)
            return self._delta_round(folder)

    def _delta_round(self, folder: str) -> list[str]:
        """Follow the nextLinks to the new deltaLink, applying each change to the ids known in the folder."""
        folder_id = self._folder(folder)
        known = self._known.setdefault(folder, [])
        url: str | None = self._delta.get(folder) or f"/mailFolders/{folder_id}/messages/delta?$select=id"
        while url:
            page = self._request("GET", url).json()
            for change in page.get("value", []):
                item_id = str(change["id"])
                if "@removed" in change:
                    if item_id in known:
                        known.remove(item_id)
                elif item_id not in known:
                    known.append(item_id)
            url = page.get("@odata.nextLink")
            if "@odata.deltaLink" in page:
                self._delta[folder] = str(page["@odata.deltaLink"])
        return list(known)

    def fetch_mime(self, folder: str, item_id: str) -> bytes | None:
        """GET messages/{id}/$value."""
        try:
            return self._request("GET", f"/messages/{item_id}/$value").content
        except _NotFound:
            return None

    def move(self, folder: str, item_id: str, target: str) -> bool:
        """POST messages/{id}/move; False when it is gone. A move that failed keeps the mail listed (the delta
        will not name it again, and the next poll must finish it)."""
        destination = self._folder(target)
        try:
            self._request("POST", f"/messages/{item_id}/move", json={"destinationId": destination})
            moved = True
        except _NotFound:
            moved = False
        known = self._known.get(folder, [])
        if item_id in known:
            known.remove(item_id)
        return moved

    def find(self, folder: str, message_id: str) -> str | None:
        """Messages in the folder with this internetMessageId."""
        folder_id = self._folder(folder)
        quoted = message_id.replace("'", "''")
        page = self._request("GET", f"/mailFolders/{folder_id}/messages",
                             params={"$filter": f"internetMessageId eq '{quoted}'", "$select": "id"}).json()
        values = page.get("value", [])
        return str(values[0]["id"]) if values else None

    def create_item(self, folder: str, mime: bytes) -> None:
        """POST a message with its file attachments into the folder."""
        message = message_from_bytes(mime, policy=policy.default)
        assert isinstance(message, EmailMessage)
        body = message.get_body(("plain",))
        payload = {
            "subject": str(message["Subject"] or ""),
            "body": {"contentType": "text", "content": body.get_content() if body is not None else ""},
            "internetMessageId": str(message["Message-ID"] or ""),
            "singleValueExtendedProperties": [PR_MESSAGE_FLAGS_SENT],
            "attachments": [{"@odata.type": "#microsoft.graph.fileAttachment",
                             "name": part.get_filename() or "attachment", "contentType": part.get_content_type(),
                             "contentBytes": base64.b64encode(part.get_content()).decode()}
                            for part in message.iter_attachments()],
        }
        self._request("POST", f"/mailFolders/{self._folder(folder, create=True)}/messages", json=payload)

    def sync_state(self) -> dict[str, Any]:
        """Per folder path the deltaLink and the ids still in the folder (both are needed: the delta tells only
        changes, and a mail left for later must be listed again after a restart)."""
        return {folder: {"delta": link, "known": list(self._known.get(folder, []))}
                for folder, link in self._delta.items()}

    def resume(self, state: dict[str, Any]) -> None:
        """Take up the stored deltaLinks (an entry that is not one is ignored: that folder is listed whole)."""
        for folder, entry in state.items():
            if isinstance(entry, dict) and isinstance(entry.get("delta"), str):
                self._delta[folder] = entry["delta"]
                self._known[folder] = [str(item) for item in entry.get("known", [])]

    def wait_for_change(self, folder: str, timeout: float, stop: Callable[[], bool]) -> bool | None:
        """Graph has change notifications (webhooks faxgate would have to expose); the delta poll is used."""
        return None
