"""A local EWS server speaking SOAP shaped like Microsoft's documented responses, for driving the real exchangelib.

It keeps a small mailbox in memory (folders with parents, items with their MIME), answers GetFolder, FindFolder,
CreateFolder, FindItem, SyncFolderItems, GetItem (MimeContent, or the properties of an item whose MIME "fails"),
GetAttachment, UpdateItem, MoveItem and CreateItem, checks Basic, Bearer or NTLM authorization, gives items new ids
when they move (as Exchange does), and records every request's operation, XML and Authorization header so tests
assert on what faxgate sent. Outages: `down` answers 503, `fail_with` queues HTTP statuses (500, 401), `fail_on`
fails one request of an operation. With `ntlm=True` every request needs a real NTLM handshake on its connection,
checked by pyspnego as the acceptor.

SyncFolderItems reads a change log (Create, Update, ReadFlagChange, Delete per folder, in order); its SyncState is
an opaque base64 position in that log, at most `sync_page` changes a response (IncludesLastItemInRange false while
more are left); `forget_sync_states()` makes every earlier SyncState ErrorInvalidSyncStateData, as a mailbox move or
a store repair does on a real server.
"""

from __future__ import annotations

import base64
import email
import itertools
import json
import ssl
import threading
from dataclasses import dataclass, field
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

import spnego
import spnego.exceptions
import trustme
from lxml import etree

S = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
E = "http://schemas.microsoft.com/exchange/services/2006/errors"
NS = {"s": S, "m": M, "t": T}
ENVELOPE = (f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{S}"><s:Header>'
            f'<h:ServerVersionInfo MajorVersion="15" MinorVersion="1" MajorBuildNumber="2507" MinorBuildNumber="6" '
            f'Version="V2017_07_11" xmlns:h="{T}"/></s:Header><s:Body>{{body}}</s:Body></s:Envelope>')
DISTINGUISHED = {"root": ("Root", None), "msgfolderroot": ("Top of Information Store", "root"),
                 "inbox": ("Inbox", "msgfolderroot")}


@dataclass
class FakeFolder:
    id: str
    name: str
    parent: str | None
    distinguished: str = ""


@dataclass
class FakeItem:
    id: str
    folder: str
    mime: bytes
    message_id: str
    subject: str = ""
    body: str = ""
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)
    received: int = 0
    is_read: bool = False
    mime_fails: bool = False
    """GetItem of its MimeContent answers ErrorMimeContentConversionFailed (as Exchange does for some items)."""


@dataclass
class Request:
    operation: str
    xml: bytes
    authorization: str


