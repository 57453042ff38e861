"""The blocking client: each call runs the asynchronous client on a private event loop, so both behave alike."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Coroutine, Iterator
from types import TracebackType
from typing import Any, TypeVar

from gateway.api.models import (
    Activity,
    Device,
    IncomingJob,
    IncomingJobPage,
    IncomingRouting,
    IntakeSourceStatus,
    OutgoingJob,
    QueueState,
    RouteTest,
    RoutingRules,
    SubmissionInfo,
    SubmitResult,
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
from gateway.client.aio import (
    AsyncFaxServer,
    AsyncInboundRouting,
    AsyncIncomingArchive,
    AsyncOutgoingArchive,
    AsyncOutgoingJob,
    AsyncOutgoingQueue,
)
from gateway.client.document import FaxDocument
from gateway.enums import ServerEvents
from gateway.events import ServerEvent

T = TypeVar("T")


class _Loop:
    """One event loop per connection; every call of that connection runs on it."""

    def __init__(self) -> None:
        self.runner = asyncio.Runner()

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(work)


class FaxServer:
    """A blocking connection to one faxgate server (IFaxServer); make it with ``FaxServer.connect(url, token)``."""

    def __init__(self, loop: _Loop, server: AsyncFaxServer) -> None:
        self._loop = loop
        self._server = server
        self.folders = Folders(loop, server)
        self.inbound_routing = InboundRouting(loop, server.inbound_routing)

    @classmethod
    def connect(cls, url: str, token: str | None = None, *, username: str | None = None,
                password: str | None = None, timeout: float = 30.0,
                verify: ssl.SSLContext | bool = True) -> FaxServer:
        """Connect with an API token (or a [security] user and password); ``verify`` as for AsyncFaxServer."""
        loop = _Loop()
        try:
            server = loop.run(AsyncFaxServer.connect(url, token, username=username, password=password,
                                                     timeout=timeout, verify=verify))
        except BaseException:
            loop.runner.close()
            raise
        return cls(loop, server)

    @property
    def server_name(self) -> str:
        """IFaxServer.ServerName."""
        return self._server.server_name

    @property
    def api_version(self) -> str:
        """The HTTP API version the server speaks."""
        return self._server.api_version

    @property
    def granted_rights(self) -> list[str]:
        """IFaxSecurity.GrantedRights, by name."""
        return self._server.info.granted_rights

    def get_devices(self) -> list[Device]:
        """IFaxServer.GetDevices."""
        return self._loop.run(self._server.get_devices())

    def get_activity(self) -> Activity:
        """IFaxServer.Activity."""
        return self._loop.run(self._server.get_activity())

    def get_intake_sources(self) -> list[IntakeSourceStatus]:
        """The node's intake sources with their state, reason, failures and next try."""
        return self._loop.run(self._server.get_intake_sources())

    def get_activity_log(self, since: float | None = None) -> list[str]:
        """The activity log: one xferfaxlog line per call, oldest first."""
        return self._loop.run(self._server.get_activity_log(since))

    def get_extension_property(self, guid: str, device: int = 0) -> bytes | None:
        """IFaxServer.GetExtensionProperty; None when nothing is stored."""
        return self._loop.run(self._server.get_extension_property(guid, device))

    def set_extension_property(self, guid: str, data: bytes, device: int = 0) -> None:
        """IFaxServer.SetExtensionProperty."""
        self._loop.run(self._server.set_extension_property(guid, data, device))

    def get_effective_config(self) -> EffectiveConfig:
        """Every configuration value in force, with its source, and the stored areas not applied."""
        return self._loop.run(self._server.get_effective_config())

    def answer_call(self, device: str) -> AnswerResult | AnswerRequested:
        """IFaxDevice.AnswerCall: answered now, or requested of the node that runs the device."""
        return self._loop.run(self._server.answer_call(device))

    def submit(self, document: FaxDocument) -> SubmitResult:
        """FaxDocument.Submit."""
        return self._loop.run(self._server.submit(document))

    def listen_to_server_events(self, mask: ServerEvents | None = None,
                                after_id: int | None = None) -> Iterator[ServerEvent]:
        """IFaxServer.ListenToServerEvents, blocking: each next() waits for the next event (see the async client)."""
        stream = self._server.listen_to_server_events(mask, after_id)

        async def following() -> ServerEvent:
            return await anext(stream)

        async def closing() -> None:
            await stream.aclose()

        try:
            while True:
                try:
                    yield self._loop.run(following())
                except StopAsyncIteration:
                    return
        finally:
            self._loop.run(closing())

    def disconnect(self) -> None:
        """IFaxServer.Disconnect."""
        try:
            self._loop.run(self._server.disconnect())
        finally:
            self._loop.runner.close()

    def __enter__(self) -> FaxServer:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.disconnect()


