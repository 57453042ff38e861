"""The processes a test's `faxgate serve` started, found by a mark in their environment, and their peak memory."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import TracebackType


def marked_processes(mark: str) -> dict[int, str]:
    """pid -> command name of every live process whose environment holds `mark` (children inherit it)."""
    found: dict[int, str] = {}
    needle = mark.encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if needle in (proc / "environ").read_bytes():
                found[int(proc.name)] = (proc / "comm").read_text().strip()
        except OSError:
            continue
    return found


def peak_rss_kib(pid: int) -> int:
    """VmHWM of a live process (its peak resident memory so far), 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


class PeakMemory:
    """Samples every marked process's peak resident memory in a thread until stopped: pid -> (name, KiB)."""

    def __init__(self, mark: str, interval: float = 0.05) -> None:
        self.mark = mark
        self.interval = interval
        self.peaks: dict[int, tuple[str, int]] = {}
        self.seen: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            for pid, name in marked_processes(self.mark).items():
                self.seen[pid] = name
                peak = peak_rss_kib(pid)
                if peak > self.peaks.get(pid, (name, 0))[1]:
                    self.peaks[pid] = (name, peak)
            time.sleep(self.interval)

    def largest(self) -> tuple[str, int]:
        """The name and peak (KiB) of the process that grew most."""
        return max(self.peaks.values(), key=lambda item: item[1], default=("", 0))

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
