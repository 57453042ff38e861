"""The SMTP listener: recipients judged at RCPT, the mail committed to storage before the 250 that accepts it.

RCPT: not a fax address -> 550 (never a relay); unknown sender -> 530; a bad or forbidden number -> 550 with
the reason. DATA: the mail is read (options, documents) and refused with the reason if it cannot be faxed;
otherwise the raw message, the checked recipients and the options are committed as a "received" submission,
and only then is 250 sent. Rendering and queueing happen later, from storage. No exception text reaches a
client (`handle_exception`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import ssl
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, cast

from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway.config import FaxgateConfig
from gateway.intake import checks
from gateway.intake.auth import Authority, Principal, read_credentials, session_principal
from gateway.intake.checks import Refusal
from gateway.intake.commit import SubmissionCommitter
from gateway.intake.guard import ConnectionCaps, Exhaustion, Gate, GuardedSMTP
from gateway.intake.mime import parse_fax_mail
from gateway.intake.options import check_rights
from gateway.intake.rates import RateLimiter
from gateway.intake.throttle import AuthThrottle
from gateway.logs import log_event, logger
from gateway.metrics import count_refusal
from gateway.numbers import NumberPolicy
from gateway.storage import Database
from gateway.storage.jobs import get_queue_state
from gateway.textsafe import safe_text

log = logger("outbound")
QUEUE_STATE_TTL_S = 2.0
INLINE_PARSE_BYTES = 256 * 1024
"""Smaller mails without HTML are read on the event loop (well under a millisecond); others in a thread."""
MIGHT_NEED_HTML_PARSER = (b"html", b"tnef", b"winmail")
"""Looked for in the lower-cased mail: markup goes through html.parser, quadratic on unclosed tags (254 KB of "</"
take seconds); Outlook's winmail.dat carries RTF that inflates up to 8x and may hold HTML. (Substring tests on one
lower-cased copy: a tenth of what a case-insensitive regex scan of the same mail costs.)"""
TEMPORARY_FAILURE = "451 4.3.0 A temporary problem at the fax gateway; please try again later"
BARE_LF_STUFFED_DOT = re.compile(rb"(?<!\r)\n\.\.")
"""A doubled dot at the start of a line that ends in a bare LF: a client that sends bare LF (smtplib.sendmail with
bytes) dot-stuffs there too, as Postfix reads it; aiosmtpd removes the stuffing dot only after CRLF."""


@dataclass
class _Checked:
    """What RCPT established for one envelope: who is sending, and the recipients already judged."""

    principal: Principal | None = None
    recipients: list[dict[str, str]] = field(default_factory=list)


def as_sent(raw: bytes) -> bytes:
    """The mail as a bare-LF client meant it: its ".." line starts back to ".", and without the CRLF that its
    client had to add after a final bare LF before the end-of-data dot. CRLF lines are aiosmtpd's to unstuff."""
    if b"\n.." in raw:
        raw = BARE_LF_STUFFED_DOT.sub(b"\n.", raw)
    if raw.endswith(b"\n\r\n") and not raw.endswith(b"\r\n\r\n"):
        raw = raw[:-2]
    return raw


@functools.cache
def protocol_class(line_length_limit: int) -> type[GuardedSMTP]:
    """aiosmtpd's SMTP with its documented line_length_limit raised, set before instantiation as its docs say.

    aiosmtpd 1.4.5+ ends lines only at CRLF (its fix against SMTP smuggling), so a mail sent with bare LF line ends
    (smtplib.sendmail with bytes) is one long "line" to it; the limit lets such a mail through up to the size
    limit, where aiosmtpd's own 552 applies. DATA still ends only at CRLF "." CRLF."""
    return cast(type[GuardedSMTP], type("FaxSMTP", (GuardedSMTP,), {"line_length_limit": line_length_limit}))


def _read_inline(raw: bytes) -> bool:
    """Small mails without HTML or winmail.dat; the rest are read in a thread so other sessions go on meanwhile."""
    if len(raw) > INLINE_PARSE_BYTES:
        return False
    lowered = raw.lower()
    return not any(word in lowered for word in MIGHT_NEED_HTML_PARSER)


def _peer_host(session: Session) -> str:
    peer = session.peer
    return str(peer[0]) if isinstance(peer, tuple) and peer else ""