class Folders:
    """IFaxFolders."""

    def __init__(self, loop: _Loop, server: AsyncFaxServer) -> None:
        self.outgoing_queue = OutgoingQueue(loop, server.folders.outgoing_queue)
        self.outgoing_archive = OutgoingArchive(loop, server.folders.outgoing_archive)
        self.incoming_archive = IncomingArchive(loop, server.folders.incoming_archive)


class OutgoingQueue:
    """IFaxOutgoingQueue."""

    def __init__(self, loop: _Loop, queue: AsyncOutgoingQueue) -> None:
        self._loop = loop
        self._queue = queue

    def get_jobs(self, submission_id: str | None = None, page_size: int = 100) -> list[FaxOutgoingJob]:
        """Every job the caller may see, oldest first."""
        return [FaxOutgoingJob(self._loop, job) for job in self._loop.run(self._queue.get_jobs(submission_id,
                                                                                               page_size))]

    def get_job(self, job_id: int) -> FaxOutgoingJob:
        """IFaxOutgoingQueue.GetJob."""
        return FaxOutgoingJob(self._loop, self._loop.run(self._queue.get_job(job_id)))

    def get_state(self) -> QueueState:
        """Paused, Blocked and the counts."""
        return self._loop.run(self._queue.get_state())

    def set_state(self, *, paused: bool | None = None, blocked: bool | None = None) -> QueueState:
        """Change Paused and/or Blocked for every node."""
        return self._loop.run(self._queue.set_state(paused=paused, blocked=blocked))


    def get_submissions(self, state: str | None = None, limit: int = 100) -> list[SubmissionInfo]:
        """Submissions (broadcasts), newest first: all with QUERY_JOBS, else the caller's own."""
        return self._loop.run(self._queue.get_submissions(state, limit))

    def get_submission(self, submission_id: str) -> SubmissionInfo:
        """One submission and how far it got."""
        return self._loop.run(self._queue.get_submission(submission_id))


class FaxOutgoingJob:
    """IFaxOutgoingJob."""

    def __init__(self, loop: _Loop, job: AsyncOutgoingJob) -> None:
        self._loop = loop
        self._job = job

    @property
    def id(self) -> int:
        """The job id."""
        return self._job.id

    @property
    def info(self) -> OutgoingJob:
        """The job's fields as last read."""
        return self._job.info

    def refresh(self) -> OutgoingJob:
        """Read the job again, with its calls."""
        return self._loop.run(self._job.refresh())

    def cancel(self) -> OutgoingJob:
        """IFaxOutgoingJob.Cancel."""
        return self._loop.run(self._job.cancel())

    def pause(self) -> OutgoingJob:
        """IFaxOutgoingJob.Pause."""
        return self._loop.run(self._job.pause())

    def resume(self) -> OutgoingJob:
        """IFaxOutgoingJob.Resume."""
        return self._loop.run(self._job.resume())

    def restart(self) -> OutgoingJob:
        """IFaxOutgoingJob.Restart."""
        return self._loop.run(self._job.restart())

    def copy_tiff(self) -> bytes:
        """IFaxOutgoingJob.CopyTiff, as bytes."""
        return self._loop.run(self._job.copy_tiff())

    def pdf(self) -> bytes:
        """The job's fax as PDF."""
        return self._loop.run(self._job.pdf())


