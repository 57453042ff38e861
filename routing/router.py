"""The routing service: takes received faxes from storage and runs their deliveries, retrying with backoff.

Routing always starts from the store. The decision and its deliveries are written once, before the first
method runs; each delivery is marked done in its own transaction right after it succeeds. After a crash
another pass (this node after restart, or another node once the claim lease runs out) resumes with the
deliveries still pending, so nothing is lost and nothing already delivered runs again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from gateway.config import FaxgateConfig
from gateway.crashpoints import crash_point
from gateway.enums import JobStatus, ServerEvents
from gateway.events import EventBus, Subscription
from gateway.logs import log_event, logger
from gateway.storage import Database, get_blob
from gateway.storage import incoming as store
from gateway.storage.incoming import DELIVERED, FAILED, PENDING, IncomingRecord
from gateway.textsafe import safe_text
from routing.archive import IncomingArchive
from routing.extconfig import ExtensionConfigStore
from routing.fax import ReceivedFax
from routing.files import FileList
from routing.methods.base import RouteContext, RoutingFailure
from routing.notify import notify_admin
from routing.plan import plan
from routing.registry import MethodRegistry
from routing.rules import decide

log = logger("inbound")
ARCHIVE_SWEEP_S = 3600.0


def device_ids(config: FaxgateConfig) -> dict[str, int]:
    """Numeric device ids (1, 2, ... in configuration order); 0 is reserved for global extension data."""
    return config.device_ids()


def fax_of(record: IncomingRecord, ids: dict[str, int]) -> ReceivedFax:
    """The routing view of a stored incoming job."""
    job = record.job
    return ReceivedFax(
        id=job.id, device=job.device_name, device_id=ids.get(job.device_name, 0), received_at=job.received_at,
        caller_id=job.caller_id, caller_name=job.caller_name, did=job.did, tsid=job.remote_tsid, csid=job.csid,
        subaddress=record.subaddress, pages=job.pages, extended_status=job.extended_status,
    )


class RoutingService:
    """Routes every received fax due for routing, one at a time per node."""

    name = "routing"

    def __init__(
        self,
        config: FaxgateConfig,
        db: Database,
        events: EventBus | None = None,
        node_id: str = "",
        *,
        registry: MethodRegistry | None = None,
        extensions: ExtensionConfigStore | None = None,
        clock: Callable[[], float] = time.time,
        registrations: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.config = config
        self.db = db
        self.events = events
        self.node_id = node_id or "routing"
        self.registry = registry or MethodRegistry(config.inbound)
        self.registrations = registrations
        """Routing extensions registered or unregistered through the API (applied here, at start, as in Windows)."""
        self.ids = device_ids(config)
        self.extensions = extensions or ExtensionConfigStore(db, self.ids, events)
        self.archive = IncomingArchive(config, events)
        self.clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._subscription: Subscription | None = None
        self._last_sweep = 0.0

    async def start(self) -> None:
        """Take back this node's claims (a crash left them), load extension methods and begin routing in the
        background; new faxes on the bus wake it."""
        async with self.db.transaction() as conn:
            taken = await store.release_claims(conn, self.node_id)
        if taken:
            log_event(log, logging.INFO, "routing.claims_taken_back", jobs=",".join(map(str, taken)),
                      node=self.node_id)
        self.registry.start(self.registrations)
        if self.events is not None:
            self._subscription = self.events.subscribe(ServerEvents.IN_QUEUE)
            self._listener = asyncio.create_task(self._listen(self._subscription), name="routing-wake")
        self._task = asyncio.create_task(self._run(), name="routing")

    async def _listen(self, subscription: Subscription) -> None:
        async for event in subscription:
            if event.kind == "job.added":
                self.wake()

    async def stop(self) -> None:
        """Stop after the delivery in flight; what is pending stays pending in the store."""
        for task in (self._listener, self._task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._listener = None
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None

    def wake(self) -> None:
        """A fax was committed: look for work now instead of at the next poll."""
        self._wake.set()

    async def _run(self) -> None:
        poll = self.config.inbound.poll_interval.total_seconds()
        while True:
            try:
                while await self.run_once() is not None:
                    pass
                if self.clock() - self._last_sweep > ARCHIVE_SWEEP_S:
                    self._last_sweep = self.clock()
                    await asyncio.to_thread(self.archive.sweep, self.clock())
            except Exception:
                log.exception("routing.pass_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), poll)
            self._wake.clear()

    async def run_once(self) -> int | None:
        """Claim one due job and route it; returns its id, or None when nothing is due."""
        now = self.clock()
        async with self.db.transaction() as conn:
            job_id = await store.claim_due(conn, self.node_id, now, self.config.inbound.claim_lease.total_seconds(),
                                           self.ids)
        if job_id is None:
            return None
        await self.route_job(job_id)
        return job_id

    async def _decide(self, record: IncomingRecord, fax: ReceivedFax) -> None:
        decision = decide(self.config.inbound, fax)
        device_config = {
            method.guid: await self.extensions.get_json(fax.device_id, method.guid)
            for method in self.registry.ordered()
        } if fax.device_id else {}
        planned = plan(decision, self.registry, fax.device, device_config)
        stored = {**decision.to_json(), "notes": planned.notes,
                  "deliveries": [f"{d.key}: {d.description}" for d in planned.deliveries]}
        async with self.db.transaction() as conn:
            await store.save_plan(conn, fax.id, stored, [d.row() for d in planned.deliveries])
        log_event(log, logging.INFO, "routing.decided", job=fax.id, why=decision.why,
                  deliveries=len(planned.deliveries), notes="; ".join(planned.notes))

    async def route_job(self, job_id: int) -> None:
        """Run the pending deliveries of one claimed job and record the outcome."""
        async with self.db.transaction() as conn:
            record = await store.get(conn, job_id)
        if record is None or record.job.tiff_blob_id is None:
            return
        fax = fax_of(record, self.ids)
        if record.decision is None:
            await self._decide(record, fax)
        async with self.db.transaction() as conn:
            planned = await store.deliveries(conn, job_id)
            tiff = await get_blob(conn, record.job.tiff_blob_id)
        zone = ZoneInfo(self.config.inbound.timezone)
        with tempfile.TemporaryDirectory(prefix=f"faxgate-in-{job_id}-") as work:
            tiff_path = Path(work) / f"fax-{job_id}.tif"
            tiff_path.write_bytes(tiff)
            tiff_path.chmod(0o400)
            files = FileList(tiff_path, Path(work), title=f"Fax {job_id} from {safe_text(fax.sender, 40)}")
            lease = self.config.inbound.claim_lease.total_seconds()
            for delivery in planned:
                if delivery.state != PENDING:
                    continue
                method = self.registry.find(delivery.method_guid)
                now = self.clock()
                async with self.db.transaction() as conn:
                    await store.extend_claim(conn, job_id, self.node_id, now + lease)
                if method is None:
                    async with self.db.transaction() as conn:
                        await store.mark_failed(conn, delivery.id, f"routing method {delivery.method_name} "
                                                "is not installed", final=False, now=now)
                    continue
                context = RouteContext(fax, files, delivery.config, self.config, zone,
                                       f"{job_id}/{delivery.key}", self.node_id)
                try:
                    detail = await method.route(context)
                except RoutingFailure as failure:
                    error, final = safe_text(str(failure), 300), not failure.retryable
                except Exception as exc:
                    log.exception("routing.method_crashed")
                    error, final = safe_text(f"{type(exc).__name__}: {exc}", 300), False
                else:
                    crash_point("routing.delivered_unrecorded")
                    async with self.db.transaction() as conn:
                        await store.mark_delivered(conn, delivery.id, safe_text(detail, 500), self.clock())
                    log_event(log, logging.INFO, "routing.delivered", job=job_id, delivery=delivery.key,
                              detail=detail)
                    continue
                async with self.db.transaction() as conn:
                    await store.mark_failed(conn, delivery.id, error, final=final, now=self.clock())
                log_event(log, logging.WARNING, "routing.delivery_failed", job=job_id, delivery=delivery.key,
                          error=error, final=final)
        await self._finish(record, fax, tiff)

    async def _finish(self, record: IncomingRecord, fax: ReceivedFax, tiff: bytes) -> None:
        job_id = record.job.id
        async with self.db.transaction() as conn:
            done = await store.deliveries(conn, job_id)
        pending = [d for d in done if d.state == PENDING]
        failed = [d for d in done if d.state == FAILED]
        delivered = [d for d in done if d.state == DELIVERED]
        now = self.clock()
        retries = record.job.routing_retries
        next_at: float | None = None
        if not pending and not failed:
            status = JobStatus.COMPLETED
            text = ("routed: " + ", ".join(f"{d.method_name} ({d.rule})" for d in delivered)) if delivered else (
                "kept in the inbox: no method to run")
        elif pending and retries < self.config.inbound.routing_retries:
            status = JobStatus.RETRYING
            next_at = now + self.config.inbound.retry_backoff(retries + 1).total_seconds()
            when = datetime.fromtimestamp(next_at, UTC).strftime("%H:%M:%S")
            text = (f"retry {retries + 1} of {self.config.inbound.routing_retries} at {when} UTC: "
                    + "; ".join(f"{d.method_name}: {d.last_error}" for d in pending))
        else:
            status = JobStatus.RETRIES_EXCEEDED if pending else JobStatus.FAILED
            text = "could not route: " + "; ".join(f"{d.method_name}: {d.last_error}" for d in [*pending, *failed])
        text = safe_text(text, 1000)
        final = status != JobStatus.RETRYING
        async with self.db.transaction() as conn:
            await store.finish_routing(conn, job_id, status=status, routing_status=text, now=now,
                                       next_routing_at=next_at, count_retry=status == JobStatus.RETRYING)
        if final and self.archive.enabled and not record.archive_path:
            path = await asyncio.to_thread(self.archive.store, job_id, fax.received_at, tiff)
            async with self.db.transaction() as conn:
                await store.set_archive_path(conn, job_id, str(path))
        level = logging.INFO if status in (JobStatus.COMPLETED, JobStatus.RETRYING) else logging.ERROR
        log_event(log, level, "routing.finished", job=job_id, status=status.name, detail=text)
        if status in (JobStatus.FAILED, JobStatus.RETRIES_EXCEEDED):
            await notify_admin(self.config, f"Fax {job_id} from {fax.sender} could not be routed",
                               f"{text}\n\nThe fax is kept in the inbox: faxgate inbox show {job_id}\n")
