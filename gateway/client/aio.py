"""The asynchronous client: the FaxServer object of the Windows model, over faxgate's HTTP API (httpx)."""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import AsyncGenerator
from types import TracebackType
from typing import Any

import httpx

from gateway.api.models import (
    API_VERSION,
    Activity,
    ActivityLog,
    Device,
    ExtensionProperty,
    IncomingJob,
    IncomingJobPage,
    IncomingRouting,
    IntakeSourceStatus,
    NewToken,
    OutgoingJob,
    OutgoingJobDetail,
    OutgoingJobPage,
    QueueState,
    RouteTest,
    RoutingRules,
    ServerInfo,
    SubmissionInfo,
    SubmitResult,
    TokenInfo,
)
from gateway.api.settings_models import (
    AnswerRequested,
    AnswerResult,
    ArchivedJob,
    ArchivedJobPage,
    EffectiveConfig,
    ExtensionInfo,
    RoutingMethodInfo,
)
from gateway.client.document import FaxDocument
from gateway.client.events import StreamRefused, listen
from gateway.enums import ServerEvents
from gateway.events import ServerEvent


class FaxApiError(Exception):
    """The server refused a request: HTTP status, its reason, and for 403 the access right that was missing."""

    def __init__(self, status: int, detail: str, missing_right: str | None = None) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.missing_right = missing_right


