"""The `[inbound]` section: answering policy, routing rules and routing-method settings, as data instead of scripts."""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from gateway.config.base import Section
from gateway.config.types import Duration, FolderMode, TimeZoneName, parse_duration

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
FileFormat = Literal["pdf", "tiff", "both"]


def _check_patterns(values: list[str]) -> list[str]:
    """A pattern is a glob ("555*") or, with the prefix "re:", a regular expression; bad regexes fail at load."""
    for value in values:
        if value.startswith("re:"):
            try:
                re.compile(value[3:])
            except re.error as exc:
                raise ValueError(f"bad regular expression {value!r}: {exc}") from None
    return values


Patterns = Annotated[list[str], AfterValidator(_check_patterns)]


class AnswerSection(Section):
    """When and whether to pick up (HylaFAX DynamicConfig/RejectCall, QualifyTSI, MaxRecvPages)."""

    csid_by_did: dict[str, str] = Field(default_factory=dict)
    """Station id to announce per dialled DID; the device's csid otherwise."""
    reject_caller_ids: Patterns = Field(default_factory=list)
    """Calls from these caller ids are not answered (patterns)."""
    reject_dids: Patterns = Field(default_factory=list)
    """Calls to these DIDs are not answered (patterns)."""
    block_tsids: Patterns = Field(default_factory=list)
    """Calls whose sender TSID matches are dropped right after the TSID arrives (patterns)."""
    max_pages: int = Field(default=100, ge=1, le=10000)
    """Pages accepted per call; the call is ended after that many."""


class EmailAction(Section):
    """Route by e-mail through the receipts smarthost (MS_FAXROUTE_EMAIL_GUID)."""

    to: list[str] = Field(default_factory=list)
    cc: list[str] = Field(default_factory=list)
    bcc: list[str] = Field(default_factory=list)
    format: FileFormat = "pdf"
    subject: str = ""
    """Template; empty for the [inbound.email] default. Fields: {id} {caller_id} {caller_name} {did} {tsid} ..."""
    body: str = ""

    @model_validator(mode="after")
    def _has_recipient(self) -> EmailAction:
        if not (self.to or self.cc or self.bcc):
            raise ValueError("an email action needs at least one of to, cc, bcc")
        return self


class FolderAction(Section):
    """Store in a folder (MS_FAXROUTE_FOLDER_GUID) under a file name made from the fax's fields."""

    path: str
    name: str = ""
    """File-name template without extension; empty for the [inbound.folder] default."""
    format: FileFormat = "pdf"
    folder_mode: FolderMode = 0o700
    """Mode of the folders faxgate creates (files get it without x): "0750" shares them with a group on purpose."""


class WebhookAction(Section):
    """POST JSON plus the PDF to a URL, signed with HMAC-SHA256."""

    url: str = Field(pattern=r"^https?://")
    secret: str = ""
    """Write "${ENV_NAME}" to take it from the environment; empty sends no signature."""
    include_pdf: bool = True
    timeout: Duration = parse_duration("30s")


class MailboxAction(Section):
    """Store in a mailbox folder through a [[mailboxes]] entry (IMAP, EWS or Graph), with the e-mail templates."""

    mailbox: str
    """The name of a [[mailboxes]] entry (its server and login)."""
    folder: str = "INBOX"
    """Created when missing."""
    format: FileFormat = "pdf"
    subject: str = ""
    """Template; empty for the [inbound.email] default."""
    body: str = ""


