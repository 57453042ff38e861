"""The acceptance checks every intake source applies: each is named and answers None (pass) or a Refusal.

Modelled on Mailman's rules: a check has a name, and a refusal says which check refused, with an SMTP reply code
(the SMTP listener answers with it; a mailbox source bounces with its reason) and plain words for the sender.
A 4xx refusal is temporary: SMTP clients retry, a mailbox leaves the mail in place for the next poll.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.config import FaxgateConfig
from gateway.config.smtp import SmtpSection
from gateway.intake.addresses import AddressError, FaxAddress, numbers_in_subject, read_fax_address
from gateway.intake.auth import Principal
from gateway.intake.mime import FaxMail, MailError, parse_fax_mail
from gateway.intake.options import FaxOptions, OptionError, check_rights
from gateway.numbers import Destination, NumberError, NumberForbidden, NumberPolicy
from gateway.textsafe import safe_text

CHECKS = {
    "fax-address": "A recipient is a fax address (never a relay) and names a number.",
    "null-sender": "Delivery reports and automatic replies are not faxed.",
    "may-submit": "The sender holds a submit right.",
    "own-address": "A user sends only as an address it owns.",
    "queue-open": "The outgoing queue accepts new faxes (IFaxOutgoingQueue.Blocked).",
    "recipient-count": "At most outbox.max_recipients numbers per mail.",
    "rate-limit": "The sender is within smtp.rate_limit per smtp.rate_window.",
    "number": "Each number is valid and one the sender may dial.",
    "message-size": "The mail is within smtp.max_message_size.",
    "document": "The mail can be read as pages, with options the sender may use.",
    "from-header": "A user's From: address is one it may send as (the cover page shows it).",
    "sender-allowed": "A mailbox faxes mail only from its allowed_senders.",
}
"""Every check by name, with what it makes sure of (what `faxgate` documents and logs refer to)."""
READ_ERRORS = (OptionError, MailError, NumberError)
"""Errors that mean "this mail cannot be faxed" with a reason for the sender (anything else is a reader bug)."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a mail is not taken: the check that refused, the SMTP reply code, and plain words."""

    check: str
    code: str
    """Reply code and enhanced status, such as "550 5.7.1"."""
    reason: str

    @property
    def temporary(self) -> bool:
        """A 4xx: the same mail may be taken later (queue blocked, rate limit)."""
        return self.code.startswith("4")

    def reply(self) -> str:
        """The SMTP reply line."""
        return f"{self.code} {self.reason}"


def fax_address(address: str, smtp: SmtpSection) -> FaxAddress | Refusal | None:
    """fax-address: the fax address `address` is; None when it is no fax address (SMTP refuses relaying)."""
    try:
        return read_fax_address(address, smtp)
    except AddressError as exc:
        return Refusal("fax-address", "550 5.1.3", exc.reason)


def relay_refusal() -> Refusal:
    """fax-address: what an address outside the fax domains gets at SMTP RCPT."""
    return Refusal("fax-address", "550 5.7.1", "Relaying denied: this gateway only accepts mail for fax addresses")


def null_sender(mail_from: str) -> Refusal | None:
    """null-sender: a bounce or automatic reply (null sender) is never faxed."""
    if not mail_from or mail_from == "<>":
        return Refusal("null-sender", "550 5.7.1", "Delivery reports and automatic replies (null sender) are not faxed")
    return None


def may_submit(principal: Principal) -> Refusal | None:
    """may-submit: the principal holds a submit right."""
    return None if principal.may_submit else Refusal("may-submit", "550 5.7.1", "You may not send faxes")


def own_address(principal: Principal | None, address: str) -> Refusal | None:
    """own-address: an authenticated user sends only as an address it owns."""
    if principal is None or principal.kind != "user" or address in ("", "<>") or principal.may_send_as(address):
        return None
    return Refusal("own-address", "553 5.7.1", f"{safe_text(address, 200)} is not an address user {principal.name} "
                   "may send as; use your own address")


def queue_open(blocked: bool) -> Refusal | None:
    """queue-open: nothing new is taken while the outgoing queue is blocked."""
    if blocked:
        return Refusal("queue-open", "450 4.3.2",
                       "The fax queue is not accepting new faxes at the moment; please try again later")
    return None


