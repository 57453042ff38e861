"""The inbound service: waits for calls on each receiving device, screens them, answers, and commits each fax.

Policy per device (Windows ReceiveMode, HylaFAX RingsBeforeAnswer / RejectCall / QualifyTSI / MaxRecvPages):
auto-answer after the device's rings, manual (answer only when asked), or no answer; CSID per device or per
dialled DID; reject lists by caller ID and DID before answering; inside the call, a block list by the sender's
TSID (DCN as soon as the TSI arrives) and a page limit (DCN after the last page allowed), so a refused sender
stops sending rather than being received and thrown away.
A received fax is committed to the store (TIFF as a blob) before the service turns to the next call;
routing then starts from the store. A call is received into its own folder under data_dir/receiving, each page
kept there as it is taken (modem.rxspool); the folder goes once the fax is committed. A folder found at start is
a call a crash cut off: its pages, every one the sender saw confirmed, become a partially received fax.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import shutil
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gateway.config import FaxgateConfig
from gateway.config.devices import DeviceSection
from gateway.config.routing import AnswerSection
from gateway.enums import EventId, ExtendedStatus, JobStatus, ServerEvents
from gateway.events import EventBus, Subscription
from gateway.logs import log_event, logger
from gateway.storage import Database
from gateway.storage import incoming as store
from gateway.storage.events import fei_payload
from gateway.textsafe import safe_text
from modem.device import FaxDevice, IncomingCall
from modem.result import CallResult
from modem.rxspool import SPOOL_FOLDER, spooled_pages, write_spooled_tiff
from modem.t30.common import StatusCallback
from routing.notify import notify_admin
from routing.patterns import first_match

log = logger("inbound")
IDLE_WAIT_S = 3600.0
PORT_RETRY_S = 5.0
"""After a port error, wait this long (times the errors in a row, at most PORT_RETRY_MAX_S) before listening again."""
PORT_RETRY_MAX_S = 60.0
RECEIVING_FOLDER = "receiving"
"""Under data_dir: one folder per call being received."""
CALL_INFO = "call.json"
ANSWER_REQUESTED = "call.answer_requested"
"""The INCOMING_CALL event kind of an AnswerCall sent to another node's API: payload device, answer_node (the node
that runs the device and answers) and requested_by."""
STOPPED_REASON = "the server stopped during the call"


def screen_call(answer: AnswerSection, call: IncomingCall) -> str | None:
    """Why a ringing call must not be answered (caller ID or DID on a reject list), or None to answer."""
    pattern = first_match(answer.reject_caller_ids, call.caller_id, numeric=True)
    if pattern is not None:
        return f"caller ID {safe_text(call.caller_id, 40) or '(none)'} is rejected by {pattern!r}"
    pattern = first_match(answer.reject_dids, call.did, numeric=True)
    if pattern is not None:
        return f"DID {safe_text(call.did, 40) or '(none)'} is rejected by {pattern!r}"
    return None


def screen_tsid(answer: AnswerSection, tsid: str) -> str | None:
    """Why a sender's TSID is blocked, or None."""
    pattern = first_match(answer.block_tsids, tsid)
    return f"sender TSID {safe_text(tsid, 40)!r} is blocked by {pattern!r}" if pattern is not None else None


def csid_for(answer: AnswerSection, device: DeviceSection, did: str) -> str:
    """The station id to announce: the DID's own, else the device's."""
    for pattern, csid in answer.csid_by_did.items():
        if first_match([pattern], did, numeric=True) is not None:
            return csid
    return device.csid


