"""Matching remote identifiers against administrator patterns: globs, "re:" regexes, and phone numbers by digits."""

from __future__ import annotations

import fnmatch
import re

_GLOB_CHARS = set("*?[")


def digits(value: str) -> str:
    """Only the digits of a phone number ("+1 (555) 123-4567" -> "15551234567")."""
    return "".join(ch for ch in value if ch.isdigit())


def matches(pattern: str, value: str, *, numeric: bool = False) -> bool:
    """True if ``value`` matches ``pattern``; numbers compare by digits, so spacing and "+" do not matter.

    A pattern is a glob (case-insensitive, anchored), or a regular expression after "re:" (searched, so
    anchor it yourself). The empty pattern "" matches only an empty value (e.g. no caller ID).
    """
    if pattern.startswith("re:"):
        return re.search(pattern[3:], value) is not None
    if numeric:
        kept = "".join(ch for ch in pattern if ch.isdigit() or ch in _GLOB_CHARS or ch == "]")
        if kept or not pattern:
            return fnmatch.fnmatchcase(digits(value), kept)
    return fnmatch.fnmatchcase(value.casefold(), pattern.casefold())


def first_match(patterns: list[str], value: str, *, numeric: bool = False) -> str | None:
    """The first pattern that matches, or None."""
    return next((pattern for pattern in patterns if matches(pattern, value, numeric=numeric)), None)
