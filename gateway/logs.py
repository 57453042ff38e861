"""Structured logging: one line per event, with a threshold per category as in Windows event logging.

Categories are the Windows ones (init, inbound, outbound, general); each has its own logger
``faxgate.<category>`` so an administrator can turn outbound up without drowning in inbound.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
import unicodedata
from typing import Any, TextIO

from gateway.config.sections import LoggingSection
from gateway.enums import LogLevel
from gateway.textsafe import safe_text

CATEGORIES = ("init", "inbound", "outbound", "general")
TRACEBACK_LINES = 80
"""At most this many lines of a traceback are kept (the innermost ones)."""
TRACEBACK_INDENT = "    | "
"""Prefix of each traceback line in text format: no continuation line can pass for a log line of its own."""
_THRESHOLDS = {
    LogLevel.NONE: logging.CRITICAL + 10,
    LogLevel.MIN: logging.WARNING,
    LogLevel.MED: logging.INFO,
    LogLevel.MAX: logging.DEBUG,
}


def logger(category: str) -> logging.Logger:
    """The logger of one Windows event-logging category."""
    return logging.getLogger(f"faxgate.{category}")


def log_event(log: logging.Logger, level: int, event: str, **fields: Any) -> None:
    """Log one event with fields; every value passes through safe_text, so no untrusted byte reaches a log raw."""
    log.log(level, event, extra={"fields": fields})


class _LineFormatter(logging.Formatter):
    """`2026-11-21T07:00:00Z INFO outbound job.completed job=3 pages=2` – one line, always."""

    def __init__(self, as_json: bool) -> None:
        super().__init__()
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "fields", {})
        category = record.name.removeprefix("faxgate.")
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))
        message = safe_text(record.getMessage(), 500)
        clean = {key: safe_text(value, 200) for key, value in fields.items()}
        trace: list[str] = []
        if record.exc_info and record.exc_info[1] is not None:
            clean["error"] = safe_text(repr(record.exc_info[1]), 300)
            trace = traceback_lines(record.exc_info)
        if self.as_json:
            extra = {"traceback": "\n".join(trace)} if trace else {}
            return json.dumps({"ts": stamp, "level": record.levelname, "category": category,
                               "event": message, **clean, **extra}, ensure_ascii=False)
        pairs = " ".join(f"{key}={json.dumps(value) if ' ' in value or not value else value}"
                         for key, value in clean.items())
        line = f"{stamp} {record.levelname} {category} {message}{' ' + pairs if pairs else ''}"
        return "\n".join([line, *(TRACEBACK_INDENT + text for text in trace)])


def traceback_lines(exc_info: tuple[Any, BaseException | None, Any]) -> list[str]:
    """The traceback as printable lines (indentation kept, control characters blanked), innermost lines last."""
    exc = exc_info[1]
    if exc is None:
        return []
    lines = "".join(traceback.format_exception(exc)).splitlines()
    if len(lines) > TRACEBACK_LINES:
        lines = [f"... {len(lines) - TRACEBACK_LINES} lines left out ...", *lines[-TRACEBACK_LINES:]]
    return [_printable_line(line) for line in lines]


def _printable_line(line: str, limit: int = 500) -> str:
    """One traceback line with its indentation, every control or format character made a space."""
    text = "".join(" " if unicodedata.category(ch)[0] in ("C", "Z") and ch != " " else ch for ch in line)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _SanitizingHandler(logging.StreamHandler[TextIO]):
    """faxgate's one handler: every record, from any logger, leaves as one line through _LineFormatter."""


def setup_logging(section: LoggingSection, stream: TextIO | None = None) -> None:
    """Install the one-line formatter and the per-category thresholds, for faxgate and every library logger."""
    handler = _SanitizingHandler(stream or sys.stderr)
    handler.setFormatter(_LineFormatter(section.format == "json"))
    # Library loggers (aiosmtpd's mail.log, asyncio, uvicorn) propagate to the root: without a handler there,
    # Python's last-resort handler would print their client-controlled text raw.
    top = logging.getLogger()
    for previous in [found for found in top.handlers if isinstance(found, _SanitizingHandler)]:
        top.removeHandler(previous)
    top.addHandler(handler)
    root = logging.getLogger("faxgate")
    root.handlers[:] = [handler]
    root.propagate = False
    # Loggers below faxgate that are not one of the four categories (modem session transcripts, ...) follow "general".
    root.setLevel(_THRESHOLDS[section.events.level("general")])
    for category in CATEGORIES:
        logger(category).setLevel(_THRESHOLDS[section.events.level(category)])
    for noisy in ("mail.log", "uvicorn", "uvicorn.error", "uvicorn.access", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def apply_logging(section: LoggingSection) -> None:
    """Apply changed logging options (format, per-category thresholds) to the handler already installed."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, _SanitizingHandler):
            handler.setFormatter(_LineFormatter(section.format == "json"))
    logging.getLogger("faxgate").setLevel(_THRESHOLDS[section.events.level("general")])
    for category in CATEGORIES:
        logger(category).setLevel(_THRESHOLDS[section.events.level(category)])
