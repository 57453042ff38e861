"""Per-mail fax options: X-Fax-* headers, "[fax: ...]" in the Subject, or a first body line "fax: ...".

Later sources win (headers, then subject, then body line). Each option is checked against what the sender
may do; a request beyond that is refused, never silently changed.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from gateway.enums import AccessRights, Priority, ScheduleType
from gateway.intake.text import header_text, message_header

_SUBJECT_TAG = re.compile(r"\[\s*fax\s*:(?P<body>[^\]]*)\]", re.IGNORECASE)
_BODY_LINE = re.compile(r"^\s*fax\s*:(?P<body>.*)$", re.IGNORECASE)
_TEMPLATE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_BILLING = re.compile(r"^[A-Za-z0-9 ._/-]{1,64}$")
_YES = {"yes", "on", "true", "1"}
_NO = {"no", "off", "false", "0", "none"}
KNOWN_HEADERS = ("X-Fax-Cover", "X-Fax-Resolution", "X-Fax-Priority", "X-Fax-Send-At", "X-Fax-Discount",
                 "X-Fax-Receipt", "X-Fax-Billing-Code", "X-Fax-To")

Resolution = Literal["fine", "standard"]


class OptionError(Exception):
    """An option that is malformed or beyond the sender's rights; `reason` is plain words for the sender."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class FaxOptions:
    """What the sender asked for; None means "the server's default"."""

    cover: bool | None = None
    cover_template: str | None = None
    resolution: Resolution | None = None
    priority: Priority | None = None
    schedule: ScheduleType = ScheduleType.NOW
    send_at: float | None = None
    """UNIX time for ScheduleType.SPECIFIC_TIME."""
    receipt: bool | None = None
    billing_code: str = ""

    def to_json(self) -> dict[str, Any]:
        """The form stored in submissions.options."""
        data = asdict(self)
        data["priority"] = None if self.priority is None else int(self.priority)
        data["schedule"] = int(self.schedule)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaxOptions:
        """Back from submissions.options."""
        known = {key: data[key] for key in cls.__dataclass_fields__ if key in data}
        priority = known.get("priority")
        known["priority"] = None if priority is None else Priority(int(priority))
        known["schedule"] = ScheduleType(int(known.get("schedule", ScheduleType.NOW)))
        return cls(**known)


@dataclass(frozen=True, slots=True)
class OptionSources:
    """Where options were found, so they can be removed from what is printed."""

    subject: str
    """The subject with any "[fax: ...]" tag removed."""
    body_line_used: bool


def _flag(value: str, name: str) -> bool:
    word = value.strip().lower()
    if word in _YES:
        return True
    if word in _NO:
        return False
    raise OptionError(f"{name}: expected yes or no, got {value.strip()!r}")


def _send_at(value: str, now: datetime, zone: ZoneInfo) -> float:
    """"20:00" (the next such time), "2026-11-22 08:00" (server time zone) or an RFC 2822 date."""
    text = value.strip()
    clock = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    if clock and int(clock.group(1)) < 24 and int(clock.group(2)) < 60:
        local_now = now.astimezone(zone)
        at = local_now.replace(hour=int(clock.group(1)), minute=int(clock.group(2)), second=0, microsecond=0)
        if at <= local_now:
            at += timedelta(days=1)
        return at.timestamp()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            raise OptionError(f'send at: expected "20:00" or "2026-11-22 08:00", got {text!r}') from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.timestamp()


