"""A mail found in a mailbox becomes a submission by the checks SMTP applies (gateway.intake.checks).

Recipients are the fax addresses in To and Cc (the address forms SMTP accepts; other addresses, such as the
mailbox's own, are ignored). The sender principal is the user `senders` maps the From: address to, else the
mailbox's owner: its rights, number classes and rate limit apply, and the receipt and any bounce go to the
From: address. The From: address is not checked against the owner's own addresses (a shared mailbox is mailed
by many people); `allowed_senders` limits who may fax through it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from email.utils import getaddresses, parseaddr
from typing import Any

from gateway.config import FaxgateConfig
from gateway.config.mailboxes import MailboxSection
from gateway.intake import checks
from gateway.intake.auth import Principal, principal_by_name
from gateway.intake.checks import Refusal
from gateway.intake.mime import parse_message
from gateway.intake.rates import RateLimiter
from gateway.numbers import NumberPolicy
from gateway.textsafe import safe_text


@dataclass(frozen=True)
class Taken:
    """A mail that passed every check: the submission to store and what the rate limit counts."""

    submission: dict[str, Any]
    """create_submissions' keyword arguments."""
    rate_key: str
    count: int


def sender_principal(section: MailboxSection, config: FaxgateConfig, sender: str) -> Principal | None:
    """The user `senders` maps this From: address (or its "@domain") to, else the owner."""
    lowered = sender.lower()
    mapped = {key.lower(): user for key, user in section.senders.items()}
    name = mapped.get(lowered) or mapped.get("@" + lowered.rpartition("@")[2]) or section.owner
    return principal_by_name(config.security, name)


def from_address(raw: bytes) -> str:
    """The From: address of a raw mail ("" when there is none), where receipts and bounces go."""
    message = parse_message(raw)
    return safe_text(parseaddr(str(message.get("From", "") or ""))[1], 320)


class MailboxIntake:
    """Judges mail from one mailbox with the same named checks as the SMTP listener."""

    def __init__(self, config: FaxgateConfig, section: MailboxSection, rates: RateLimiter) -> None:
        self.config = config
        self.section = section
        self.numbers = NumberPolicy(config.numbers)
        self.rates = rates

    def _recipients(self, raw: bytes, principal: Principal) -> list[dict[str, str]] | Refusal:
        """fax-address and number: the fax addresses in To and Cc, each number checked, in header order."""
        message = parse_message(raw)
        values = [str(value) for name in ("To", "Cc") for value in message.get_all(name, [])]
        records: list[dict[str, str]] = []
        for _display, address in getaddresses(values):
            found = checks.fax_address(address, self.config.smtp)
            if isinstance(found, Refusal):
                return found
            if found is None:
                continue
            record = {"address": address, "number": "", "name": found.name, "form": found.form}
            if found.form != "subject":
                destination = checks.number(self.numbers, found.written_number, principal)
                if isinstance(destination, Refusal):
                    return destination
                record["number"] = destination.number
            records.append(record)
        if not records:
            domain = self.config.smtp.fax_domains[0] if self.config.smtp.fax_domains else "fax.example.com"
            return Refusal("fax-address", "550 5.1.1", f"the mail names no fax address in To or Cc: write the "
                           f"number as the address, like 5551234@{domain}")
        return records

    async def judge(self, raw: bytes, queue_blocked: bool) -> Taken | Refusal:
        """Every check in the order SMTP makes them; the submission to store, or the first refusal."""
        config, section = self.config, self.section
        refused = checks.message_size(len(raw), config.smtp.max_message_size)
        if refused:
            return refused
        sender = from_address(raw)
        refused = checks.null_sender(sender) or checks.sender_allowed(sender, section.allowed_senders)
        if refused:
            return refused
        principal = sender_principal(section, config, sender)
        if principal is None:
            return Refusal("may-submit", "550 5.7.1", f"the mailbox owner {section.owner!r} is not configured")
        refused = checks.may_submit(principal) or checks.queue_open(queue_blocked)
        if refused:
            return refused
        records = self._recipients(raw, principal)
        if isinstance(records, Refusal):
            return records
        refused = checks.recipient_count(len(records), config.outbox.max_recipients)
        if refused:
            return refused
        read = await asyncio.to_thread(checks.read_mail, raw, config, principal)
        if isinstance(read, Refusal):
            return read
        mail, options = read
        final = checks.final_recipients(records, mail, self.numbers, principal)
        if isinstance(final, Refusal):
            return final
        recipients, subject = final
        refused = checks.recipient_count(len(recipients), config.outbox.max_recipients)
        if refused:
            return refused
        rate_key = principal.name
        refused = checks.rate_limit(await self.rates.allows(rate_key, len(recipients)))
        if refused:
            return refused
        stored_options: dict[str, Any] = {**options.to_json(), "cover": mail.cover,
                                          "cover_template": mail.cover_template}
        return Taken({
            "source": section.backend, "principal": principal.name, "envelope_from": sender,
            "recipients": recipients, "raw": raw, "subject": safe_text(subject, 200), "options": stored_options,
            **self.rates.stored_fields(rate_key, len(recipients)),
        }, rate_key, len(recipients))
