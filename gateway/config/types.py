"""Value types that read the way administrators write them: durations, sizes, listen addresses, clock times."""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 1024**2, "mb": 1000**2, "mib": 1024**2,
    "g": 1024**3, "gb": 1000**3, "gib": 1024**3,
}


def parse_duration(value: Any) -> timedelta:
    """Accept "90s", "10m", "2h", "1d", "1w" or a bare number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f'expected a duration like "10m", got {value!r}')
    if isinstance(value, int | float):
        return timedelta(seconds=float(value))
    match = _DURATION.match(str(value)) if isinstance(value, str) else None
    if not match:
        raise ValueError(f'expected a duration like "10m", got {value!r}')
    number, unit = match.groups()
    return timedelta(seconds=float(number) * _DURATION_UNITS[unit or "s"])


def parse_size(value: Any) -> int:
    """Accept "25MB", "10 MiB", "512k" or a bare number of bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _SIZE.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(f'expected a size like "25MB", got {value!r}')
    number, unit = match.groups()
    return int(float(number) * _SIZE_UNITS[(unit or "b").lower()])


def parse_clock_time(value: Any) -> time:
    """Accept "20:00" or "07:30" (24-hour local time)."""
    if isinstance(value, time):
        return value
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", value) if isinstance(value, str) else None
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ValueError(f'expected a time of day like "20:00", got {value!r}')
    return time(int(match.group(1)), int(match.group(2)))


def parse_listen(value: Any) -> tuple[str, int]:
    """Accept "127.0.0.1:2525", "[::1]:2525" or ":2525" (all interfaces)."""
    if isinstance(value, tuple):
        return (str(value[0]), int(value[1]))
    match = re.fullmatch(r"\[?([^\]]*?)\]?:(\d{1,5})", value) if isinstance(value, str) else None
    if not match or not 0 <= int(match.group(2)) <= 65535:
        raise ValueError(f'expected host:port like "127.0.0.1:2525", got {value!r}')
    return (match.group(1) or "0.0.0.0", int(match.group(2)))  # noqa: S104 - ":port" means all interfaces


def check_timezone(value: Any) -> str:
    """Accept an IANA time zone name such as "Europe/Berlin"."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return str(value)


def parse_folder_mode(value: Any) -> int:
    """Accept "0750", "750" or TOML's 0o750: a folder mode that leaves the owner (faxgate) rwx."""
    if isinstance(value, int) and not isinstance(value, bool):
        mode = value
    elif isinstance(value, str) and re.fullmatch(r"\s*0?o?[0-7]{3}\s*", value):
        mode = int(value.strip()[-3:], 8)
    else:
        raise ValueError(f'expected an octal folder mode like "0750", got {value!r}')
    if mode & ~0o777 or mode & 0o700 != 0o700:
        raise ValueError(f'expected an octal folder mode like "0750" that leaves the owner rwx, got {value!r}')
    return mode


def _format_duration(value: timedelta) -> str:
    return f"{value.total_seconds():g}s"


Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(_format_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]
ClockTime = Annotated[time, BeforeValidator(parse_clock_time), PlainSerializer(lambda t: t.strftime("%H:%M"))]
Listen = Annotated[tuple[str, int], BeforeValidator(parse_listen), PlainSerializer(lambda v: f"{v[0]}:{v[1]}")]
TimeZoneName = Annotated[str, BeforeValidator(check_timezone)]
FolderMode = Annotated[int, BeforeValidator(parse_folder_mode), PlainSerializer(lambda mode: f"{mode:04o}")]
