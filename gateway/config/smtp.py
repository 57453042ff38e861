"""The SMTP listener: where it listens, which addresses are fax addresses, how mail becomes pages, limits and TLS."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from gateway.config.base import Section
from gateway.config.types import Duration, Listen, Size, parse_duration

DEFAULT_SIGNATURE_CUTS = [
    r"^-- ?$",
    r"^_{20,}$",
    r"(?i)^(this|the information in this) e-?mail .*(confidential|privileged)",
    r"(?i)^sent from my (iphone|ipad|android|mobile)",
]
DEFAULT_HTML_SIGNATURE_MARKERS = [
    'class="gmail_signature"',
    'id="Signature"',
    'class="moz-signature"',
    'id="AppleMailSignature"',
]


def _check_regexes(patterns: list[str]) -> list[str]:
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from exc
    return patterns


class SmtpSection(Section):
    """Mail intake; addresses are NUMBER@<fax domain>, name@NUMBER.<number_domain_suffix> or the subject address."""

    enabled: bool = True
    listen: Listen = ("127.0.0.1", 2525)
    hostname: str = "faxgate.localhost"
    fax_domains: list[str] = Field(default_factory=lambda: ["fax.localhost"])
    number_domain_suffix: str = Field(default="fax", pattern=r"^([a-z0-9-]+(\.[a-z0-9-]+)*)?$")
    """Accept name@NUMBER.<suffix> (the classic name@5551234.fax form); empty turns the form off."""
    subject_address: str = ""
    """One address (such as "fax@fax.example.com") whose mails carry the number(s) in the Subject; empty: off."""
    max_message_size: Size = 25 * 1024 * 1024
    """Larger messages are refused with 552 (advertised as SIZE)."""
    tls_cert: Path | None = None
    tls_key: Path | None = None
    """PEM certificate chain and key: offers STARTTLS, and implicit TLS when implicit_tls_listen is set."""
    implicit_tls_listen: Listen | None = None
    """A second listener speaking TLS from the first byte (port 465 style)."""
    rate_limit: int = Field(default=0, ge=0)
    """Faxes (recipients) one sender may submit per rate_window; 0 is unlimited."""
    rate_window: Duration = parse_duration("1h")
    auth_failure_delay: Duration = parse_duration("1s")
    """Wait before answering a failed AUTH, to slow password guessing."""
    auth_max_failures: int = Field(default=5, ge=1)
    """Failed AUTHs per client address, and per user name, within auth_failure_window before a lockout."""
    auth_failure_window: Duration = parse_duration("15m")
    auth_lockout: Duration = parse_duration("15m")
    """How long a locked client address or user is refused (421) without its password being checked."""
    auth_tries_per_connection: int = Field(default=3, ge=1)
    """Failed AUTHs one connection may make; the last is answered 421 and the connection closed."""
    max_connections: int = Field(default=100, ge=1)
    """Concurrent connections per listener; beyond it a client hears 421 and is disconnected."""
    max_connections_per_client: int = Field(default=10, ge=1)
    """Concurrent connections per client IP address (per listener)."""
    pre_mail_timeout: Duration = parse_duration("30s")
    """From connecting to the first MAIL FROM; a client that has not started a mail by then hears 421."""
    idle_timeout: Duration = parse_duration("5m")
    """Longest wait for any next command (aiosmtpd's timeout)."""
    body: Literal["auto", "page", "cover_note"] = "auto"
    """What the mail text becomes: "page" always; "cover_note" always (a page if there is no cover page);
    "auto": the cover-page note when there are attachments and a cover page, else a page."""
    cover_page: bool = True
    """Whether a cover page is sent unless the mail says otherwise."""
    cover_template: str = "generic"
    max_note_chars: int = Field(default=2000, ge=0)
    signature_cuts: list[str] = Field(default_factory=lambda: list(DEFAULT_SIGNATURE_CUTS))
    """Regular expressions; the mail text is cut at the first line one of them matches (signatures, disclaimers)."""
    html_signature_markers: list[str] = Field(default_factory=lambda: list(DEFAULT_HTML_SIGNATURE_MARKERS))
    """Text found in an HTML body's markup where the signature begins (cut there)."""
    options_in_subject: bool = True
    """Read "[fax: nocover, fine, high]" in the Subject."""
    options_in_body: bool = True
    """Read a first body line "fax: nocover, fine, high"."""
    bounces: bool = True
    """Mail the sender when an accepted message cannot be faxed (DSN style, through the receipts smarthost)."""
    queued_receipts: bool = False
    """Mail the sender "queued: N pages to ..." once the pages are rendered."""
    unfaxable_attachments: Literal["refuse", "drop"] = "refuse"
    """An attachment that can never be pages (an archive, a sound file, BinHex, damaged base64): "refuse" the
    mail with the file named (554), or "drop" the file and fax the rest."""
    bounce_attach_limit: Size = 0
    """Originals up to this size are attached to a bounce whole; larger ones (all, at 0) by their headers only."""

    _cuts = field_validator("signature_cuts")(_check_regexes)

    @field_validator("fax_domains")
    @classmethod
    def _lower_domains(cls, value: list[str]) -> list[str]:
        return [domain.strip().lower() for domain in value]

    @field_validator("subject_address")
    @classmethod
    def _address_shape(cls, value: str) -> str:
        if value and not re.fullmatch(r"[^@\s]+@[^@\s]+", value):
            raise ValueError(f"expected an address like fax@fax.example.com, got {value!r}")
        return value.lower()

    @model_validator(mode="after")
    def _tls_pair(self) -> SmtpSection:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("give both tls_cert and tls_key, or neither")
        if self.implicit_tls_listen is not None and self.tls_cert is None:
            raise ValueError("implicit_tls_listen needs tls_cert and tls_key")
        return self