class FaxSmtpHandler:
    """aiosmtpd handler: authenticates, judges each recipient, stores the message durably, then answers 250."""

    def __init__(self, config: FaxgateConfig, db: Database) -> None:
        self.config = config
        self.db = db
        self.authority = Authority(config.security)
        self.numbers = NumberPolicy(config.numbers)
        self.rates = RateLimiter(db, config.smtp.rate_limit, config.smtp.rate_window.total_seconds())
        smtp = config.smtp
        self.throttle = AuthThrottle(smtp.auth_max_failures, smtp.auth_failure_window.total_seconds(),
                                     smtp.auth_lockout.total_seconds())
        self._auth_failures: weakref.WeakKeyDictionary[SMTP, int] = weakref.WeakKeyDictionary()
        self._mail_started: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self.committer = SubmissionCommitter(db)
        self._checked: weakref.WeakKeyDictionary[Envelope, _Checked] = weakref.WeakKeyDictionary()
        self._blocked_checked_at = -QUEUE_STATE_TTL_S
        self._blocked = config.outbox.blocked

    async def _queue_blocked(self) -> bool:
        """The shared "outgoing queue blocked" switch (Windows IFaxOutgoingQueue.Blocked), read at most every 2 s
        and by one session at a time (the others keep the last answer meanwhile)."""
        now = time.monotonic()
        if now - self._blocked_checked_at >= QUEUE_STATE_TTL_S:
            self._blocked_checked_at = now
            async with self.db.transaction() as conn:
                state = await get_queue_state(conn)
            self._blocked = state["blocked"] if state and "blocked" in state else self.config.outbox.blocked
        return self._blocked

    async def handle_exception(self, error: Exception) -> str:
        """Log the failure; the client only hears that it was temporary."""
        log.error("smtp.session_error", exc_info=error, extra={"fields": {"error": type(error).__name__}})
        return TEMPORARY_FAILURE

    async def handle_AUTH(self, server: SMTP, session: Session, envelope: Envelope, args: list[str]) -> str | None:
        """PLAIN and LOGIN against security.users (aiosmtpd has already refused AUTH outside TLS); guessing is
        slowed, capped per connection, and locked out per client address and per user (gateway.intake.throttle)."""
        credentials = await read_credentials(server, args)
        if credentials is None:
            return None
        name, password = credentials
        peer = _peer_host(session)
        locked = self.throttle.locked(peer, name)
        if locked:
            log_event(log, logging.WARNING, "smtp.auth_locked", user=name, peer=peer, by=locked)
            whose = "from your address" if locked == "address" else "for this user"
            await _close(server, count_refusal(f"421 4.7.0 Too many failed logins {whose}; try again later"))
            return None
        stamp = self.throttle.charge(peer, name)
        principal = await self.authority.login(name, password) if name else None
        if principal is None:
            log_event(log, logging.WARNING, "smtp.auth_failed", user=name, peer=peer)
            await asyncio.sleep(self.config.smtp.auth_failure_delay.total_seconds())
            failures = self._auth_failures.get(server, 0) + 1
            self._auth_failures[server] = failures
            if failures >= self.config.smtp.auth_tries_per_connection:
                await _close(server, count_refusal("421 4.7.0 Too many failed logins on this connection; closing it"))
                return None
            return count_refusal("535 5.7.8 Authentication credentials invalid")
        self.throttle.refund(peer, name, stamp)
        session.authenticated = True
        session.auth_data = principal  # type: ignore[assignment]  # aiosmtpd types it as None
        session.login_data = name.encode()
        log_event(log, logging.INFO, "smtp.auth_ok", user=name, peer=_peer_host(session))
        return "235 2.7.0 Authentication successful"

    def _principal(self, session: Session, envelope: Envelope) -> tuple[Principal | None, str]:
        """The authenticated user, else the trusted network the client is in (if it allows this sender)."""
        authenticated = session_principal(session)
        if authenticated is not None:
            return authenticated, ""
        return self.authority.from_network(_peer_host(session), str(envelope.mail_from or ""))

    def mail_started(self, server: SMTP) -> bool:
        """True once the connection has had a MAIL FROM accepted (the pre-MAIL deadline no longer applies)."""
        return server in self._mail_started

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          mail_options: list[str]) -> str:
        """An authenticated user sends only as an address it owns (security.users.senders, else its email)."""
        return count_refusal(self._mail(server, envelope, address, mail_options, session))

    def _mail(self, server: SMTP, envelope: Envelope, address: str, mail_options: list[str], session: Session) -> str:
        refused = checks.own_address(session_principal(session), address)
        if refused:
            return refused.reply()
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        self._mail_started.add(server)
        return "250 2.1.0 Sender ok"

    def _rate_key(self, principal: Principal, session: Session) -> str:
        """Counted per user, or per client address on a trusted network; never per MAIL FROM, which is free text."""
        if principal.kind == "user":
            return principal.name
        return f"{principal.name} {_peer_host(session)}"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        """Refuse relaying, unknown senders, and numbers that are invalid or not allowed, each with its reason
        (the named checks of gateway.intake.checks, which every intake source applies)."""
        return count_refusal(await self._rcpt(session, envelope, address, rcpt_options))

    async def _rcpt(self, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]) -> str:
        fax_address = checks.fax_address(address, self.config.smtp)
        if isinstance(fax_address, Refusal):
            return fax_address.reply()
        if fax_address is None:
            return checks.relay_refusal().reply()
        refused = checks.null_sender(str(envelope.mail_from or ""))
        if refused:
            return refused.reply()
        principal, why_not = self._principal(session, envelope)
        if principal is None:
            if why_not:
                return f"550 5.7.1 {why_not}"
            return "530 5.7.0 Authentication required to send faxes (AUTH after STARTTLS)"
        refused = (checks.may_submit(principal) or checks.own_address(principal, str(envelope.mail_from))
                   or checks.queue_open(not envelope.rcpt_tos and await self._queue_blocked())
                   or checks.recipient_count(len(envelope.rcpt_tos) + 1, self.config.outbox.max_recipients,
                                             at_rcpt=True))
        if refused:
            return refused.reply()
        refused = checks.rate_limit(await self.rates.allows(self._rate_key(principal, session),
                                                            len(envelope.rcpt_tos) + 1))
        if refused:
            return refused.reply()
        record = {"address": address, "number": "", "name": fax_address.name, "form": fax_address.form}
        if fax_address.form != "subject":
            destination = checks.number(self.numbers, fax_address.written_number, principal)
            if isinstance(destination, Refusal):
                return destination.reply()
            record["number"] = destination.number
        checked = self._checked.setdefault(envelope, _Checked())
        checked.principal = principal
        checked.recipients.append(record)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Recipient ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Read the mail, refuse it with the reason if it cannot be faxed, else commit it and answer 250."""
        return count_refusal(await self._data(session, envelope))

    async def _data(self, session: Session, envelope: Envelope) -> str:
        checked = self._checked.pop(envelope, None)
        principal = checked.principal if checked is not None else None
        if checked is None or principal is None:
            return "554 5.5.1 No valid recipients"
        raw = as_sent(envelope.original_content or b"")
        try:
            mail = (parse_fax_mail(raw, self.config) if _read_inline(raw)
                    else await asyncio.to_thread(parse_fax_mail, raw, self.config))
            options = check_rights(mail.options, principal.rights)
        except Exception as exc:  # a mail our reader trips over is refused for good, not retried for ever
            if not isinstance(exc, checks.READ_ERRORS):
                log.error("smtp.unreadable_mail", exc_info=exc, extra={"fields": {"error": type(exc).__name__}})
            return checks.document_error(exc).reply()
        final = checks.final_recipients(checked.recipients, mail, self.numbers, principal)
        if isinstance(final, Refusal):
            return final.reply()
        recipients, subject = final
        refused = (checks.from_header(principal, mail)
                   or checks.recipient_count(len(recipients), self.config.outbox.max_recipients))
        if refused:
            return refused.reply()
        rate_key = self._rate_key(principal, session)
        refused = checks.rate_limit(await self.rates.allows(rate_key, len(recipients)))
        if refused:
            return refused.reply()
        stored_options: dict[str, Any] = {**options.to_json(), "cover": mail.cover,
                                          "cover_template": mail.cover_template}
        try:
            submission_id = await self.committer.commit(
                source="smtp",
                principal=principal.name,
                envelope_from=str(envelope.mail_from or ""),
                recipients=recipients,
                raw=raw,
                subject=safe_text(subject, 200),
                options=stored_options,
                **self.rates.stored_fields(rate_key, len(recipients)),
            )
        except Exception as exc:
            log.error("smtp.store_failed", exc_info=exc, extra={"fields": {"error": type(exc).__name__}})
            return "451 4.3.0 Could not store the message; please try again later"
        self.rates.record(rate_key, len(recipients))
        log_event(log, logging.INFO, "smtp.accepted", submission=submission_id, principal=principal.name,
                  sender=str(envelope.mail_from or ""), to=",".join(r["number"] for r in recipients),
                  documents=len(mail.documents), size=len(raw))
        return f"250 2.0.0 Queued as {submission_id}"


async def _close(server: SMTP, reply: str) -> None:
    """Answer with a 421 and close the connection (RFC 5321: the server is closing the transmission channel)."""
    await server.push(reply)
    if server.transport is not None:
        server.transport.close()


def server_tls_context(config: FaxgateConfig) -> ssl.SSLContext | None:
    """The TLS context from smtp.tls_cert/tls_key, or None when TLS is not configured."""
    smtp = config.smtp
    if smtp.tls_cert is None or smtp.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(smtp.tls_cert), str(smtp.tls_key))
    return context


class SmtpListener:
    """Runs the SMTP protocol on the server's event loop: plain port with STARTTLS, and optionally implicit TLS."""

    name = "smtp"

    def __init__(self, config: FaxgateConfig, db: Database) -> None:
        self.config = config
        self.handler = FaxSmtpHandler(config, db)
        self.tls_context = server_tls_context(config)
        self._servers: list[asyncio.Server] = []
        self.address: tuple[str, int] | None = None
        self.implicit_tls_address: tuple[str, int] | None = None
        smtp = config.smtp
        self.caps = {kind: ConnectionCaps(kind, smtp.max_connections, smtp.max_connections_per_client)
                     for kind in ("smtp", "smtps")}
        """Per listener: the plain port and the implicit-TLS one."""
        self._exhaustion: Exhaustion | None = None

    def _gate(self, implicit_tls: bool) -> Gate:
        """The protocol factory's product: a gate in front of a fresh SMTP session."""
        assert self._exhaustion is not None
        return Gate(self.caps["smtps" if implicit_tls else "smtp"], lambda: self._protocol(implicit_tls),
                    self.config.smtp.pre_mail_timeout.total_seconds(), self.handler.mail_started, self._exhaustion)

    def _protocol(self, implicit_tls: bool) -> GuardedSMTP:
        smtp = self.config.smtp
        kwargs: dict[str, Any] = {
            "hostname": smtp.hostname,
            "data_size_limit": smtp.max_message_size,
            "enable_SMTPUTF8": True,
            "ident": "faxgate ESMTP",
            "tls_context": None if implicit_tls else self.tls_context,
            "auth_require_tls": not implicit_tls,
            "timeout": smtp.idle_timeout.total_seconds(),
        }
        return protocol_class(2 * smtp.max_message_size)(self.handler, **kwargs)

    async def start(self) -> None:
        """Listen on the configured address (and the implicit-TLS one when set)."""
        loop = asyncio.get_running_loop()
        self._exhaustion = Exhaustion(loop)
        self._exhaustion.install()
        host, port = self.config.smtp.listen
        server = await loop.create_server(lambda: self._gate(False), host=host, port=port)
        self._servers.append(server)
        sockname = server.sockets[0].getsockname()
        self.address = (sockname[0], sockname[1])
        if self.config.smtp.implicit_tls_listen is not None and self.tls_context is not None:
            tls_host, tls_port = self.config.smtp.implicit_tls_listen
            tls_server = await loop.create_server(lambda: self._gate(True), host=tls_host, port=tls_port,
                                                  ssl=self.tls_context)
            self._servers.append(tls_server)
            tls_name = tls_server.sockets[0].getsockname()
            self.implicit_tls_address = (tls_name[0], tls_name[1])

    async def stop(self) -> None:
        """Stop accepting connections; sessions in flight finish their current command."""
        for server in self._servers:
            server.close()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        if self._exhaustion is not None:
            self._exhaustion.uninstall()
        await self.handler.committer.close()


def smtp_sources(config: FaxgateConfig, db: Database, node_id: str = "") -> list[SmtpListener]:
    """The SMTP listener when [smtp] is enabled (entry point faxgate.intake_sources "smtp")."""
    return [SmtpListener(config, db)] if config.smtp.enabled else []
