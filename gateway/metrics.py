"""Prometheus metrics: the shared store's figures read at scrape time (so every node answers the same), plus the
counters of what only this node sees (SMTP refusals), incremented where they happen."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.enums import ExtendedStatus, JobStatus
from gateway.storage.incoming import FAILED
from gateway.storage.schema import attempts, devices, incoming_deliveries, incoming_jobs, outgoing_jobs

CONTENT_TYPE = CONTENT_TYPE_LATEST
NODE_REGISTRY = CollectorRegistry()
"""This process's own counters; the store-backed figures are added per scrape."""
INTAKE_REFUSALS = Counter("faxgate_intake_refusals", "SMTP commands this node refused, by reason",
                          ["reason"], registry=NODE_REGISTRY)
REFUSAL_REASONS = {
    "5.1.3": "bad_address", "5.7.0": "authentication_required", "5.7.1": "not_allowed",
    "5.7.8": "authentication_failed", "4.7.0": "login_locked", "4.3.2": "queue_blocked", "4.5.3": "too_many_recipients",
    "5.5.3": "too_many_recipients", "4.7.1": "rate_limited", "5.6.0": "unreadable", "4.3.0": "store_failed",
    "5.5.1": "no_recipients",
}
_ENHANCED = re.compile(r"^[45]\d\d ([45]\.\d{1,3}\.\d{1,3})")


def count_refusal(reply: str) -> str:
    """Count an SMTP reply if it refuses (4xx/5xx); returns the reply unchanged so handlers can wrap their answer."""
    found = _ENHANCED.match(reply)
    if found:
        INTAKE_REFUSALS.labels(REFUSAL_REASONS.get(found.group(1), found.group(1))).inc()
    return reply


def status_label(status: int) -> str:
    """A job status as its FAX_JOB_STATUS names, lower case, modifiers joined with '+' ("pending+paused")."""
    names = [str(flag.name).lower() for flag in JobStatus if flag & status and flag.name]
    return "+".join(names) or str(status)


def extended_label(code: int) -> str:
    """An extended status code by its FAX_JOB_EXTENDED_STATUS name."""
    try:
        return ExtendedStatus(code).name.lower()
    except ValueError:
        return str(code)


@dataclass
class StoreFigures:
    """What the store says at one moment."""

    jobs_by_status: dict[str, int] = field(default_factory=dict)
    pages_sent: int = 0
    pages_received: int = 0
    calls: dict[tuple[str, str], int] = field(default_factory=dict)
    line_seconds: dict[str, float] = field(default_factory=dict)
    devices: list[tuple[str, str, str, int]] = field(default_factory=list)
    oldest_queued_age: float = 0.0
    queued: int = 0
    routing_failures: dict[str, int] = field(default_factory=dict)


