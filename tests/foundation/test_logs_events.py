"""Logging is one sanitized line per event with per-category thresholds; the event bus delivers by topic mask."""

from __future__ import annotations

import io
import json
import logging

from gateway.config.sections import EventLoggingSection, LoggingSection
from gateway.enums import ServerEvents
from gateway.events import EventBus
from gateway.logs import log_event, logger, setup_logging


def test_one_line_per_event_with_hostile_values_neutralised() -> None:
    stream = io.StringIO()
    setup_logging(LoggingSection(), stream)
    hostile_tsid = "EVIL\r\n2026-01-01T00:00:00Z INFO init forged.event\x1b[31m" + "A" * 1000
    log_event(logger("inbound"), logging.INFO, "fax.received", tsid=hostile_tsid, pages=3)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    line = lines[0]
    assert " INFO inbound fax.received " in line
    assert "\x1b" not in line and "\r" not in line
    assert "pages=3" in line
    assert len(line) < 400


def test_category_thresholds_follow_windows_levels() -> None:
    stream = io.StringIO()
    setup_logging(LoggingSection(events=EventLoggingSection(inbound="min", outbound="max", general="none")), stream)
    log_event(logger("inbound"), logging.INFO, "inbound.info.hidden")
    log_event(logger("inbound"), logging.WARNING, "inbound.warning.shown")
    log_event(logger("outbound"), logging.DEBUG, "outbound.debug.shown")
    log_event(logger("general"), logging.ERROR, "general.error.hidden")
    text = stream.getvalue()
    assert "inbound.warning.shown" in text and "outbound.debug.shown" in text
    assert "hidden" not in text


def test_json_format_is_one_object_per_line() -> None:
    stream = io.StringIO()
    setup_logging(LoggingSection(format="json"), stream)
    log_event(logger("outbound"), logging.INFO, "job.completed", job=7, remote_csid="+49 30 1234")
    record = json.loads(stream.getvalue())
    assert record["category"] == "outbound" and record["event"] == "job.completed"
    assert record["job"] == "7" and record["remote_csid"] == "+49 30 1234"


async def test_event_bus_delivers_by_topic_mask() -> None:
    bus = EventBus()
    with_jobs = bus.subscribe(ServerEvents.OUT_QUEUE | ServerEvents.IN_QUEUE)
    devices_only = bus.subscribe(ServerEvents.DEVICE_STATUS)
    bus.publish(ServerEvents.OUT_QUEUE, "job.added", job=1)
    bus.publish(ServerEvents.DEVICE_STATUS, "device.ringing", device="sim0")
    first = await with_jobs.get(timeout=1)
    assert (first.kind, first.payload) == ("job.added", {"job": 1})
    assert (await devices_only.get(timeout=1)).kind == "device.ringing"
    assert with_jobs.queue.empty()
    with_jobs.close()
    bus.publish(ServerEvents.OUT_QUEUE, "job.changed", job=1)
    assert with_jobs.queue.empty()


def test_modem_transcripts_follow_the_general_threshold() -> None:
    stream = io.StringIO()
    setup_logging(LoggingSection(), stream)
    logging.getLogger("faxgate.modem.session").debug("sim0 --> AT+FCLASS=1")
    assert stream.getvalue() == ""
    setup_logging(LoggingSection(events=EventLoggingSection(general="max")), stream)
    logging.getLogger("faxgate.modem.session").debug("sim0 --> AT+FCLASS=1")
    assert "AT+FCLASS=1" in stream.getvalue()