class FakeExchange:
    """The mailbox and the recorded requests; `serve()` starts HTTPS on 127.0.0.1."""

    def __init__(self, ca: trustme.CA, *, user: str = "fax@example.com", password: str = "pw",
                 bearer: str = "", ntlm: bool = False) -> None:
        self.ca = ca
        self.user, self.password, self.bearer = user, password, bearer
        self.folders: dict[str, FakeFolder] = {}
        self.items: dict[str, FakeItem] = {}
        self.requests: list[Request] = []
        self.fail_with: list[int] = []
        self.fail_on: list[tuple[str, int]] = []
        """One-shot: the first request for the operation gets the HTTP status."""
        self.busy_ms: list[int] = []
        """Throttling: each entry answers one request with ErrorServerBusy and this BackOffMilliseconds."""
        self.token_requests: list[dict[str, str]] = []
        self.ntlm = ntlm
        """NTLM instead of Basic: each request's handshake is checked by pyspnego against NTLM_USER_FILE, and the
        request is recorded with "NTLM <user>" as its authorization."""
        self.ntlm_negotiations = 0
        self.down = False
        self.changes: list[tuple[str, str, str]] = []
        """The change log SyncFolderItems reads: (folder id, Create|Update|ReadFlagChange|Delete, item id)."""
        self.sync_page = 0
        """At most this many changes per SyncFolderItems response (0: as many as the client asks for)."""
        self.sync_epoch = 1
        self._ids = itertools.count(1)
        self.lock = threading.Lock()
        for key, (name, parent) in DISTINGUISHED.items():
            self.folders[key] = FakeFolder(f"F-{key}", name, f"F-{parent}" if parent else None, key)
        self.folders = {folder.id: folder for folder in self.folders.values()}
        self.server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ the mailbox, as a person sees it

    def folder_named(self, path: str) -> FakeFolder | None:
        parts = [part for part in path.split("/") if part]
        current = self.folders["F-inbox"] if parts and parts[0].upper() == "INBOX" else self.folders["F-msgfolderroot"]
        if parts and parts[0].upper() == "INBOX":
            parts = parts[1:]
        for name in parts:
            found = next((f for f in self.folders.values()
                          if f.parent == current.id and f.name.lower() == name.lower()), None)
            if found is None:
                return None
            current = found
        return current

    def deliver(self, mime: bytes, folder: str = "INBOX", *, mime_fails: bool = False) -> str:
        """A mail arriving in a folder (one whose MIME the server cannot give, with `mime_fails`)."""
        target = self.folder_named(folder)
        assert target is not None
        parsed = email.message_from_bytes(mime, policy=policy.default)
        item = FakeItem(f"I-{next(self._ids)}", target.id, mime, str(parsed["Message-ID"] or ""),
                        str(parsed["Subject"] or ""), received=next(self._ids), mime_fails=mime_fails)
        with self.lock:
            self.items[item.id] = item
            self.changes.append((target.id, "Create", item.id))
        return item.id

    def forget_sync_states(self) -> None:
        """Every SyncState handed out so far is refused from now on (the client must sync the folder again)."""
        with self.lock:
            self.sync_epoch += 1

    def in_folder(self, path: str) -> list[FakeItem]:
        target = self.folder_named(path)
        return [] if target is None else [i for i in self.items.values() if i.folder == target.id]

    def operations(self) -> list[str]:
        return [request.operation for request in self.requests]

    # ------------------------------------------------------------------ HTTP

    def serve(self) -> FakeExchange:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if fake.ntlm else "HTTP/1.0"  # NTLM authenticates one connection
            context: Any = None
            """This connection's NTLM acceptor while a handshake is under way."""

            def log_message(self, *args: Any) -> None:
                pass

            def _challenge(self, header: str) -> None:
                self.send_response(401)
                self.send_header("WWW-Authenticate", header)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _ntlm(self) -> str | None:
                """The NTLM handshake on this connection (pyspnego as the acceptor, users from NTLM_USER_FILE):
                the authenticated user once the AUTHENTICATE message checks out, else None (a 401 was sent)."""
                header = self.headers.get("Authorization", "")
                if not header.startswith("NTLM "):
                    self.context = None
                    self._challenge("NTLM")
                    return None
                token = base64.b64decode(header[5:])
                if token[8:12] == b"\x01\x00\x00\x00":  # NEGOTIATE: a new handshake
                    self.context = spnego.server(protocol="ntlm", options=spnego.NegotiateOptions.use_ntlm)
                    fake.ntlm_negotiations += 1
                try:
                    out = self.context.step(token)
                except (spnego.exceptions.SpnegoError, AttributeError):
                    self.context = None
                    self._challenge("NTLM")
                    return None
                if not self.context.complete:
                    self._challenge("NTLM " + base64.b64encode(out or b"").decode())
                    return None
                user = str(self.context.client_principal)
                self.context = None
                return f"NTLM {user}"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path.endswith("/token"):
                    status, reply = fake.issue_token(body)
                else:
                    authorization = self.headers.get("Authorization", "")
                    if fake.ntlm:
                        authenticated = self._ntlm()
                        if authenticated is None:
                            return
                        authorization = authenticated
                    status, reply = fake.handle(body, authorization)
                data = reply.encode()
                self.send_response(status)
                if status == 401 and not self.path.endswith("/token"):
                    self.send_header("WWW-Authenticate", "NTLM" if fake.ntlm else 'Basic realm="ews"')
                kind = "application/json" if self.path.endswith("/token") else "text/xml; charset=utf-8"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def endpoint(self) -> str:
        assert self.server is not None
        return f"https://127.0.0.1:{self.server.server_address[1]}/EWS/Exchange.asmx"

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    @property
    def token_url(self) -> str:
        assert self.server is not None
        return f"https://127.0.0.1:{self.server.server_address[1]}/tenant/oauth2/v2.0/token"

    def issue_token(self, body: bytes) -> tuple[int, str]:
        """The client-credentials grant: a new bearer token per request ("tok-1", "tok-2", ...), which becomes the
        one EWS accepts; the form is recorded."""
        form = dict(parse_qsl(body.decode()))
        with self.lock:
            self.token_requests.append(form)
            if form.get("grant_type") != "client_credentials" or form.get("client_secret") != self.password:
                return 401, json.dumps({"error": "invalid_client"})
            self.bearer = f"tok-{len(self.token_requests)}"
            return 200, json.dumps({"access_token": self.bearer, "token_type": "Bearer", "expires_in": 3600})

    def _authorized(self, authorization: str) -> bool:
        if self.ntlm:
            return authorization.lower() == f"ntlm {self.user}".lower()
        if self.bearer:
            return authorization == f"Bearer {self.bearer}"
        expected = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return authorization == f"Basic {expected}"

    def handle(self, body: bytes, authorization: str) -> tuple[int, str]:
        root = etree.fromstring(body)
        operation_element = root.find("s:Body", NS)[0]  # type: ignore[index]
        operation = etree.QName(operation_element).localname
        with self.lock:
            self.requests.append(Request(operation, body, authorization))
            if self.down:
                return 503, "service unavailable"
            if self.busy_ms:
                return 500, _busy(self.busy_ms.pop(0))
            status = 0
            if self.fail_with:
                status = self.fail_with.pop(0)
            for rule in self.fail_on:
                if not status and rule[0] == operation:
                    self.fail_on.remove(rule)
                    status = rule[1]
            if status:
                return status, "" if status == 401 else _fault("ErrorInternalServerError", "injected failure")
            if not self._authorized(authorization):
                return 401, ""
            handler = getattr(self, f"_{operation}", None)
            if handler is None:
                return 500, _fault("ErrorInvalidOperation", f"{operation} is not supported by the fake")
            return 200, ENVELOPE.format(body=handler(operation_element))

    # ------------------------------------------------------------------ operations

    def _folder_of(self, element: Any) -> FakeFolder | None:
        if etree.QName(element).localname == "DistinguishedFolderId":
            return self.folders.get(f"F-{element.get('Id')}")
        return self.folders.get(element.get("Id"))

    def _folder_xml(self, folder: FakeFolder) -> str:
        parent = f'<t:ParentFolderId Id="{folder.parent}" ChangeKey="ck"/>' if folder.parent else ""
        children = sum(1 for f in self.folders.values() if f.parent == folder.id)
        count = sum(1 for i in self.items.values() if i.folder == folder.id)
        return (f'<t:Folder><t:FolderId Id="{folder.id}" ChangeKey="ck"/>{parent}<t:FolderClass>IPF.Note'
                f'</t:FolderClass><t:DisplayName>{escape(folder.name)}</t:DisplayName><t:TotalCount>{count}'
                f'</t:TotalCount><t:ChildFolderCount>{children}</t:ChildFolderCount><t:UnreadCount>0'
                f'</t:UnreadCount></t:Folder>')

    def _GetFolder(self, element: Any) -> str:
        messages = []
        for ref in element.find("m:FolderIds", NS):
            folder = self._folder_of(ref)
            if folder is None:
                messages.append(_error("GetFolder", "ErrorFolderNotFound", "The specified folder could not be found"))
            else:
                messages.append(_ok("GetFolder", f"<m:Folders>{self._folder_xml(folder)}</m:Folders>"))
        return _response("GetFolder", messages)

    def _FindFolder(self, element: Any) -> str:
        messages = []
        for ref in element.find("m:ParentFolderIds", NS):
            parent = self._folder_of(ref)
            children = [f for f in self.folders.values() if parent is not None and f.parent == parent.id]
            inner = "".join(self._folder_xml(f) for f in children)
            messages.append(_ok("FindFolder", f'<m:RootFolder TotalItemsInView="{len(children)}" '
                                f'IncludesLastItemInRange="true"><t:Folders>{inner}</t:Folders></m:RootFolder>'))
        return _response("FindFolder", messages)

    def _CreateFolder(self, element: Any) -> str:
        parent = self._folder_of(element.find("m:ParentFolderId", NS)[0])
        assert parent is not None
        messages = []
        for new in element.find("m:Folders", NS):
            name = new.findtext("t:DisplayName", namespaces=NS) or ""
            folder = FakeFolder(f"F-{next(self._ids)}", name, parent.id)
            self.folders[folder.id] = folder
            messages.append(_ok("CreateFolder", f'<m:Folders><t:Folder><t:FolderId Id="{folder.id}" '
                                'ChangeKey="ck"/></t:Folder></m:Folders>'))
        return _response("CreateFolder", messages)

    def _FindItem(self, element: Any) -> str:
        wanted_id = None
        constant = element.find(".//m:Restriction//t:IsEqualTo/t:FieldURIOrConstant/t:Constant", NS)
        if constant is not None:
            wanted_id = constant.get("Value")
        messages = []
        for ref in element.find("m:ParentFolderIds", NS):
            folder = self._folder_of(ref)
            found = sorted((i for i in self.items.values() if folder is not None and i.folder == folder.id
                            and (wanted_id is None or i.message_id == wanted_id)), key=lambda i: i.received)
            inner = "".join(f'<t:Message><t:ItemId Id="{i.id}" ChangeKey="ck"/></t:Message>' for i in found)
            messages.append(_ok("FindItem", f'<m:RootFolder IndexedPagingOffset="{len(found)}" TotalItemsInView='
                                f'"{len(found)}" IncludesLastItemInRange="true"><t:Items>{inner}</t:Items>'
                                '</m:RootFolder>'))
        return _response("FindItem", messages)

    def _sync_state(self, folder: FakeFolder, position: int) -> str:
        return base64.b64encode(f"{self.sync_epoch}|{folder.id}|{position}".encode()).decode()

    def _sync_position(self, folder: FakeFolder, state: str | None) -> int | None:
        """The log position a SyncState stands for; None when it is not one this server handed out for the folder
        in this epoch."""
        if not state:
            return 0
        try:
            epoch, folder_id, position = base64.b64decode(state, validate=True).decode().split("|")
            if int(epoch) == self.sync_epoch and folder_id == folder.id:
                return int(position)
        except ValueError:
            pass
        return None

    def _SyncFolderItems(self, element: Any) -> str:
        folder = self._folder_of(element.find("m:SyncFolderId", NS)[0])
        assert folder is not None
        start = self._sync_position(folder, element.findtext("m:SyncState", namespaces=NS))
        if start is None:
            return _response("SyncFolderItems", [
                '<m:SyncFolderItemsResponseMessage ResponseClass="Error"><m:MessageText>Synchronization state data '
                "is corrupt or otherwise invalid.</m:MessageText><m:ResponseCode>ErrorInvalidSyncStateData"
                "</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey><m:SyncState/>"
                "<m:IncludesLastItemInRange>true</m:IncludesLastItemInRange></m:SyncFolderItemsResponseMessage>"])
        limit = int(element.findtext("m:MaxChangesReturned", namespaces=NS) or "512")
        if self.sync_page:
            limit = min(limit, self.sync_page)
        position, found = start, list[str]()
        while position < len(self.changes) and len(found) < limit:
            folder_id, kind, item_id = self.changes[position]
            position += 1
            if folder_id != folder.id:
                continue
            ref = f'<t:ItemId Id="{item_id}" ChangeKey="ck"/>'
            if kind == "Delete":
                found.append(f"<t:Delete>{ref}</t:Delete>")
            elif kind == "ReadFlagChange":
                item = self.items.get(item_id)
                found.append(f"<t:ReadFlagChange>{ref}<t:IsRead>{'true' if item is None or item.is_read else 'false'}"
                             "</t:IsRead></t:ReadFlagChange>")
            else:
                found.append(f"<t:{kind}><t:Message>{ref}</t:Message></t:{kind}>")
        last = all(entry[0] != folder.id for entry in self.changes[position:])
        return _response("SyncFolderItems", [_ok("SyncFolderItems", f"<m:SyncState>{self._sync_state(folder, position)}"
                                                 f"</m:SyncState><m:IncludesLastItemInRange>{str(last).lower()}"
                                                 f"</m:IncludesLastItemInRange><m:Changes>{''.join(found)}"
                                                 "</m:Changes>")])

    def _UpdateItem(self, element: Any) -> str:
        messages = []
        for change in element.find("m:ItemChanges", NS):
            item = self.items.get(change.find("t:ItemId", NS).get("Id"))
            if item is None:
                messages.append(_error("UpdateItem", "ErrorItemNotFound",
                                       "The specified object was not found in the store."))
                continue
            kinds = set()
            for update in change.find("t:Updates", NS):
                uri = update.find("t:FieldURI", NS).get("FieldURI")
                if uri == "message:IsRead":
                    item.is_read = update.findtext("t:Message/t:IsRead", namespaces=NS) in ("true", "1")  # xs:boolean
                    kinds.add("ReadFlagChange")
                else:
                    kinds.add("Update")
            self.changes.append((item.folder, "Update" if "Update" in kinds else "ReadFlagChange", item.id))
            messages.append(_ok("UpdateItem", f'<m:Items><t:Message><t:ItemId Id="{item.id}" ChangeKey="ck2"/>'
                                "</t:Message></m:Items><m:ConflictResults><m:Count>0</m:Count></m:ConflictResults>"))
        return _response("UpdateItem", messages)

    def _GetItem(self, element: Any) -> str:
        fields = {uri.get("FieldURI") for uri in element.iterfind("m:ItemShape/t:AdditionalProperties/t:FieldURI",
                                                                 NS)}
        messages = []
        for ref in element.find("m:ItemIds", NS):
            item = self.items.get(ref.get("Id"))
            if item is None:
                messages.append(_error("GetItem", "ErrorItemNotFound",
                                       "The specified object was not found in the store."))
                continue
            if "item:MimeContent" not in fields:
                messages.append(_ok("GetItem", f"<m:Items>{_properties(item)}</m:Items>"))
                continue
            if item.mime_fails:
                messages.append(_error("GetItem", "ErrorMimeContentConversionFailed", "Content conversion failed."))
                continue
            mime = base64.b64encode(item.mime).decode()
            messages.append(_ok("GetItem", f'<m:Items><t:Message><t:MimeContent CharacterSet="UTF-8">{mime}'
                                f'</t:MimeContent><t:ItemId Id="{item.id}" ChangeKey="ck"/></t:Message></m:Items>'))
        return _response("GetItem", messages)

    def _GetAttachment(self, element: Any) -> str:
        messages = []
        for ref in element.find("m:AttachmentIds", NS):
            item_id, _, number = str(ref.get("Id")).rpartition(".A")
            item = self.items.get(item_id)
            parts = _attachments(item) if item is not None else []
            if not number.isdigit() or int(number) >= len(parts):
                messages.append(_error("GetAttachment", "ErrorInvalidIdMalformed", "Id is malformed."))
                continue
            name, kind, data = parts[int(number)]
            messages.append(_ok("GetAttachment", "<m:Attachments><t:FileAttachment>"
                                f'<t:AttachmentId Id="{ref.get("Id")}"/><t:Name>{escape(name)}</t:Name>'
                                f"<t:ContentType>{escape(kind)}</t:ContentType>"
                                f"<t:Content>{base64.b64encode(data).decode()}</t:Content></t:FileAttachment>"
                                "</m:Attachments>"))
        return _response("GetAttachment", messages)

    def _MoveItem(self, element: Any) -> str:
        target = self._folder_of(element.find("m:ToFolderId", NS)[0])
        assert target is not None
        messages = []
        for ref in element.find("m:ItemIds", NS):
            item = self.items.pop(ref.get("Id"), None)
            if item is None:
                messages.append(_error("MoveItem", "ErrorItemNotFound",
                                       "The specified object was not found in the store."))
                continue
            self.changes.append((item.folder, "Delete", item.id))
            item.id, item.folder = f"I-{next(self._ids)}", target.id  # Exchange gives a moved item a new id
            self.items[item.id] = item
            self.changes.append((item.folder, "Create", item.id))
            messages.append(_ok("MoveItem", f'<m:Items><t:Message><t:ItemId Id="{item.id}" ChangeKey="ck"/>'
                                '</t:Message></m:Items>'))
        return _response("MoveItem", messages)

    def _CreateItem(self, element: Any) -> str:
        target = self._folder_of(element.find("m:SavedItemFolderId", NS)[0])
        assert target is not None
        messages = []
        for new in element.find("m:Items", NS):
            attachments = [(a.findtext("t:Name", namespaces=NS) or "", a.findtext("t:ContentType", namespaces=NS)
                            or "", base64.b64decode(a.findtext("t:Content", namespaces=NS) or ""))
                           for a in new.findall("t:Attachments/t:FileAttachment", NS)]
            item = FakeItem(f"I-{next(self._ids)}", target.id, b"", new.findtext("t:InternetMessageId",
                                                                                namespaces=NS) or "",
                            new.findtext("t:Subject", namespaces=NS) or "", new.findtext("t:Body", namespaces=NS)
                            or "", attachments, next(self._ids))
            self.items[item.id] = item
            self.changes.append((item.folder, "Create", item.id))
            messages.append(_ok("CreateItem", f'<m:Items><t:Message><t:ItemId Id="{item.id}" ChangeKey="ck"/>'
                                '</t:Message></m:Items>'))
        return _response("CreateItem", messages)