async def read_figures(conn: AsyncConnection, now: float | None = None) -> StoreFigures:
    """One pass of aggregate queries (each an index or table scan the size of the archive, no rows fetched)."""
    now = time.time() if now is None else now
    figures = StoreFigures()
    rows = await conn.execute(select(outgoing_jobs.c.status, func.count()).group_by(outgoing_jobs.c.status))
    for status, count in rows:
        label = status_label(status)
        figures.jobs_by_status[label] = figures.jobs_by_status.get(label, 0) + count
    figures.pages_sent = int((await conn.execute(select(func.coalesce(func.sum(attempts.c.pages_sent), 0))))
                             .scalar_one())
    figures.pages_received = int((await conn.execute(select(func.coalesce(func.sum(incoming_jobs.c.pages), 0))))
                                 .scalar_one())
    for code, count in await conn.execute(select(attempts.c.extended_status, func.count())
                                          .where(attempts.c.ended_at.is_not(None))
                                          .group_by(attempts.c.extended_status)):
        figures.calls[("outgoing", extended_label(code))] = count
    for code, count in await conn.execute(select(incoming_jobs.c.extended_status, func.count())
                                          .where(incoming_jobs.c.ended_at.is_not(None))
                                          .group_by(incoming_jobs.c.extended_status)):
        figures.calls[("incoming", extended_label(code))] = count
    sent_time = (await conn.execute(select(func.coalesce(func.sum(attempts.c.ended_at - attempts.c.started_at), 0.0))
                                    .where(attempts.c.ended_at.is_not(None)))).scalar_one()
    received_time = (await conn.execute(
        select(func.coalesce(func.sum(incoming_jobs.c.ended_at - incoming_jobs.c.received_at), 0.0))
        .where(incoming_jobs.c.ended_at.is_not(None)))).scalar_one()
    figures.line_seconds = {"outgoing": float(sent_time), "incoming": float(received_time)}
    for name, node, state, status in await conn.execute(
            select(devices.c.name, devices.c.node_id, devices.c.state, devices.c.status).order_by(devices.c.name)):
        figures.devices.append((name, node, state, status))
    waiting = select(func.min(outgoing_jobs.c.submitted_at), func.count()).where(outgoing_jobs.c.final_at.is_(None))
    oldest, queued = (await conn.execute(waiting)).one()
    figures.queued = int(queued)
    figures.oldest_queued_age = max(0.0, now - float(oldest)) if oldest is not None else 0.0
    for method, count in await conn.execute(
            select(incoming_deliveries.c.method_name, func.count())
            .where(incoming_deliveries.c.state == FAILED).group_by(incoming_deliveries.c.method_name)):
        figures.routing_failures[method or "unknown"] = count
    return figures


class StoreCollector(Collector):
    """Turns one StoreFigures into metric families."""

    def __init__(self, figures: StoreFigures) -> None:
        self.figures = figures

    def collect(self) -> Iterable[Metric]:
        """Every store-backed family."""
        return list(self._families())

    def _families(self) -> Iterator[Metric]:
        f = self.figures
        jobs = GaugeMetricFamily("faxgate_jobs", "Outgoing jobs in the store, by FAX_JOB_STATUS", labels=["status"])
        for label, count in sorted(f.jobs_by_status.items()):
            jobs.add_metric([label], count)
        yield jobs
        yield CounterMetricFamily("faxgate_pages_sent", "Pages the far ends confirmed, over all calls",
                                  value=f.pages_sent)
        yield CounterMetricFamily("faxgate_pages_received", "Pages of received faxes", value=f.pages_received)
        calls = CounterMetricFamily("faxgate_calls", "Finished calls by direction and extended status",
                                    labels=["direction", "result"])
        for (direction, result), count in sorted(f.calls.items()):
            calls.add_metric([direction, result], count)
        yield calls
        line = CounterMetricFamily("faxgate_line_seconds", "Time lines spent in calls", labels=["direction"])
        for direction, seconds in sorted(f.line_seconds.items()):
            line.add_metric([direction], seconds)
        yield line
        state = GaugeMetricFamily("faxgate_device_state", "1 for the state each device's node last reported",
                                  labels=["device", "node", "state"])
        status = GaugeMetricFamily("faxgate_device_status", "The FPS_* status code each device last reported",
                                   labels=["device", "node"])
        for name, node, text, code in f.devices:
            state.add_metric([name, node, text], 1)
            status.add_metric([name, node], code)
        yield state
        yield status
        yield GaugeMetricFamily("faxgate_queue_jobs", "Outgoing jobs not yet final", value=f.queued)
        yield GaugeMetricFamily("faxgate_queue_oldest_age_seconds", "Age of the oldest job not yet final",
                                value=f.oldest_queued_age)
        failures = CounterMetricFamily("faxgate_routing_failures", "Inbound deliveries that failed for good",
                                       labels=["method"])
        for method, count in sorted(f.routing_failures.items()):
            failures.add_metric([method], count)
        yield failures


def exposition(figures: StoreFigures) -> bytes:
    """The text format: the store's figures and this node's counters."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(figures))
    return generate_latest(registry) + generate_latest(NODE_REGISTRY)
