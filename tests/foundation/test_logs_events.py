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


def _fail_deep(tsid: str) -> None:
    raise ValueError(f"bad frame from {tsid}")


def test_exceptions_keep_their_traceback_as_indented_lines_that_cannot_forge_a_log_line() -> None:
    stream = io.StringIO()
    setup_logging(LoggingSection(), stream)
    forged = "X\n2026-01-01T00:00:00Z INFO init forged.event\x1b[31m"
    try:
        _fail_deep(forged)
    except ValueError:
        logger("inbound").exception("inbound.call_failed", extra={"fields": {"device": "sim0"}})
    lines = stream.getvalue().splitlines()
    assert " ERROR inbound inbound.call_failed device=sim0 error=" in lines[0]
    assert all(line.startswith("    | ") for line in lines[1:])
    body = "\n".join(lines[1:])
    assert "Traceback (most recent call last):" in body
    assert "in _fail_deep" in body and "ValueError: bad frame from X" in body
    assert "\x1b" not in stream.getvalue()
    assert not any(line.startswith("2026-01-01") for line in lines)


def test_json_format_carries_the_traceback_as_a_field() -> None:
    stream = io.StringIO()
    setup_logging(LoggingSection(format="json"), stream)
    try:
        _fail_deep("+49 30 1234")
    except ValueError:
        logger("outbound").exception("queue.call_failed")
    [line] = stream.getvalue().splitlines()
    record = json.loads(line)
    assert record["event"] == "queue.call_failed"
    assert record["traceback"].startswith("Traceback (most recent call last):")
    assert "in _fail_deep" in record["traceback"] and record["traceback"].endswith("bad frame from +49 30 1234")