class AsyncFaxServer:
    """A connection to one faxgate server (IFaxServer); make it with ``await AsyncFaxServer.connect(url, token)``."""

    def __init__(self, client: httpx.AsyncClient, info: ServerInfo) -> None:
        self._client = client
        self.info = info
        self.folders = AsyncFolders(self)
        self.inbound_routing = AsyncInboundRouting(self)

    @classmethod
    async def connect(cls, url: str, token: str | None = None, *, username: str | None = None,
                      password: str | None = None, timeout: float = 30.0,
                      verify: ssl.SSLContext | bool = True) -> AsyncFaxServer:
        """Connect with an API token (or a [security] user and password) and read the server's identity.

        ``verify`` checks an https server's certificate: True for the system CAs, or an SSLContext that trusts
        a private CA (``ssl.create_default_context(cafile=...)``).
        """
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        auth = httpx.BasicAuth(username, password or "") if username is not None else None
        client = httpx.AsyncClient(base_url=url.rstrip("/") + f"/api/{API_VERSION}", headers=headers, auth=auth,
                                   timeout=timeout, verify=verify)
        server = cls(client, ServerInfo(server_name="", node_id="", api_version="", windows_api_version=0,
                                        version="", major_version=0, minor_version=0, major_build=0, debug=False,
                                        granted_rights=[]))
        try:
            server.info = await server.refresh()
        except BaseException:
            await client.aclose()
            raise
        return server

    @property
    def server_name(self) -> str:
        """IFaxServer.ServerName."""
        return self.info.server_name

    @property
    def api_version(self) -> str:
        """The HTTP API version the server speaks."""
        return self.info.api_version

    async def refresh(self) -> ServerInfo:
        """Read the identity and the caller's granted rights again."""
        return ServerInfo.model_validate((await self.request("GET", "/server")).json())

    async def get_devices(self) -> list[Device]:
        """IFaxServer.GetDevices."""
        return [Device.model_validate(item) for item in (await self.request("GET", "/devices")).json()]

    async def get_activity(self) -> Activity:
        """IFaxServer.Activity."""
        return Activity.model_validate((await self.request("GET", "/activity")).json())

    async def get_intake_sources(self) -> list[IntakeSourceStatus]:
        """The node's intake sources with their state, reason, failures and next try."""
        return [IntakeSourceStatus.model_validate(entry)
                for entry in (await self.request("GET", "/intake/sources")).json()]

    async def get_activity_log(self, since: float | None = None) -> list[str]:
        """The activity log: one xferfaxlog line per call, oldest first."""
        params = {"since": since} if since is not None else {}
        return ActivityLog.model_validate((await self.request("GET", "/activity/log", params=params)).json()).lines

    async def get_extension_property(self, guid: str, device: int = 0) -> bytes | None:
        """IFaxServer.GetExtensionProperty (device 0) or IFaxDevice's (device N); None when nothing is stored."""
        try:
            reply = await self.request("GET", f"/extensions/{guid}", params={"device": device})
        except FaxApiError as exc:
            if exc.status == 404 and exc.detail.startswith("nothing is stored"):
                return None
            raise
        return base64.b64decode(ExtensionProperty.model_validate(reply.json()).data)

    async def set_extension_property(self, guid: str, data: bytes, device: int = 0) -> None:
        """IFaxServer.SetExtensionProperty (device 0) or IFaxDevice's (device N)."""
        await self.request("PUT", f"/extensions/{guid}", params={"device": device},
                           json={"data": base64.b64encode(data).decode()})

    async def get_effective_config(self) -> EffectiveConfig:
        """Every configuration value the server has in force, with its source, and the stored areas not applied."""
        return EffectiveConfig.model_validate((await self.request("GET", "/config/effective")).json())

    async def answer_call(self, device: str) -> AnswerResult | AnswerRequested:
        """IFaxDevice.AnswerCall: answered now (a device of this node), or requested of the node that runs it."""
        reply = await self.request("POST", f"/devices/{device}/answer")
        if reply.status_code == 202:
            return AnswerRequested.model_validate(reply.json())
        return AnswerResult.model_validate(reply.json())

    async def list_tokens(self) -> list[TokenInfo]:
        """The API tokens by name, with their rights."""
        return [TokenInfo.model_validate(item) for item in (await self.request("GET", "/tokens")).json()]

    async def create_token(self, name: str, rights: list[str]) -> NewToken:
        """A new token (at most the caller's rights); its secret is in the answer only."""
        reply = await self.request("POST", "/tokens", json={"name": name, "rights": rights})
        return NewToken.model_validate(reply.json())

    async def revoke_token(self, name: str) -> None:
        """Revoke a token on every node."""
        await self.request("DELETE", f"/tokens/{name}")

    async def submit(self, document: FaxDocument) -> SubmitResult:
        """FaxDocument.Submit: queue the document for each recipient."""
        form: dict[str, Any] = {
            "recipients": json.dumps([{"number": r.number, "name": r.name} for r in document.recipients]),
            "subject": document.subject, "note": document.note, "cover": "true" if document.cover else "false",
            "receipt_address": document.receipt_address,
        }
        if document.priority is not None:
            form["priority"] = document.priority
        if document.send_at is not None:
            form["schedule"] = "specific_time"
            form["send_at"] = document.send_at.isoformat()
        elif document.discount:
            form["schedule"] = "discount_period"
        files = [("files", (name, data, "application/octet-stream")) for name, data in document.bodies()]
        reply = await self.request("POST", "/outgoing/submit", data=form, files=files or None)
        return SubmitResult.model_validate(reply.json())

    async def listen_to_server_events(self, mask: ServerEvents | None = None,
                                      after_id: int | None = None) -> AsyncGenerator[ServerEvent, None]:
        """IFaxServer.ListenToServerEvents: events of the types in ``mask`` (default: all the caller may see),
        those after ``after_id`` first; a dropped stream is reopened after the last id seen, so none is lost."""
        try:
            async for event in listen(self._client, mask, after_id):
                yield event
        except StreamRefused as exc:
            body = exc.body if isinstance(exc.body, dict) else {}
            raise FaxApiError(exc.status, str(body.get("detail") or "the event stream was refused"),
                              body.get("missing_right")) from None

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One API call; a refusal raises FaxApiError with the server's reason."""
        reply = await self._client.request(method, path, **kwargs)
        if reply.status_code >= 400:
            try:
                body = reply.json()
            except ValueError:
                body = {}
            detail = body.get("detail") if isinstance(body, dict) else None
            raise FaxApiError(reply.status_code, str(detail or reply.reason_phrase),
                              body.get("missing_right") if isinstance(body, dict) else None)
        return reply

    async def disconnect(self) -> None:
        """IFaxServer.Disconnect."""
        await self._client.aclose()

    async def __aenter__(self) -> AsyncFaxServer:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        await self.disconnect()


class AsyncFolders:
    """IFaxFolders: the outgoing queue and archive, and the incoming archive."""

    def __init__(self, server: AsyncFaxServer) -> None:
        self.outgoing_queue = AsyncOutgoingQueue(server)
        self.outgoing_archive = AsyncOutgoingArchive(server)
        self.incoming_archive = AsyncIncomingArchive(server)