class OutgoingArchive:
    """IFaxOutgoingArchive."""

    def __init__(self, loop: _Loop, archive: AsyncOutgoingArchive) -> None:
        self._loop = loop
        self._archive = archive

    def get_messages(self, limit: int = 100, before: int | None = None) -> ArchivedJobPage:
        """One page of sent faxes, newest first."""
        return self._loop.run(self._archive.get_messages(limit, before))

    def get_message(self, message_id: int) -> ArchivedJob:
        """IFaxOutgoingArchive.GetMessage."""
        return self._loop.run(self._archive.get_message(message_id))

    def copy_tiff(self, message_id: int) -> bytes:
        """IFaxOutgoingMessage.CopyTiff, as bytes."""
        return self._loop.run(self._archive.copy_tiff(message_id))

    def pdf(self, message_id: int) -> bytes:
        """The sent fax as PDF."""
        return self._loop.run(self._archive.pdf(message_id))

    def delete(self, message_id: int) -> None:
        """IFaxOutgoingMessage.Delete."""
        self._loop.run(self._archive.delete(message_id))


class IncomingArchive:
    """IFaxIncomingArchive."""

    def __init__(self, loop: _Loop, archive: AsyncIncomingArchive) -> None:
        self._loop = loop
        self._archive = archive

    def get_messages(self, limit: int = 100, before: int | None = None) -> IncomingJobPage:
        """One page of received faxes, newest first."""
        return self._loop.run(self._archive.get_messages(limit, before))

    def get_message(self, message_id: int) -> IncomingJob:
        """IFaxIncomingArchive.GetMessage."""
        return self._loop.run(self._archive.get_message(message_id))

    def copy_tiff(self, message_id: int) -> bytes:
        """IFaxIncomingMessage.CopyTiff, as bytes."""
        return self._loop.run(self._archive.copy_tiff(message_id))

    def pdf(self, message_id: int) -> bytes:
        """The received fax as PDF."""
        return self._loop.run(self._archive.pdf(message_id))

    def get_routing(self, message_id: int) -> IncomingRouting:
        """How the fax was routed."""
        return self._loop.run(self._archive.get_routing(message_id))

    def reroute(self, message_id: int) -> None:
        """Route the fax again with the rules in force now."""
        self._loop.run(self._archive.reroute(message_id))

    def delete(self, message_id: int) -> None:
        """IFaxIncomingMessage.Delete."""
        self._loop.run(self._archive.delete(message_id))


class InboundRouting:
    """IFaxInboundRouting."""

    def __init__(self, loop: _Loop, routing: AsyncInboundRouting) -> None:
        self._loop = loop
        self._routing = routing

    def get_extensions(self) -> list[ExtensionInfo]:
        """IFaxInboundRouting.GetExtensions."""
        return self._loop.run(self._routing.get_extensions())

    def get_methods(self) -> list[RoutingMethodInfo]:
        """IFaxInboundRouting.GetMethods, in the order they run."""
        return self._loop.run(self._routing.get_methods())

    def get_rules(self) -> RoutingRules:
        """The inbound rules in the order they are tried, and their time zone."""
        return self._loop.run(self._routing.get_rules())

    def test_route(self, *, device: str = "", did: str = "", caller_id: str = "", caller_name: str = "",
                   tsid: str = "", subaddress: str = "", at: float | None = None, pages: int = 1) -> RouteTest:
        """Which rules a call like this matches and what would be done with its fax; nothing is sent."""
        return self._loop.run(self._routing.test_route(device=device, did=did, caller_id=caller_id,
                                                       caller_name=caller_name, tsid=tsid, subaddress=subaddress,
                                                       at=at, pages=pages))