def recipient_count(count: int, limit: int, *, at_rcpt: bool = False) -> Refusal | None:
    """recipient-count: at most `limit` numbers (SMTP says 452 per RCPT, 552 for the whole mail)."""
    if count <= limit:
        return None
    return Refusal("recipient-count", "452 4.5.3" if at_rcpt else "552 5.5.3",
                   f"Too many recipients: at most {limit} per mail")


def rate_limit(allowed: bool) -> Refusal | None:
    """rate-limit: the RateLimiter's answer for this sender and count."""
    if allowed:
        return None
    return Refusal("rate-limit", "450 4.7.1", "You have sent too many faxes for now; please try again later")


def number_error(exc: NumberError) -> Refusal:
    """number: a forbidden number is a policy refusal (5.7.1), a malformed one an address error (5.1.3)."""
    return Refusal("number", "550 5.7.1" if isinstance(exc, NumberForbidden) else "550 5.1.3", exc.reason)


def number(numbers: NumberPolicy, written: str, principal: Principal) -> Destination | Refusal:
    """number: the written number resolved for this principal's number classes."""
    try:
        return numbers.resolve(written, principal.destinations)
    except NumberError as exc:
        return number_error(exc)


def message_size(size: int, limit: int) -> Refusal | None:
    """message-size: the raw mail within smtp.max_message_size."""
    if size <= limit:
        return None
    return Refusal("message-size", "552 5.3.4", f"The message is too large: at most {limit} bytes")


def document_error(exc: Exception) -> Refusal:
    """document (or number): the refusal for an error reading a mail, its options or its subject numbers."""
    if isinstance(exc, OptionError):
        if "may not" in exc.reason:
            return Refusal("document", "550 5.7.1", exc.reason)
        return Refusal("document", "554 5.6.0", f"Fax option: {exc.reason}")
    if isinstance(exc, MailError):
        return Refusal("document", "554 5.6.0", exc.reason)
    if isinstance(exc, NumberError):
        return number_error(exc)
    return Refusal("document", "554 5.6.0",
                   "The message could not be read as a fax; send it as ordinary text or attachments")


def read_mail(raw: bytes, config: FaxgateConfig, principal: Principal) -> tuple[FaxMail, FaxOptions] | Refusal:
    """document: the mail's pages and options, the options within the principal's rights (blocking: CPU bound)."""
    try:
        mail = parse_fax_mail(raw, config)
        return mail, check_rights(mail.options, principal.rights)
    except (OptionError, MailError) as exc:
        return document_error(exc)


def from_header(principal: Principal, mail: FaxMail) -> Refusal | None:
    """from-header: a user's From: address (shown on the cover page) is one it may send as."""
    if principal.kind == "user" and mail.sender_address and not principal.may_send_as(mail.sender_address):
        return Refusal("from-header", "550 5.7.1", f"The From: address {mail.sender_address} is not one user "
                       f"{principal.name} may send as (the cover page shows it)")
    return None


def final_recipients(records: list[dict[str, str]], mail: FaxMail, numbers: NumberPolicy,
                     principal: Principal) -> tuple[list[dict[str, str]], str] | Refusal:
    """number: recipients with names from the headers, a subject address expanded into its numbers (each
    checked), duplicates removed; and the subject without the numbers."""
    subject = mail.subject
    final: list[dict[str, str]] = []
    for record in records:
        if record["form"] != "subject":
            name = mail.recipient_names.get(record["address"].lower()) or record["name"]
            final.append({**record, "name": name})
            continue
        written_numbers, rest = numbers_in_subject(mail.subject)
        if not written_numbers:
            return Refusal("number", "550 5.1.3", f"mail to {record['address']} must start its Subject with the "
                           "fax number, like \"Subject: 5551234 Invoice\"")
        subject = rest
        for written in written_numbers:
            destination = number(numbers, written, principal)
            if isinstance(destination, Refusal):
                return destination
            final.append({**record, "number": destination.number, "name": ""})
    unique: dict[str, dict[str, str]] = {}
    for record in final:
        unique.setdefault(record["number"], record)
    return list(unique.values()), subject


def sender_allowed(address: str, allowed: list[str]) -> Refusal | None:
    """sender-allowed: a mailbox's allow-list of From addresses and "@domain"s (empty allows any)."""
    if not allowed:
        return None
    lowered = address.lower()
    if any(entry.lower() in (lowered, "@" + lowered.rpartition("@")[2]) for entry in allowed):
        return None
    return Refusal("sender-allowed", "550 5.7.1",
                   f"{safe_text(address, 200) or 'a mail without a From: address'} may not send faxes through "
                   "this mailbox")