class OptionReader:
    """Applies option words and headers on top of one another for one mail."""

    def __init__(self, now: datetime, zone: ZoneInfo) -> None:
        self.now = now
        self.zone = zone
        self.options = FaxOptions()

    def apply(self, key: str, value: str | None) -> None:
        """One option: a bare word ("nocover", "fine", "high", "discount") or key=value."""
        key = key.strip().lower().replace("_", "-")
        opts = self.options
        if value is None:
            if key in ("cover", "nocover", "no-cover"):
                self.options = replace(opts, cover=key == "cover")
            elif key in ("fine", "standard", "normal-resolution"):
                self.options = replace(opts, resolution="fine" if key == "fine" else "standard")
            elif key in ("low", "normal", "high", "urgent"):
                self.options = replace(opts, priority=Priority.HIGH if key == "urgent" else Priority[key.upper()])
            elif key in ("discount", "cheap"):
                self.options = replace(opts, schedule=ScheduleType.DISCOUNT_PERIOD, send_at=None)
            elif key in ("receipt", "noreceipt", "no-receipt"):
                self.options = replace(opts, receipt=key == "receipt")
            else:
                raise OptionError(f"unknown fax option {key!r}; known: cover, nocover, cover=NAME, fine, standard, "
                                  "low, normal, high, at=TIME, discount, receipt, noreceipt, billing=CODE")
            return
        value = value.strip()
        if key == "cover":
            if value.lower() in _YES | _NO:
                self.options = replace(opts, cover=_flag(value, "cover"))
            elif _TEMPLATE.match(value):
                self.options = replace(opts, cover=True, cover_template=value)
            else:
                raise OptionError(f"cover: {value!r} is not a cover page name (letters, digits, - and _)")
        elif key == "resolution":
            if value.lower() not in ("fine", "standard"):
                raise OptionError(f"resolution: expected fine or standard, got {value!r}")
            self.options = replace(opts, resolution="fine" if value.lower() == "fine" else "standard")
        elif key == "priority":
            if value.upper() not in Priority.__members__:
                raise OptionError(f"priority: expected low, normal or high, got {value!r}")
            self.options = replace(opts, priority=Priority[value.upper()])
        elif key in ("at", "send-at"):
            self.options = replace(opts, schedule=ScheduleType.SPECIFIC_TIME,
                                   send_at=_send_at(value, self.now, self.zone))
        elif key == "discount":
            on = _flag(value, "discount")
            self.options = replace(opts, schedule=ScheduleType.DISCOUNT_PERIOD if on else ScheduleType.NOW,
                                   send_at=None)
        elif key == "receipt":
            self.options = replace(opts, receipt=_flag(value, "receipt"))
        elif key in ("billing", "billing-code"):
            if not _BILLING.match(value):
                raise OptionError(f"billing code: {value!r} has characters other than letters, digits, space ._/-")
            self.options = replace(opts, billing_code=value)
        else:
            raise OptionError(f"unknown fax option {key!r}")

    def apply_list(self, text: str) -> None:
        """"nocover, fine, at=20:00" (commas or semicolons between options)."""
        for item in re.split(r"[,;]", text):
            if not item.strip():
                continue
            key, eq, value = item.partition("=")
            self.apply(key, value if eq else None)

    def apply_headers(self, message: Message) -> None:
        """X-Fax-Cover, X-Fax-Resolution, X-Fax-Priority, X-Fax-Send-At, X-Fax-Discount, X-Fax-Receipt, ..."""
        known = {name.lower() for name in KNOWN_HEADERS}
        for name, value in message.items():
            lower = name.lower()
            if not lower.startswith("x-fax-") or lower == "x-fax-to":
                continue
            if lower not in known:
                raise OptionError(f"unknown header {name}; known: {', '.join(KNOWN_HEADERS)}")
            self.apply(lower.removeprefix("x-fax-"), header_text(value))


def read_options(message: Message, first_body_line: str | None, *, now: datetime, zone: ZoneInfo,
                 in_subject: bool, in_body: bool) -> tuple[FaxOptions, OptionSources]:
    """All options of one mail, and the subject without its option tag."""
    reader = OptionReader(now, zone)
    reader.apply_headers(message)
    subject = message_header(message, "Subject")
    if in_subject:
        for match in _SUBJECT_TAG.finditer(subject):
            reader.apply_list(match.group("body"))
        subject = " ".join(_SUBJECT_TAG.sub(" ", subject).split())
    used = False
    if in_body and first_body_line is not None:
        line = _BODY_LINE.match(first_body_line)
        if line:
            reader.apply_list(line.group("body"))
            used = True
    return reader.options, OptionSources(subject=subject, body_line_used=used)


def check_rights(options: FaxOptions, rights: AccessRights) -> FaxOptions:
    """Refuse what the sender may not ask for (the priority, as Windows' farSUBMIT_* rights); fill the default.

    Without a requested priority a sender gets normal, or low when that is all they may use.
    """
    if options.priority is None:
        return replace(options, priority=Priority.NORMAL if rights.may_submit(Priority.NORMAL) else Priority.LOW)
    if not rights.may_submit(options.priority):
        raise OptionError(f"you may not send faxes at {options.priority.name.lower()} priority")
    return options