class InboundService:
    """One receive loop per device whose receive mode is not "no_answer"."""

    name = "inbound"

    def __init__(
        self,
        config: FaxgateConfig,
        db: Database,
        devices: Mapping[str, FaxDevice],
        events: EventBus | None = None,
        node_id: str = "",
        *,
        on_committed: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.time,
        manual_answer_wait: float = 30.0,
    ) -> None:
        self.config = config
        self.db = db
        self.devices = dict(devices)
        self.events = events
        self.node_id = node_id
        self.on_committed = on_committed
        self.clock = clock
        self.manual_answer_wait = manual_answer_wait
        self.sections = {device.name: device for device in config.devices}
        self.device_ids = config.device_ids()
        self._answer_requests: dict[str, asyncio.Event] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._serving: set[str] = set()
        self.ringing: set[str] = set()
        """Manual-answer devices with a call ringing now, waiting for AnswerCall."""

    async def start(self) -> None:
        """Keep what calls cut off by a crash received, then start waiting for calls on every device that receives."""
        await self.recover()
        self._serve_receiving()
        if self.events is not None:
            requests = self.events.subscribe(ServerEvents.INCOMING_CALL)
            self._tasks.append(asyncio.create_task(self._follow_answer_requests(requests), name="inbound-answers"))

    def _serve_receiving(self) -> None:
        """A receive loop for each device that receives and has none yet."""
        for name, device in self.devices.items():
            section = self.sections.get(name)
            if section is None or section.receive_mode == "no_answer" or name in self._serving:
                continue
            self._serving.add(name)
            self._answer_requests.setdefault(name, asyncio.Event())
            self._tasks.append(asyncio.create_task(self._serve(name, device), name=f"inbound-{name}"))

    def reconfigure(self, areas: set[str]) -> None:
        """A device's receive mode changed at runtime: a device switched from no_answer starts listening now (one
        switched off keeps its loop, which then lets calls go unanswered). CSID and mode are read at each call."""
        if self._tasks and any(area.startswith("device:") for area in areas):
            self._serve_receiving()

    async def stop(self) -> None:
        """Stop waiting; a call being received is cut off (the caller will retry). A line that ended with an
        error is logged, never raised, so the server goes on stopping the rest."""
        tasks, self._tasks = self._tasks, []
        self._serving.clear()
        for task in tasks:
            task.cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        for task, outcome in zip(tasks, outcomes, strict=True):
            if isinstance(outcome, Exception):
                log.error("inbound.line_failed", exc_info=outcome, extra={"fields": {"task": task.get_name()}})

    def request_answer(self, device: str) -> None:
        """Answer the next ringing call on a manual-answer device (IFaxDevice.AnswerCall)."""
        self._answer_requests.setdefault(device, asyncio.Event()).set()

    def answer_ringing(self, device: str) -> bool:
        """AnswerCall as Windows has it: answer the call ringing now on ``device``; False when none is."""
        if device not in self.ringing:
            return False
        self.request_answer(device)
        return True

    async def _follow_answer_requests(self, requests: Subscription) -> None:
        """AnswerCall sent to another node's API for a line of this node: answered here if the call still rings
        (a request this node never saw while it was down is not acted on later: the call has long ended)."""
        try:
            async for event in requests:
                if event.kind != ANSWER_REQUESTED or event.payload.get("answer_node") != self.node_id:
                    continue
                name = str(event.payload.get("device", ""))
                answered = name in self.devices and self.answer_ringing(name)
                log_event(log, logging.INFO if answered else logging.WARNING,
                          "call.answer_requested" if answered else "call.answer_request_missed",
                          device=name, from_node=event.node, by=event.payload.get("requested_by", ""))
        finally:
            requests.close()

    async def _serve(self, name: str, device: FaxDevice) -> None:
        errors = 0
        while True:
            try:
                call = await device.wait_for_call(IDLE_WAIT_S)
            except TimeoutError:
                continue
            except Exception:  # a port error (unplugged, modem gone) must not end this line's task
                errors += 1
                log.exception("inbound.wait_failed", extra={"fields": {"device": name, "errors": errors}})
                await asyncio.sleep(min(PORT_RETRY_S * errors, PORT_RETRY_MAX_S))
                continue
            errors = 0
            try:
                await self.handle_call(name, device, call)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("inbound.call_failed")
                await asyncio.sleep(1.0)

    def _publish(self, kind: str, call_id: int, name: str, **payload: object) -> None:
        """An INCOMING_CALL event (OnNewCall: call id, device id, caller id) about one call on one line."""
        if self.events is not None:
            self.events.publish(ServerEvents.INCOMING_CALL, kind, call_id=call_id, device=name,
                                device_id=self.device_ids.get(name, 0), **payload)

    def _fei(self, fei: EventId, name: str, call_id: int, **payload: object) -> None:
        """A legacy FEI_ event of a call (answered, receiving page N; the line's own states publish FEI_RINGING)
        with its time stamp, device id and no job id (the received fax becomes a job when the call ends)."""
        if self.events is not None:
            fields = fei_payload(fei, device_id=self.device_ids.get(name, 0), device=name, call_id=call_id)
            self.events.publish(ServerEvents.INCOMING_CALL, "fei", **fields, **payload)

    def _page_events(self, name: str, call_id: int) -> StatusCallback:
        """The receiver's progress as FEI_RECEIVING, once per page as it begins (a page sent again after a
        retrain is still the same page)."""
        announced = [0]

        def on_status(status: ExtendedStatus, page: int) -> None:
            if status == ExtendedStatus.RECEIVING and page > announced[0]:
                announced[0] = page
                self._fei(EventId.RECEIVING, name, call_id, page=page)

        return on_status

    async def _wants_answer(self, name: str, section: DeviceSection) -> str | None:
        """None to answer now, else why not (inbox blocked, manual mode and nobody asked)."""
        if self.config.inbox.blocked:
            return "the incoming queue is blocked"
        if section.receive_mode == "no_answer":
            return "the device does not receive (receive mode no_answer)"
        if section.receive_mode != "manual":
            return None
        request = self._answer_requests.setdefault(name, asyncio.Event())
        if not request.is_set():
            self.ringing.add(name)
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(request.wait(), self.manual_answer_wait)
            finally:
                self.ringing.discard(name)
        if request.is_set():
            request.clear()
            return None
        return "manual answer mode and nobody answered"

    async def handle_call(self, name: str, device: FaxDevice, call: IncomingCall) -> int | None:
        """Screen, answer and commit one ringing call; returns the incoming job id (None if not answered)."""
        section = self.sections[name]
        answer = self.config.inbound.answer
        caller = safe_text(call.caller_id, 40)
        call_id = secrets.randbits(31)
        self._publish("call.ringing", call_id, name, caller_id=caller, did=safe_text(call.did, 40))
        refusal = screen_call(answer, call)
        if refusal is not None:
            await device.reject(call)
            return await self._record_refused(name, call, call_id, refusal, ExtendedStatus.CALL_BLACKLISTED)
        not_now = await self._wants_answer(name, section)
        if not_now is not None:
            await device.reject(call)
            log_event(log, logging.INFO, "call.not_answered", device=name, caller_id=caller, reason=not_now)
            self._publish("call.not_answered", call_id, name, caller_id=caller, reason=not_now)
            return None
        csid = csid_for(answer, section, call.did)
        started = self.clock()
        self._publish("call.answered", call_id, name, caller_id=caller, csid=safe_text(csid, 40))
        self._fei(EventId.ANSWERED, name, call_id, caller_id=caller)
        blocked: list[str] = []

        def allow_tsid(tsid: str) -> bool:
            """Asked by the receiver once the TSI arrives; keeps the matching pattern for the job's reason."""
            why = screen_tsid(answer, tsid)
            if why is not None:
                blocked.append(why)
            return why is None

        work = self.config.server.data_dir / RECEIVING_FOLDER / f"{name}-{uuid.uuid4().hex[:16]}"
        info = {"device": name, "caller_id": call.caller_id, "caller_name": call.caller_name, "did": call.did,
                "csid": csid, "started": started}
        await asyncio.to_thread(_begin_call, work, info)
        # Kept if the call or its commit fails (a stop, a crash, the store down): the next start recovers it.
        result = await device.answer(call, work, csid, screen_tsid=allow_tsid, max_pages=answer.max_pages,
                                     on_status=self._page_events(name, call_id))
        job_id = await self._commit(name, call, call_id, csid, started, result, blocked[0] if blocked else None)
        await asyncio.to_thread(shutil.rmtree, work, True)
        return job_id

    async def recover(self) -> list[int]:
        """Commit each call a crash or a stop cut off: its kept pages as a partially received fax to route (or a
        failed call when no page was whole). Returns the incoming job ids."""
        root = self.config.server.data_dir / RECEIVING_FOLDER
        folders = sorted(path for path in root.iterdir() if path.is_dir()) if root.is_dir() else []
        recovered = []
        for folder in folders:
            try:
                job_id = await self._recover_call(folder)
            except Exception:  # a damaged folder or the store down: logged, kept for the next start, never fatal
                log.exception("fax.recovery_failed", extra={"fields": {"folder": str(folder)}})
                continue
            recovered.append(job_id)
        return recovered

    async def _recover_call(self, folder: Path) -> int:
        """One cut-off call's folder into the store, then the folder goes."""
        info = await asyncio.to_thread(_call_info, folder)
        pages = await asyncio.to_thread(spooled_pages, folder / SPOOL_FOLDER)
        tiff: bytes | None = None
        if pages:
            path = await asyncio.to_thread(write_spooled_tiff, folder / "recovered.tif", pages,
                                           caller_id=info["caller_id"], caller_name=info["caller_name"],
                                           sub_address=info["did"])
            tiff = await asyncio.to_thread(path.read_bytes)
        reason = f"{STOPPED_REASON}; {len(pages)} pages kept" if pages else f"{STOPPED_REASON}; no page was whole"
        async with self.db.transaction() as conn:
            job_id = await store.create_received(
                conn, device_name=info["device"], node_id=self.node_id, received_at=info["started"],
                ended_at=info["ended"], tiff=tiff, pages=len(pages),
                status=JobStatus.ROUTING if tiff else JobStatus.FAILED,
                extended_status=ExtendedStatus.PARTIALLY_RECEIVED if tiff else ExtendedStatus.DISCONNECTED,
                reason=reason, caller_id=info["caller_id"], caller_name=info["caller_name"], did=info["did"],
                csid=info["csid"], device_id=self.device_ids.get(info["device"], 0))
        await asyncio.to_thread(shutil.rmtree, folder, True)
        log_event(log, logging.WARNING, "fax.recovered", device=info["device"], job=job_id, pages=len(pages),
                  caller_id=info["caller_id"], reason=reason)
        if tiff and self.on_committed is not None:
            self.on_committed(job_id)
        return job_id

    async def _record_refused(self, name: str, call: IncomingCall, call_id: int, reason: str,
                              status: ExtendedStatus) -> int:
        now = self.clock()
        async with self.db.transaction() as conn:
            job_id = await store.create_received(
                conn, device_name=name, node_id=self.node_id, received_at=now, ended_at=now, tiff=None, pages=0,
                status=JobStatus.CANCELED, extended_status=status, reason=reason, caller_id=call.caller_id,
                caller_name=call.caller_name, did=call.did, device_id=self.device_ids.get(name, 0),
            )
        log_event(log, logging.INFO, "call.rejected", device=name, job=job_id, reason=reason)
        self._publish("call.rejected", call_id, name, caller_id=safe_text(call.caller_id, 40), job_id=job_id,
                      reason=safe_text(reason, 300))
        return job_id

    async def _commit(
        self, name: str, call: IncomingCall, call_id: int, csid: str, started: float, result: CallResult,
        blocked: str | None,
    ) -> int:
        """Store what the call produced, then hand it to routing and tell the administrator of errors.

        ``blocked``: why the TSID screen refused the sender during the call (the call then kept no pages).
        """
        answer = self.config.inbound.answer
        tsid = result.remote_csid
        reason = result.reason
        status = result.status
        tiff: bytes | None = None
        pages = result.pages
        refused = status == ExtendedStatus.CALL_BLACKLISTED
        if refused:
            reason, pages = blocked or reason, 0
        elif result.files:
            tiff = await asyncio.to_thread(Path(result.files[0]).read_bytes)
        job_status = JobStatus.ROUTING if tiff else (JobStatus.CANCELED if refused else JobStatus.FAILED)
        quality = {"bit_rate": result.bit_rate, "ecm": result.ecm, "compression": result.compression,
                   "resolution": result.resolution, "duration_s": result.duration_s,
                   "pages_total": result.pages_total}
        session_log = "\n".join(result.session_log)
        async with self.db.transaction() as conn:
            job_id = await store.create_received(
                conn, device_name=name, node_id=self.node_id, received_at=started, ended_at=self.clock(),
                tiff=tiff, pages=pages, status=job_status, extended_status=status, reason=safe_text(reason, 300),
                caller_id=call.caller_id, caller_name=call.caller_name, did=call.did, remote_tsid=tsid, csid=csid,
                subaddress=result.subaddress, quality=quality, session_log=session_log,
                device_id=self.device_ids.get(name, 0),
            )
        at_limit = status == ExtendedStatus.PARTIALLY_RECEIVED and pages >= answer.max_pages  # policy, not a fault
        failed = status not in (ExtendedStatus.CALL_COMPLETED, ExtendedStatus.CALL_BLACKLISTED) and not at_limit
        log_event(log, logging.WARNING if failed else logging.INFO, "fax.received", device=name, job=job_id,
                  pages=pages, caller_id=call.caller_id, did=call.did, tsid=tsid, status=status.name)
        self._publish("call.ended", call_id, name, caller_id=safe_text(call.caller_id, 40), job_id=job_id,
                      status=int(status), pages=pages)
        if tiff and self.on_committed is not None:
            self.on_committed(job_id)
        mode = self.config.inbound.notify_admin
        if (failed and mode != "never") or mode == "always":
            await notify_admin(
                self.config,
                f"Fax reception on {name} {'failed' if failed else 'done'}: {safe_text(reason, 80)}",
                f"Device: {name}\nCaller ID: {safe_text(call.caller_id, 40)}\nDID: {safe_text(call.did, 40)}\n"
                f"Remote TSID: {safe_text(tsid, 40)}\nPages kept: {pages}\nStatus: {status.name}\n"
                f"Reason: {safe_text(reason, 300)}\nJob: {job_id}\n\nThe session log is attached.\n",
                session_log,
                attachment_name=f"session-{job_id}.log",
            )
        return job_id


def _begin_call(folder: Path, info: dict[str, object]) -> None:
    """The call's folder (private, like the data folder) and what recovery needs to know of the call."""
    folder.mkdir(mode=0o700, parents=True)
    (folder / CALL_INFO).write_text(json.dumps(info), encoding="utf-8")


def _call_info(folder: Path) -> dict[str, Any]:
    """What the call's folder says of it; a missing or damaged file leaves plain defaults (the pages still count)."""
    last_write = max([path.stat().st_mtime for path in folder.rglob("*")], default=folder.stat().st_mtime)
    info: dict[str, Any] = {"device": "", "caller_id": "", "caller_name": "", "did": "", "csid": "",
                            "started": folder.stat().st_mtime, "ended": last_write}
    try:
        stored = json.loads((folder / CALL_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return info
    if isinstance(stored, dict):
        for key, default in list(info.items()):
            if key != "ended" and isinstance(stored.get(key), type(default)):
                info[key] = stored[key]
    return info
