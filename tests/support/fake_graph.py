"""A local Microsoft Graph (mail) and token endpoint over HTTPS, for driving faxgate's Graph backend with the real
msal and httpx.

It serves the OpenID configuration and client-credentials tokens of one tenant, and the mail API of one user:
mailFolders (list, children, create, the well-known inbox), messages/delta with nextLink paging and deltaLinks
(changes since a token, removals as "@removed", 410 for a forgotten one), messages/{id}/$value, move (the moved
message gets a new id, as in Graph), and message creation with file attachments. Every request is recorded. Failure
injection: `throttle` (429 with Retry-After), `fail_with` (HTTP statuses), `fail_matching` (a status for one request
to a path), `failing` (a status for every request while set), `down` (503 for everything).
"""

from __future__ import annotations

import email
import itertools
import json
import re
import ssl
import threading
from dataclasses import dataclass, field
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit

import trustme

PAGE = 2
"""Delta pages this small make every listing of more than two mails use a nextLink."""


@dataclass
class GraphFolder:
    id: str
    name: str
    parent: str | None


@dataclass
class GraphMessage:
    id: str
    folder: str
    mime: bytes
    message_id: str
    subject: str = ""
    json_body: dict[str, Any] = field(default_factory=dict)


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes
    authorization: str


class FakeGraph:
    """One tenant, one mailbox user; `serve()` starts HTTPS on 127.0.0.1."""

    def __init__(self, ca: trustme.CA, *, user: str = "fax@example.com", client_id: str = "app-id",
                 client_secret: str = "app-secret") -> None:
        self.ca = ca
        self.user, self.client_id, self.client_secret = user, client_id, client_secret
        self.folders: dict[str, GraphFolder] = {"inbox-id": GraphFolder("inbox-id", "Inbox", None)}
        self.messages: dict[str, GraphMessage] = {}
        self.changes: list[tuple[int, str, str, bool]] = []
        """(sequence, folder id, message id, removed)."""
        self.calls: list[Call] = []
        self.token_requests: list[dict[str, str]] = []
        self.valid_tokens: set[str] = set()
        self.throttle: list[int] = []
        self.fail_with: list[int] = []
        self.fail_matching: list[tuple[str, int]] = []
        """One-shot: the first request whose path matches the pattern gets the status."""
        self.failing = 0
        """While not 0, every mail request gets this status (a server failing for a while)."""
        self.down = False
        self.delta_epoch = 1
        self._ids = itertools.count(1)
        self.lock = threading.RLock()
        self.server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ the mailbox, as a person sees it

    def folder_named(self, path: str) -> GraphFolder | None:
        parts = [part for part in path.split("/") if part]
        parent: str | None = None
        if parts and parts[0].upper() == "INBOX":
            parent, parts = "inbox-id", parts[1:]
        for name in parts:
            found = next((f for f in self.folders.values() if f.parent == parent and f.name.lower() == name.lower()),
                         None)
            if found is None:
                return None
            parent = found.id
        return self.folders.get(parent or "")

    def _add(self, message: GraphMessage) -> None:
        self.messages[message.id] = message
        self.changes.append((next(self._ids), message.folder, message.id, False))

    def deliver(self, mime: bytes, folder: str = "INBOX") -> str:
        target = self.folder_named(folder)
        assert target is not None
        parsed = email.message_from_bytes(mime, policy=policy.default)
        message = GraphMessage(f"M{next(self._ids)}", target.id, mime, str(parsed["Message-ID"] or ""),
                               str(parsed["Subject"] or ""))
        with self.lock:
            self._add(message)
        return message.id

    def in_folder(self, path: str) -> list[GraphMessage]:
        target = self.folder_named(path)
        return [] if target is None else [m for m in self.messages.values() if m.folder == target.id]

    def graph_calls(self, method: str, pattern: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and re.search(pattern, c.path)]

    # ------------------------------------------------------------------ HTTP

    @property
    def origin(self) -> str:
        assert self.server is not None
        return f"https://127.0.0.1:{self.server.server_address[1]}"

    @property
    def authority(self) -> str:
        return f"{self.origin}/tenant"

    @property
    def endpoint(self) -> str:
        return f"{self.origin}/v1.0"

    def serve(self) -> FakeGraph:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self, method: str) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                status, payload, headers = fake.handle(method, self.path, body, self.headers.get("Authorization", ""))
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if "Content-Type" not in headers:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def handle(self, method: str, target: str, body: bytes, authorization: str) -> tuple[int, Any, dict[str, str]]:
        split = urlsplit(target)
        path, query = unquote(split.path), parse_qs(split.query)
        with self.lock:
            if path.startswith("/tenant/"):
                return self._identity(method, path, body)
            self.calls.append(Call(method, path, query, body, authorization))
            if self.down:
                return 503, {"error": {"code": "ServiceUnavailable"}}, {}
            if self.throttle:
                after = self.throttle.pop(0)
                return 429, {"error": {"code": "TooManyRequests", "message": "throttled"}}, {"Retry-After": str(after)}
            if self.fail_with:
                return self.fail_with.pop(0), {"error": {"code": "generalException"}}, {}
            if self.failing:
                return self.failing, {"error": {"code": "generalException"}}, {}
            for rule in self.fail_matching:
                if re.search(rule[0], path):
                    self.fail_matching.remove(rule)
                    return rule[1], {"error": {"code": "generalException"}}, {}
            if not authorization.startswith("Bearer ") or authorization[7:] not in self.valid_tokens:
                return 401, {"error": {"code": "InvalidAuthenticationToken"}}, {}
            prefix = f"/v1.0/users/{self.user}"
            if not path.startswith(prefix):
                return 404, {"error": {"code": "ErrorInvalidUser"}}, {}
            return self._mail(method, path[len(prefix):], query, body)

    def _identity(self, method: str, path: str, body: bytes) -> tuple[int, Any, dict[str, str]]:
        if path.endswith("/.well-known/openid-configuration"):
            return 200, {"token_endpoint": f"{self.authority}/oauth2/v2.0/token",
                         "authorization_endpoint": f"{self.authority}/oauth2/v2.0/authorize",
                         "issuer": f"{self.authority}/v2.0"}, {}
        if path.endswith("/oauth2/v2.0/token") and method == "POST":
            form = dict(parse_qsl(body.decode()))
            self.token_requests.append(form)
            if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
                return 401, {"error": "invalid_client", "error_description": "bad secret"}, {}
            token = f"graph-token-{len(self.token_requests)}"
            self.valid_tokens.add(token)
            return 200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600}, {}
        return 404, {}, {}

    def forget_delta_links(self) -> None:
        """Every deltaLink handed out so far gets 410 syncStateNotFound from now on (as Graph answers an old one)."""
        with self.lock:
            self.delta_epoch += 1

    def expire_tokens(self) -> None:
        """Every token issued so far stops working (they expired, or were revoked)."""
        with self.lock:
            self.valid_tokens.clear()

    def _folder_json(self, folder: GraphFolder) -> dict[str, Any]:
        return {"id": folder.id, "displayName": folder.name, "parentFolderId": folder.parent or "root"}

    def _mail(self, method: str, path: str, query: dict[str, list[str]],
              body: bytes) -> tuple[int, Any, dict[str, str]]:
        if path == "/mailFolders/inbox" and method == "GET":
            return 200, self._folder_json(self.folders["inbox-id"]), {}
        match = re.fullmatch(r"/mailFolders(?:/([^/]+)/childFolders)?", path)
        if match:
            parent = match.group(1)
            if method == "POST":
                folder = GraphFolder(f"F{next(self._ids)}", json.loads(body)["displayName"], parent)
                self.folders[folder.id] = folder
                return 201, self._folder_json(folder), {}
            children = [self._folder_json(f) for f in self.folders.values() if f.parent == parent]
            return 200, {"value": children}, {}
        match = re.fullmatch(r"/mailFolders/([^/]+)/messages/delta", path)
        if match:
            return self._delta(match.group(1), query)
        match = re.fullmatch(r"/mailFolders/([^/]+)/messages", path)
        if match:
            folder = match.group(1)
            if method == "POST":
                payload = json.loads(body)
                message = GraphMessage(f"M{next(self._ids)}", folder, b"", payload.get("internetMessageId", ""),
                                       payload.get("subject", ""), payload)
                self._add(message)
                return 201, {"id": message.id}, {}
            wanted = re.fullmatch(r"internetMessageId eq '(.*)'", query.get("$filter", [""])[0])
            found = [{"id": m.id} for m in self.messages.values() if m.folder == folder
                     and (wanted is None or m.message_id == wanted.group(1).replace("''", "'"))]
            return 200, {"value": found}, {}
        match = re.fullmatch(r"/messages/([^/]+)/\$value", path)
        if match:
            message = self.messages.get(match.group(1))
            if message is None:
                return 404, {"error": {"code": "ErrorItemNotFound"}}, {}
            return 200, message.mime, {"Content-Type": "text/plain"}
        match = re.fullmatch(r"/messages/([^/]+)/move", path)
        if match and method == "POST":
            message = self.messages.pop(match.group(1), None)
            if message is None:
                return 404, {"error": {"code": "ErrorItemNotFound"}}, {}
            destination = json.loads(body)["destinationId"]
            self.changes.append((next(self._ids), message.folder, message.id, True))
            message.id, message.folder = f"M{next(self._ids)}", destination
            self._add(message)
            return 201, {"id": message.id}, {}
        return 404, {"error": {"code": "ResourceNotFound", "message": path}}, {}

    def _delta(self, folder: str, query: dict[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        base = f"{self.endpoint}/users/{self.user}/mailFolders/{folder}/messages/delta"
        if "$deltatoken" in query:
            epoch, _, position = query["$deltatoken"][0].partition("-")
            if epoch != str(self.delta_epoch) or not position.isdigit():
                return 410, {"error": {"code": "syncStateNotFound", "message": "The sync state is not found"}}, {}
            since = int(position)
            latest: dict[str, bool] = {}
            for sequence, where, message_id, removed in self.changes:
                if sequence > since and where == folder:
                    latest[message_id] = removed
            values: list[dict[str, Any]] = [{"id": i, "@removed": {"reason": "deleted"}} if removed else {"id": i}
                                            for i, removed in latest.items()]
            now = max([s for s, *_ in self.changes], default=0)
            return 200, {"value": values, "@odata.deltaLink": f"{base}?$deltatoken={self.delta_epoch}-{now}"}, {}
        skip = int(query.get("$skiptoken", ["0"])[0])
        current = [m.id for m in self.messages.values() if m.folder == folder]
        page = current[skip:skip + PAGE]
        reply: dict[str, Any] = {"value": [{"id": i} for i in page]}
        if skip + PAGE < len(current):
            reply["@odata.nextLink"] = f"{base}?$skiptoken={skip + PAGE}"
        else:
            now = max([s for s, *_ in self.changes], default=0)
            reply["@odata.deltaLink"] = f"{base}?$deltatoken={self.delta_epoch}-{now}"
        return 200, reply, {}

