"""Telling the fax administrator: receive errors with the session log attached, and faxes routing gave up on."""

from __future__ import annotations

import logging
from email.message import EmailMessage

from gateway.config import FaxgateConfig
from gateway.logs import log_event, logger
from gateway.textsafe import safe_text
from routing.mail import check_address, send_mail
from routing.methods.base import RoutingFailure

log = logger("inbound")


async def notify_admin(config: FaxgateConfig, subject: str, body: str, session_log: str = "",
                       attachment_name: str = "session-log.txt") -> bool:
    """Mail the administrator once; a failure is logged, never raised (the job row keeps the facts)."""
    if config.inbound.notify_admin == "never" or not config.receipts.enabled:
        return False
    try:
        admin = check_address(config.inbound.admin)
    except ValueError:
        log_event(log, logging.ERROR, "admin.bad_address", admin=config.inbound.admin)
        return False
    message = EmailMessage()
    message["From"] = config.receipts.sender
    message["To"] = admin
    message["Subject"] = safe_text(subject, 200)
    message.set_content(body)
    if session_log:
        message.add_attachment(session_log.encode("utf-8", "replace"), maintype="text", subtype="plain",
                               filename=attachment_name)
    try:
        await send_mail(config.receipts, message, [admin])
    except RoutingFailure as exc:
        log_event(log, logging.WARNING, "admin.notice_failed", subject=subject, error=str(exc))
        return False
    return True
