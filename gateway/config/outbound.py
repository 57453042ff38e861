"""Outbound queue policy: retries per call result, limits, time windows, routing groups and rules, dial rules."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from gateway.config.base import Section
from gateway.config.types import Duration, parse_duration
from gateway.enums import ALL_DEVICES_GROUP

SharedResult = Literal["busy", "no_answer", "no_carrier", "no_dial_tone"]
RetryResult = Literal["busy", "no_answer", "no_carrier", "no_dial_tone", "protocol", "line_unavailable", "other"]
_WINDOW = re.compile(
    r"^\s*(?:(?P<days>[A-Za-z]{2,3}(?:-[A-Za-z]{2,3})?(?:,[A-Za-z]{2,3}(?:-[A-Za-z]{2,3})?)*)\s+)?"
    r"(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})\s*$"
)


_SHARED_DEFAULT: list[SharedResult] = ["busy", "no_answer", "no_carrier"]


class RetryRule(Section):
    """How long to wait after one kind of failed call, and how many such failures a job may have."""

    delay: Duration
    max: int = Field(ge=0, le=1000)


def _rule(delay: str, maximum: int) -> RetryRule:
    return RetryRule(delay=parse_duration(delay), max=maximum)


class RetrySection(Section):
    """HylaFAX's JobReq*/JobRetry* table: one delay and one cap per kind of result."""

    busy: RetryRule = _rule("3m", 12)
    no_answer: RetryRule = _rule("5m", 3)
    no_carrier: RetryRule = _rule("5m", 1)
    """Answered, but no fax tones: a number never heard as a fax is tried only once more."""
    no_dial_tone: RetryRule = _rule("5m", 6)
    protocol: RetryRule = _rule("1m", 3)
    line_unavailable: RetryRule = _rule("0s", 6)
    """The device was lost mid-call: retry at once on another (Windows FS_LINE_UNAVAILABLE)."""
    other: RetryRule = _rule("5m", 3)


class GroupSection(Section):
    """An outbound routing group: an ordered device list; the first free device in rank order takes the call."""

    name: str = Field(min_length=1, max_length=128)
    devices: list[str] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _not_builtin(cls, value: str) -> str:
        if value.lower() == ALL_DEVICES_GROUP.lower():
            raise ValueError(f"{ALL_DEVICES_GROUP} is built in and holds every device")
        return value


class RuleSection(Section):
    """An outbound routing rule keyed by country and area code (0 = any area); it names a group or a device."""

    country_code: int = Field(ge=1, le=999)
    area_code: int = Field(default=0, ge=0)
    group: str = ""
    device: str = ""

    @model_validator(mode="after")
    def _one_target(self) -> RuleSection:
        if bool(self.group) == bool(self.device):
            raise ValueError("give exactly one of group or device")
        return self


class DialRuleSection(Section):
    """A rewrite applied to the dial string (Python regex); ``devices`` limits it to some devices (empty = all)."""

    match: str
    replace: str
    devices: list[str] = Field(default_factory=list)

    @field_validator("match")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
        return value


class DialingSection(Section):
    """Where the gateway's lines are, to turn E.164 numbers into what a line must dial (HylaFAX dialrules)."""

    country_code: str = Field(default="1", pattern=r"^[0-9]{1,3}$")
    area_code: str = Field(default="", pattern=r"^[0-9]{0,6}$")
    international_prefix: str = Field(default="011", pattern=r"^[0-9*#]{0,6}$")
    long_distance_prefix: str = Field(default="1", pattern=r"^[0-9*#]{0,6}$")
    outside_line_prefix: str = Field(default="", pattern=r"^[0-9*#,]{0,8}$")
    rules: list[DialRuleSection] = Field(default_factory=list)


class OutboundSection(Section):
    """Scheduling beyond IFaxOutgoingQueue: HylaFAX-grade limits, windows, concurrency, routing and dialling."""

    max_tries: int = Field(default=3, ge=1, le=1000)
    """Calls that reached the far machine but did not finish (HylaFAX MaxTries)."""
    max_dials: int = Field(default=12, ge=1, le=1000)
    """Calls placed in all (HylaFAX MaxDials)."""
    kill_after: Duration = parse_duration("3h")
    """A job not done this long after its first eligible time gives up (HylaFAX killtime); 0 = never."""
    time_of_day: list[str] = Field(default_factory=list)
    """Local-time windows for calls, e.g. "Mon-Fri 08:00-18:00" or "21:00-06:00"; empty = any time."""
    max_concurrent_calls: int = Field(default=1, ge=1, le=64)
    """Calls at once to one number."""
    stagger_calls: Duration = parse_duration("0s")
    """Least time between two call starts on this node (leaves lines free for incoming calls)."""
    receive_window: Duration = parse_duration("0s")
    """After each call, a line that answers calls gets no new send for this long, so callers reach it between sends
    (a busy queue otherwise keeps such a line dialling out and every caller hears busy); 0 turns it off."""
    share_call_failures: list[SharedResult] = Field(default_factory=lambda: _SHARED_DEFAULT.copy())
    """Results that count for every waiting job to the same number (HylaFAX ShareCallFailures)."""
    max_batch_jobs: int = Field(default=16, ge=1, le=256)
    """Jobs to one number sent in one call."""
    bulk_recipients: int = Field(default=10, ge=2)
    """A submission with this many recipients or more is bulk: it goes after all interactive jobs."""
    claim_lease: Duration = parse_duration("5m")
    """How long a node's claim on a job lasts without renewal; a dead node's jobs return after it."""
    poll_interval: Duration = parse_duration("1s")
    """How often a node looks at the shared queue for work others added."""
    retry: RetrySection = RetrySection()
    groups: list[GroupSection] = Field(default_factory=list)
    rules: list[RuleSection] = Field(default_factory=list)
    dialing: DialingSection = DialingSection()

    @field_validator("time_of_day")
    @classmethod
    def _windows_parse(cls, value: list[str]) -> list[str]:
        for window in value:
            if not _WINDOW.match(window):
                raise ValueError(f'expected a window like "Mon-Fri 08:00-18:00", got {window!r}')
        return value

    @model_validator(mode="after")
    def _unique_keys(self) -> OutboundSection:
        names = [group.name.lower() for group in self.groups]
        if len(names) != len(set(names)):
            raise ValueError("two groups have the same name (names are case-insensitive)")
        keys = [(rule.country_code, rule.area_code) for rule in self.rules]
        if len(keys) != len(set(keys)):
            raise ValueError("two rules have the same country and area code")
        known = {*names, ALL_DEVICES_GROUP.lower()}
        for rule in self.rules:
            if rule.group and rule.group.lower() not in known:
                raise ValueError(f"rule {rule.country_code}/{rule.area_code} names unknown group {rule.group!r}")
        return self


WINDOW_PATTERN = _WINDOW
