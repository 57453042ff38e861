"""A local EWS server speaking SOAP shaped like Microsoft's documented responses, for driving the real exchangelib.

It keeps a small mailbox in memory (folders with parents, items with their MIME), answers GetFolder, FindFolder,
CreateFolder, FindItem, GetItem, MoveItem and CreateItem, checks Basic or Bearer authorization, gives items new
ids when they move (as Exchange does), and records every request's operation, XML and Authorization header so
tests assert on what faxgate sent. Outages: `down` answers 503, `fail_with` queues HTTP statuses (500, 401).
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


@dataclass
class Request:
    operation: str
    xml: bytes
    authorization: str


class FakeExchange:
    """The mailbox and the recorded requests; `serve()` starts HTTPS on 127.0.0.1."""

    def __init__(self, ca: trustme.CA, *, user: str = "fax@example.com", password: str = "pw",
                 bearer: str = "") -> None:
        self.ca = ca
        self.user, self.password, self.bearer = user, password, bearer
        self.folders: dict[str, FakeFolder] = {}
        self.items: dict[str, FakeItem] = {}
        self.requests: list[Request] = []
        self.fail_with: list[int] = []
        self.busy_ms: list[int] = []
        """Throttling: each entry answers one request with ErrorServerBusy and this BackOffMilliseconds."""
        self.token_requests: list[dict[str, str]] = []
        self.down = False
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

    def deliver(self, mime: bytes, folder: str = "INBOX") -> str:
        """A mail arriving in a folder."""
        target = self.folder_named(folder)
        assert target is not None
        parsed = email.message_from_bytes(mime, policy=policy.default)
        item = FakeItem(f"I-{next(self._ids)}", target.id, mime, str(parsed["Message-ID"] or ""),
                        str(parsed["Subject"] or ""), received=next(self._ids))
        with self.lock:
            self.items[item.id] = item
        return item.id

    def in_folder(self, path: str) -> list[FakeItem]:
        target = self.folder_named(path)
        return [] if target is None else [i for i in self.items.values() if i.folder == target.id]

    def operations(self) -> list[str]:
        return [request.operation for request in self.requests]

    # ------------------------------------------------------------------ HTTP

    def serve(self) -> FakeExchange:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path.endswith("/token"):
                    status, reply = fake.issue_token(body)
                else:
                    status, reply = fake.handle(body, self.headers.get("Authorization", ""))
                data = reply.encode()
                self.send_response(status)
                if status == 401 and not self.path.endswith("/token"):
                    self.send_header("WWW-Authenticate", 'Basic realm="ews"')
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
            if self.fail_with:
                status = self.fail_with.pop(0)
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

    def _GetItem(self, element: Any) -> str:
        messages = []
        for ref in element.find("m:ItemIds", NS):
            item = self.items.get(ref.get("Id"))
            if item is None:
                messages.append(_error("GetItem", "ErrorItemNotFound",
                                       "The specified object was not found in the store."))
                continue
            mime = base64.b64encode(item.mime).decode()
            messages.append(_ok("GetItem", f'<m:Items><t:Message><t:MimeContent CharacterSet="UTF-8">{mime}'
                                f'</t:MimeContent><t:ItemId Id="{item.id}" ChangeKey="ck"/></t:Message></m:Items>'))
        return _response("GetItem", messages)

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
            item.id, item.folder = f"I-{next(self._ids)}", target.id  # Exchange gives a moved item a new id
            self.items[item.id] = item
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
            messages.append(_ok("CreateItem", f'<m:Items><t:Message><t:ItemId Id="{item.id}" ChangeKey="ck"/>'
                                '</t:Message></m:Items>'))
        return _response("CreateItem", messages)


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

