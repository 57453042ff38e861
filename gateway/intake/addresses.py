"""Fax address forms: NUMBER@<fax domain>, name@NUMBER.fax, the subject address, and names from the headers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from email.utils import getaddresses
from typing import Literal

from gateway.config.smtp import SmtpSection
from gateway.intake.text import header_text
from gateway.textsafe import safe_text

AddressForm = Literal["number", "name_at_number", "subject"]
_LOCAL_NUMBER = re.compile(r"^\+?[0-9][0-9().-]{1,40}$")
_DOMAIN_NUMBER = re.compile(r"^[0-9][0-9-]{1,40}$")
_SUBJECT_NUMBERS = re.compile(r"^\s*(?P<numbers>\+?[0-9][0-9 ()./-]*[0-9](?:\s*[,;]\s*\+?[0-9][0-9 ()./-]*[0-9])*)"
                              r"\s*(?:[:|-]\s*(?P<rest>.*))?$", re.DOTALL)


class AddressError(Exception):
    """An address in a fax domain that names no number; `reason` is plain words for the sender."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class FaxAddress:
    """What one envelope recipient asks for: a written number (empty for the subject form) and maybe a name."""

    address: str
    written_number: str
    name: str
    form: AddressForm


def read_fax_address(address: str, smtp: SmtpSection) -> FaxAddress | None:
    """The fax address `address` is, None if it is no fax address at all (relaying), AddressError if malformed."""
    local, at, domain = address.strip().rpartition("@")
    domain = domain.lower().rstrip(".")
    if not at or not local:
        return None
    if smtp.subject_address and address.strip().lower() == smtp.subject_address:
        return FaxAddress(address, "", "", "subject")
    if domain in smtp.fax_domains:
        if not _LOCAL_NUMBER.match(local):
            raise AddressError(f"{safe_text(local, 60)!r} is not a fax number: write the number before the @, "
                               f"like 5551234@{domain}")
        return FaxAddress(address, local, "", "number")
    suffix = "." + smtp.number_domain_suffix if smtp.number_domain_suffix else ""
    if suffix and domain.endswith(suffix):
        number = domain[: -len(suffix)]
        if not _DOMAIN_NUMBER.match(number):
            raise AddressError(f"{safe_text(number, 60)!r} is not a fax number: write name@NUMBER{suffix}, "
                               f"like john@5551234{suffix}")
        return FaxAddress(address, number, _name_from_local_part(local), "name_at_number")
    return None


def _name_from_local_part(local: str) -> str:
    """john.smith -> "john smith": the classic form carries the recipient's name before the @."""
    return safe_text(re.sub(r"[._]+", " ", local.strip('"')), 100)


def header_names(message: Message) -> dict[str, str]:
    """Display names from To, Cc and X-Fax-To by lower-cased address, for "Name" <5551234@fax.example.com>."""
    values = [str(value) for name in ("To", "Cc", "X-Fax-To") for value in message.get_all(name, [])]
    names: dict[str, str] = {}
    for display, address in getaddresses(values):
        if address and display and address.lower() not in names:
            names[address.lower()] = safe_text(header_text(display), 100)
    return names


def numbers_in_subject(subject: str) -> tuple[list[str], str]:
    """The written numbers at the start of a subject ("5551234, +442079460018: Invoice") and the rest of it."""
    match = _SUBJECT_NUMBERS.match(subject)
    if not match:
        return [], subject.strip()
    numbers = [part.strip() for part in re.split(r"[,;]", match.group("numbers")) if part.strip()]
    return numbers, (match.group("rest") or "").strip()