class RuleSection(Section):
    """One routing rule: every given match field must match; lists match if any pattern matches."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    devices: list[str] = Field(default_factory=list)
    dids: Patterns = Field(default_factory=list)
    caller_ids: Patterns = Field(default_factory=list)
    caller_names: Patterns = Field(default_factory=list)
    tsids: Patterns = Field(default_factory=list)
    subaddresses: Patterns = Field(default_factory=list)
    hours: str = ""
    """A time-of-day window such as "08:00-18:00" (may wrap past midnight); empty for any time."""
    days: list[Weekday] = Field(default_factory=list)
    continue_: bool = Field(default=False, alias="continue")
    """True: after this rule matches, later rules are tried too; false: first match wins."""
    email: EmailAction | None = None
    folder: FolderAction | None = None
    webhook: WebhookAction | None = None
    mailbox: MailboxAction | None = None
    methods: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Further routing methods by name or GUID, each with its configuration table."""

    @field_validator("hours")
    @classmethod
    def _window(cls, value: str) -> str:
        if value:
            parse_hours(value)
        return value

    def window(self) -> tuple[time, time] | None:
        """The time-of-day window, or None for any time."""
        return parse_hours(self.hours) if self.hours else None


def parse_hours(value: str) -> tuple[time, time]:
    """Read "HH:MM-HH:MM" into (start, end)."""
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", value)
    if not match:
        raise ValueError(f'expected a window like "08:00-18:00", got {value!r}')
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        raise ValueError(f'expected a window like "08:00-18:00", got {value!r}')
    return time(h1, m1), (time(23, 59, 59, 999999) if h2 == 24 else time(h2, m2))


class EmailDefaults(Section):
    """Defaults of the e-mail method; the smarthost is [receipts]."""

    subject: str = "Fax from {sender} ({pages} pages)"
    body: str = (
        "A fax was received.\n\nFrom: {sender}\nCaller ID: {caller_id} {caller_name}\nDialled: {did}\n"
        "Remote station: {tsid}\nDevice: {device}\nPages: {pages}\nReceived: {received}\nJob: {id}\n"
    )
    attachment_name: str = "fax-{received:%Y%m%d-%H%M%S}-{id}"


class FolderDefaults(Section):
    """Defaults of the folder method."""

    name: str = "{received:%Y%m%d-%H%M%S}-{caller_id}-{id}"


class MethodSetting(Section):
    """Global priority and per-device enablement of one routing method (IFaxInboundRoutingMethod, UseRoutingMethod)."""

    method: str
    """Name or GUID."""
    priority: int | None = Field(default=None, ge=1, le=999999)
    devices: list[str] | None = None
    """Devices the method is enabled on; absent: every device."""


class InboundSection(Section):
    """Answering, screening and routing of received faxes."""

    admin: str = "faxmaster@localhost"
    """The fax administrator: catch-all for faxes no rule matched, and receive errors with the session log."""
    notify_admin: Literal["always", "errors", "never"] = "errors"
    timezone: TimeZoneName = "UTC"
    """Time zone of the rules' hours and days."""
    answer: AnswerSection = AnswerSection()
    rules: list[RuleSection] = Field(default_factory=list)
    email: EmailDefaults = EmailDefaults()
    folder: FolderDefaults = FolderDefaults()
    methods: list[MethodSetting] = Field(default_factory=list)
    routing_retries: int = Field(default=10, ge=0, le=1000)
    """How often a failing method is retried before the job shows RETRIES_EXCEEDED."""
    retry_delay: Duration = parse_duration("1m")
    """First routing retry delay; each further retry waits twice as long, up to retry_delay_max."""
    retry_delay_max: Duration = parse_duration("1h")
    poll_interval: Duration = parse_duration("2s")
    claim_lease: Duration = parse_duration("5m")
    """How long a node owns a job it routes; after a crash another node takes over once it expires."""

    @model_validator(mode="after")
    def _unique_rule_names(self) -> InboundSection:
        names = [rule.name for rule in self.rules]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"rule name {duplicates[0]!r} is used twice")
        return self

    def retry_backoff(self, retries: int) -> timedelta:
        """The delay before routing retry number ``retries`` (1-based): doubling, capped."""
        delay: timedelta = self.retry_delay * (2 ** max(0, retries - 1))
        return delay if delay < self.retry_delay_max else self.retry_delay_max
