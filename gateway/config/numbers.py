"""Destination rules: how numbers are read (default country) and which kinds of number may be dialled."""

from __future__ import annotations

import re

import phonenumbers
from pydantic import Field, field_validator

from gateway.config.base import Section

NUMBER_CLASSES = (
    "local", "domestic", "mobile", "toll_free", "international", "premium", "shared_cost", "emergency", "short",
)
"""Kinds of destination; a number may be of several (an international premium-rate number is both)."""


def check_number_classes(names: list[str]) -> list[str]:
    """Refuse unknown class names so a typo never opens a destination."""
    unknown = [name for name in names if name not in NUMBER_CLASSES]
    if unknown:
        raise ValueError(f"unknown number class {unknown[0]!r}; known: {', '.join(NUMBER_CLASSES)}")
    return names


def _check_patterns(patterns: list[str]) -> list[str]:
    for pattern in patterns:
        if not re.fullmatch(r"\+?[0-9*?\[\]-]+", pattern):
            raise ValueError(f"{pattern!r} is not a number pattern like \"+1900*\"")
    return patterns


class NumbersSection(Section):
    """How written numbers become E.164 and dial strings, and which destinations are closed by default."""

    default_country: str = "US"
    """ISO country of numbers written without a country code (national format)."""
    blocked: list[str] = Field(default_factory=lambda: ["premium", "emergency", "international", "shared_cost",
                                                        "short"])
    """Classes nobody may dial unless their principal lists the class in `destinations`."""
    deny: list[str] = Field(default_factory=list)
    """E.164 patterns ("+1900*") nobody may dial, whatever their rights."""
    allow: list[str] = Field(default_factory=list)
    """E.164 patterns anybody with a submit right may dial even if their class is blocked; `deny` still wins."""

    _classes = field_validator("blocked")(check_number_classes)
    _deny = field_validator("deny")(_check_patterns)
    _allow = field_validator("allow")(_check_patterns)

    @field_validator("default_country")
    @classmethod
    def _known_country(cls, value: str) -> str:
        region = value.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown country code {value!r}; write an ISO code such as \"US\" or \"DE\"")
        return region