class AsyncOutgoingQueue:
    """IFaxOutgoingQueue: jobs and the Paused/Blocked switches."""

    def __init__(self, server: AsyncFaxServer) -> None:
        self._server = server

    async def get_jobs(self, submission_id: str | None = None, page_size: int = 100) -> list[AsyncOutgoingJob]:
        """Every job the caller may see (oldest first), fetched page by page."""
        found: list[AsyncOutgoingJob] = []
        after: int | None = None
        while True:
            params: dict[str, Any] = {"limit": page_size}
            if after is not None:
                params["after"] = after
            if submission_id is not None:
                params["submission"] = submission_id
            page = OutgoingJobPage.model_validate((await self._server.request("GET", "/outgoing/jobs",
                                                                              params=params)).json())
            found.extend(AsyncOutgoingJob(self._server, job) for job in page.jobs)
            if page.next_after is None:
                return found
            after = page.next_after

    async def get_job(self, job_id: int) -> AsyncOutgoingJob:
        """IFaxOutgoingQueue.GetJob, with the calls made for it."""
        reply = await self._server.request("GET", f"/outgoing/jobs/{job_id}")
        return AsyncOutgoingJob(self._server, OutgoingJobDetail.model_validate(reply.json()))

    async def get_state(self) -> QueueState:
        """Paused, Blocked and the counts."""
        return QueueState.model_validate((await self._server.request("GET", "/outgoing/queue")).json())

    async def set_state(self, *, paused: bool | None = None, blocked: bool | None = None) -> QueueState:
        """Change Paused and/or Blocked for every node."""
        reply = await self._server.request("PUT", "/outgoing/queue", json={"paused": paused, "blocked": blocked})
        return QueueState.model_validate(reply.json())


    async def get_submissions(self, state: str | None = None, limit: int = 100) -> list[SubmissionInfo]:
        """Submissions (broadcasts), newest first: all with QUERY_JOBS, else the caller's own."""
        params: dict[str, Any] = {"limit": limit} | ({"state": state} if state is not None else {})
        reply = await self._server.request("GET", "/submissions", params=params)
        return [SubmissionInfo.model_validate(item) for item in reply.json()]

    async def get_submission(self, submission_id: str) -> SubmissionInfo:
        """One submission (what was handed in for a SubmissionId) and how far it got."""
        return SubmissionInfo.model_validate((await self._server.request("GET", f"/submissions/{submission_id}")
                                              ).json())


class AsyncOutgoingJob:
    """IFaxOutgoingJob: ``info`` holds its fields as last read; the methods act on the server."""

    def __init__(self, server: AsyncFaxServer, info: OutgoingJob) -> None:
        self._server = server
        self.info = info
        self.attempts = info.attempts if isinstance(info, OutgoingJobDetail) else []

    @property
    def id(self) -> int:
        """The job id."""
        return self.info.id

    async def refresh(self) -> OutgoingJob:
        """Read the job again, with its calls."""
        reply = await self._server.request("GET", f"/outgoing/jobs/{self.id}")
        detail = OutgoingJobDetail.model_validate(reply.json())
        self.info, self.attempts = detail, detail.attempts
        return detail

    async def _control(self, name: str) -> OutgoingJob:
        self.info = OutgoingJob.model_validate(
            (await self._server.request("POST", f"/outgoing/jobs/{self.id}/{name}")).json())
        return self.info

    async def cancel(self) -> OutgoingJob:
        """IFaxOutgoingJob.Cancel."""
        return await self._control("cancel")

    async def pause(self) -> OutgoingJob:
        """IFaxOutgoingJob.Pause."""
        return await self._control("pause")

    async def resume(self) -> OutgoingJob:
        """IFaxOutgoingJob.Resume."""
        return await self._control("resume")

    async def restart(self) -> OutgoingJob:
        """IFaxOutgoingJob.Restart."""
        return await self._control("restart")

    async def copy_tiff(self) -> bytes:
        """IFaxOutgoingJob.CopyTiff, as bytes (TIFF Class F)."""
        return (await self._server.request("GET", f"/outgoing/jobs/{self.id}/tiff")).content

    async def pdf(self) -> bytes:
        """The job's fax as PDF."""
        return (await self._server.request("GET", f"/outgoing/jobs/{self.id}/pdf")).content


