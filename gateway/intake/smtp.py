"""The SMTP listener: a message is committed to storage before the 250 that accepts it."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway.config import FaxgateConfig
from gateway.logs import log_event, logger
from gateway.storage import Database
from gateway.storage.submissions import create_submission
from gateway.textsafe import safe_text

log = logger("outbound")
_NUMBER = re.compile(r"^\+?[0-9][0-9 ()./-]{1,30}$")


class FaxSmtpHandler:
    """aiosmtpd handler: checks each recipient, stores the message durably, then answers 250."""

    def __init__(self, config: FaxgateConfig, db: Database) -> None:
        self.config = config
        self.db = db
        self.fax_domains = {domain.lower() for domain in config.smtp.fax_domains}
        self.trusted = [ipaddress.ip_network(net.network, strict=False) for net in config.security.trusted_networks]

    def _is_trusted(self, session: Session) -> bool:
        peer = session.peer[0] if isinstance(session.peer, tuple) else ""
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.trusted)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        """Refuse relaying and anything that is not NUMBER@<fax domain>, at RCPT time."""
        if not (session.authenticated or self._is_trusted(session)):
            return "530 5.7.0 Authentication required to send faxes"
        local, _, domain = address.rpartition("@")
        if domain.lower() not in self.fax_domains:
            return "550 5.7.1 Relaying denied: not a fax domain of this gateway"
        if not _NUMBER.match(local):
            return "550 5.1.3 Not a fax number: write the number before the @, like 5551234@" + domain
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Recipient ok"

    async def handle_DATA(
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        """Commit the raw message, then accept it; a storage failure is a temporary refusal, never a lost fax."""
        raw = envelope.original_content or b""
        headers = BytesHeaderParser(policy=default_policy).parsebytes(raw)
        principal = (session.authenticated and str(getattr(session, "login_data", "") or "")) or "local"
        try:
            async with self.db.transaction() as conn:
                submission_id = await create_submission(
                    conn,
                    source="smtp",
                    principal=principal,
                    envelope_from=str(envelope.mail_from or ""),
                    recipients=[{"address": rcpt} for rcpt in envelope.rcpt_tos],
                    raw=raw,
                    subject=safe_text(headers.get("Subject", ""), 200),
                )
        except Exception:
            log.exception("smtp.store_failed")
            return "451 4.3.0 Could not store the message; please try again later"
        log_event(log, logging.INFO, "smtp.accepted", submission=submission_id,
                  recipients=len(envelope.rcpt_tos), size=len(raw))
        return f"250 2.0.0 Queued as {submission_id}"


class SmtpListener:
    """Runs the SMTP protocol on the server's event loop."""

    name = "smtp"

    def __init__(self, config: FaxgateConfig, db: Database) -> None:
        self.config = config
        self.handler = FaxSmtpHandler(config, db)
        self._server: asyncio.Server | None = None
        self.address: tuple[str, int] | None = None

    def _protocol(self) -> SMTP:
        smtp = self.config.smtp
        kwargs: dict[str, Any] = {
            "hostname": smtp.hostname,
            "data_size_limit": smtp.max_message_size,
            "enable_SMTPUTF8": True,
            "ident": "faxgate ESMTP",
        }
        return SMTP(self.handler, **kwargs)

    async def start(self) -> None:
        """Listen on the configured address."""
        host, port = self.config.smtp.listen
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, host=host, port=port)
        sockname = self._server.sockets[0].getsockname()
        self.address = (sockname[0], sockname[1])

    async def stop(self) -> None:
        """Stop accepting connections; sessions in flight finish their current command."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
