"""The per-call session log: every AT command and reply and every T.30 frame, stamped with line time."""

from __future__ import annotations

import logging
from collections.abc import Callable

_logger = logging.getLogger("faxgate.modem.session")


class SessionLog:
    """Collects one call's transcript; lines also go to the ``faxgate.modem.session`` logger at DEBUG."""

    def __init__(self, now: Callable[[], float], name: str = "") -> None:
        self._now = now
        self._start = now()
        self.name = name
        self.lines: list[str] = []

    def restart(self) -> None:
        """Start the clock and the transcript afresh for a new call on the same device."""
        self._start = self._now()
        self.lines = []

    def add(self, kind: str, text: str) -> None:
        """Record one event; ``kind`` is a short tag such as ``-->`` (to modem), ``<--``, ``T30``, ``INFO``."""
        line = f"{self._now() - self._start:8.3f} {kind} {text}"
        self.lines.append(line)
        _logger.debug("%s %s", self.name, line)

    def info(self, text: str) -> None:
        """A plain-words event (negotiation result, decision, page outcome)."""
        self.add("INFO", text)