class AsyncOutgoingArchive:
    """IFaxOutgoingArchive: sent faxes (QUERY_OUT_ARCHIVE), their TIFF and PDF, delete (MANAGE_OUT_ARCHIVE)."""

    def __init__(self, server: AsyncFaxServer) -> None:
        self._server = server

    async def get_messages(self, limit: int = 100, before: int | None = None) -> ArchivedJobPage:
        """One page of sent faxes, newest first."""
        params: dict[str, Any] = {"limit": limit} | ({"before": before} if before is not None else {})
        return ArchivedJobPage.model_validate((await self._server.request("GET", "/outgoing-archive/messages",
                                                                          params=params)).json())

    async def get_message(self, message_id: int) -> ArchivedJob:
        """IFaxOutgoingArchive.GetMessage."""
        reply = await self._server.request("GET", f"/outgoing-archive/messages/{message_id}")
        return ArchivedJob.model_validate(reply.json())

    async def copy_tiff(self, message_id: int) -> bytes:
        """IFaxOutgoingMessage.CopyTiff, as bytes."""
        return (await self._server.request("GET", f"/outgoing-archive/messages/{message_id}/tiff")).content

    async def pdf(self, message_id: int) -> bytes:
        """The sent fax as PDF."""
        return (await self._server.request("GET", f"/outgoing-archive/messages/{message_id}/pdf")).content

    async def delete(self, message_id: int) -> None:
        """IFaxOutgoingMessage.Delete."""
        await self._server.request("DELETE", f"/outgoing-archive/messages/{message_id}")


class AsyncIncomingArchive:
    """IFaxIncomingArchive: received faxes, their TIFF and PDF, delete."""

    def __init__(self, server: AsyncFaxServer) -> None:
        self._server = server

    async def get_messages(self, limit: int = 100, before: int | None = None) -> IncomingJobPage:
        """One page of received faxes, newest first."""
        params: dict[str, Any] = {"limit": limit} | ({"before": before} if before is not None else {})
        return IncomingJobPage.model_validate((await self._server.request("GET", "/incoming/jobs",
                                                                          params=params)).json())

    async def get_message(self, message_id: int) -> IncomingJob:
        """IFaxIncomingArchive.GetMessage."""
        reply = await self._server.request("GET", f"/incoming/jobs/{message_id}")
        return IncomingJob.model_validate(reply.json())

    async def copy_tiff(self, message_id: int) -> bytes:
        """IFaxIncomingMessage.CopyTiff, as bytes."""
        return (await self._server.request("GET", f"/incoming/jobs/{message_id}/tiff")).content

    async def pdf(self, message_id: int) -> bytes:
        """The received fax as PDF."""
        return (await self._server.request("GET", f"/incoming/jobs/{message_id}/pdf")).content

    async def get_routing(self, message_id: int) -> IncomingRouting:
        """How the fax was routed: the decision, each delivery, the call's session log."""
        reply = await self._server.request("GET", f"/incoming/jobs/{message_id}/routing")
        return IncomingRouting.model_validate(reply.json())

    async def reroute(self, message_id: int) -> None:
        """Route the fax again with the rules in force now."""
        await self._server.request("POST", f"/incoming/jobs/{message_id}/reroute")

    async def delete(self, message_id: int) -> None:
        """IFaxIncomingMessage.Delete."""
        await self._server.request("DELETE", f"/incoming/jobs/{message_id}")


class AsyncInboundRouting:
    """IFaxInboundRouting: the routing extensions and methods, the rules, and a dry run of them for a call."""

    def __init__(self, server: AsyncFaxServer) -> None:
        self._server = server

    async def get_extensions(self) -> list[ExtensionInfo]:
        """IFaxInboundRouting.GetExtensions."""
        reply = await self._server.request("GET", "/inbound-routing/extensions")
        return [ExtensionInfo.model_validate(item) for item in reply.json()]

    async def get_methods(self) -> list[RoutingMethodInfo]:
        """IFaxInboundRouting.GetMethods, in the order they run."""
        reply = await self._server.request("GET", "/inbound-routing/methods")
        return [RoutingMethodInfo.model_validate(item) for item in reply.json()]

    async def get_rules(self) -> RoutingRules:
        """The inbound rules in the order they are tried, and their time zone."""
        return RoutingRules.model_validate((await self._server.request("GET", "/routing/rules")).json())

    async def test_route(self, *, device: str = "", did: str = "", caller_id: str = "", caller_name: str = "",
                         tsid: str = "", subaddress: str = "", at: float | None = None, pages: int = 1) -> RouteTest:
        """Which rules a call like this matches and what would be done with its fax; nothing is sent."""
        question = {"device": device, "did": did, "caller_id": caller_id, "caller_name": caller_name, "tsid": tsid,
                    "subaddress": subaddress, "at": at, "pages": pages}
        return RouteTest.model_validate((await self._server.request("POST", "/routing/test", json=question)).json())