def _attachments(item: FakeItem) -> list[tuple[str, str, bytes]]:
    """The file attachments of a delivered mail (from its MIME) or of a created item."""
    if not item.mime:
        return item.attachments
    parsed = email.message_from_bytes(item.mime, policy=policy.default)
    return [(part.get_filename() or "", part.get_content_type(), part.get_content())
            for part in parsed.iter_attachments()]


def _mailboxes(header: Any) -> str:
    return "".join(f"<t:Mailbox><t:Name>{escape(a.display_name)}</t:Name><t:EmailAddress>{escape(a.addr_spec)}"
                   "</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType></t:Mailbox>"
                   for a in (header.addresses if header is not None else ()))


def _properties(item: FakeItem) -> str:
    """A Message as GetItem returns it without MimeContent: subject, text body, attachment ids, From, To, Cc and
    the InternetMessageId (the fields faxgate asks for; the file contents come by GetAttachment)."""
    parsed = email.message_from_bytes(item.mime, policy=policy.default)
    body = parsed.get_body(("plain",))
    text = body.get_content() if body is not None else ""
    attachments = "".join(f'<t:FileAttachment><t:AttachmentId Id="{item.id}.A{n}"/><t:Name>{escape(name)}</t:Name>'
                          f"<t:ContentType>{escape(kind)}</t:ContentType><t:Size>{len(data)}</t:Size>"
                          "<t:IsInline>false</t:IsInline></t:FileAttachment>"
                          for n, (name, kind, data) in enumerate(_attachments(item)))
    to, cc = _mailboxes(parsed["To"]), _mailboxes(parsed["Cc"])
    return (f'<t:Message><t:ItemId Id="{item.id}" ChangeKey="ck"/><t:Subject>{escape(item.subject)}</t:Subject>'
            f'<t:Body BodyType="Text">{escape(text)}</t:Body><t:Attachments>{attachments}</t:Attachments>'
            + (f"<t:ToRecipients>{to}</t:ToRecipients>" if to else "")
            + (f"<t:CcRecipients>{cc}</t:CcRecipients>" if cc else "")
            + f"<t:From>{_mailboxes(parsed['From'])}</t:From>"
            f"<t:InternetMessageId>{escape(item.message_id)}</t:InternetMessageId></t:Message>")


