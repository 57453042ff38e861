"""Crash points: named places where a crash-recovery test may make `faxgate serve` die by SIGKILL.

A test seam, off unless the environment asks for it: ``FAXGATE_CRASH_AT=<point>`` makes the process send
itself SIGKILL the first time it passes that point (a power cut at a chosen instant, which no observer
outside the process can time: the moment between two commits). Nothing is cleaned up, as in a real crash.
The points:

- ``queue.page_recorded``: a page's confirmation (MCF) is committed; the next page is not confirmed yet.
- ``routing.delivered_unrecorded``: a routing method finished its delivery; its record is not yet written.
"""

from __future__ import annotations

import os
import signal
import sys

CRASH_AT_ENV = "FAXGATE_CRASH_AT"
POINTS = frozenset({"queue.page_recorded", "routing.delivered_unrecorded"})


def crash_point(name: str) -> None:
    """Die here, by SIGKILL, when the environment names this point (tests only; a no-op otherwise)."""
    assert name in POINTS, name
    if os.environ.get(CRASH_AT_ENV) != name:
        return
    sys.stderr.write(f"crash_point {name}: SIGKILL\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)
