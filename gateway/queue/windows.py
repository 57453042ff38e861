"""Local-time windows: the discount-rate period and time-of-day limits, as "the next moment a call may start"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from gateway.config.outbound import WINDOW_PATTERN

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SCAN_DAYS = 8


@dataclass(frozen=True)
class DailyWindow:
    """From ``start`` to ``end`` local time on some weekdays; ``end`` <= ``start`` runs past midnight."""

    start: time
    end: time
    weekdays: frozenset[int] = frozenset(range(7))
    """Days on which the window opens (0 = Monday)."""

    def contains(self, moment: datetime) -> bool:
        """Whether a local time falls inside the window."""
        clock = moment.time()
        if self.start < self.end:
            return moment.weekday() in self.weekdays and self.start <= clock < self.end
        if clock >= self.start:
            return moment.weekday() in self.weekdays
        # After midnight: the window opened the day before.
        return clock < self.end and (moment.weekday() - 1) % 7 in self.weekdays

    def next_open(self, moment: datetime) -> datetime:
        """The first local time at or after ``moment`` inside the window."""
        if self.contains(moment):
            return moment
        day = moment.replace(hour=self.start.hour, minute=self.start.minute, second=0, microsecond=0)
        for offset in range(_SCAN_DAYS):
            candidate = day + timedelta(days=offset)
            if candidate >= moment and candidate.weekday() in self.weekdays:
                return candidate
        raise ValueError("a window that never opens")


def parse_window(text: str) -> DailyWindow:
    """Read "Mon-Fri 08:00-18:00", "Sat,Sun 10:00-12:00" or "21:00-06:00"."""
    match = WINDOW_PATTERN.match(text)
    if not match:
        raise ValueError(f"not a time window: {text!r}")
    start_h, start_m = (int(part) for part in match.group("start").split(":"))
    end_h, end_m = (int(part) for part in match.group("end").split(":"))
    weekdays: set[int] = set()
    days = match.group("days")
    if days is None:
        weekdays = set(range(7))
    else:
        for span in days.lower().split(","):
            first, _, last = span.partition("-")
            lo = _DAYS.index(first[:3])
            hi = _DAYS.index(last[:3]) if last else lo
            index = lo
            while True:
                weekdays.add(index)
                if index == hi:
                    break
                index = (index + 1) % 7
    return DailyWindow(time(start_h, start_m), time(end_h, end_m), frozenset(weekdays))


class CallWindows:
    """When calls may start: always, or inside any of some windows; and where the discount period lies."""

    def __init__(self, timezone: str, time_of_day: list[str], discount_start: time, discount_end: time) -> None:
        self.zone = ZoneInfo(timezone)
        self.allowed = [parse_window(text) for text in time_of_day]
        self.discount = DailyWindow(discount_start, discount_end)

    def _local(self, at: float) -> datetime:
        return datetime.fromtimestamp(at, self.zone)

    def next_allowed(self, at: float, *, discount: bool = False) -> float:
        """The first UNIX time at or after ``at`` when a call may start (inside the discount period if asked)."""
        moment = self._local(at)
        for _ in range(64):
            candidate = moment
            if discount:
                candidate = self.discount.next_open(candidate)
            if self.allowed and not any(window.contains(candidate) for window in self.allowed):
                candidate = min(window.next_open(candidate) for window in self.allowed)
            if candidate == moment:
                return candidate.timestamp()
            moment = candidate
        return moment.timestamp()

    def in_discount(self, at: float) -> bool:
        """Whether a UNIX time lies in the discount period."""
        return self.discount.contains(self._local(at))