def _ok(operation: str, inner: str) -> str:
    return (f'<m:{operation}ResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>'
            f"{inner}</m:{operation}ResponseMessage>")


def _error(operation: str, code: str, text: str) -> str:
    return (f'<m:{operation}ResponseMessage ResponseClass="Error"><m:MessageText>{escape(text)}</m:MessageText>'
            f"<m:ResponseCode>{code}</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>"
            f"</m:{operation}ResponseMessage>")


def _response(operation: str, messages: list[str]) -> str:
    return (f'<m:{operation}Response xmlns:m="{M}" xmlns:t="{T}"><m:ResponseMessages>{"".join(messages)}'
            f"</m:ResponseMessages></m:{operation}Response>")


def _busy(back_off_ms: int) -> str:
    """EWS throttling as Microsoft documents it: a SOAP fault with ErrorServerBusy and BackOffMilliseconds."""
    return (f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{S}"><s:Body><s:Fault>'
            "<faultcode>a:ErrorServerBusy</faultcode><faultstring>The server cannot service this request right now. "
            f'Try again later.</faultstring><detail><e:ResponseCode xmlns:e="{E}">ErrorServerBusy'
            f'</e:ResponseCode><e:Message xmlns:e="{E}">The server cannot service this request right now. '
            f'Try again later.</e:Message><t:MessageXml xmlns:t="{T}"><t:Value Name="BackOffMilliseconds">'
            f"{back_off_ms}</t:Value></t:MessageXml></detail></s:Fault></s:Body></s:Envelope>")


def _fault(code: str, text: str) -> str:
    return (f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{S}"><s:Body><s:Fault>'
            f"<faultcode>s:Server</faultcode><faultstring>{escape(text)}</faultstring><detail>"
            f'<e:ResponseCode xmlns:e="{E}">{code}</e:ResponseCode><e:Message xmlns:e="{E}">'
            f"{escape(text)}</e:Message></detail></s:Fault></s:Body></s:Envelope>")

