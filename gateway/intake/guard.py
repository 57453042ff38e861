"""Connections held within bounds, outside aiosmtpd: a cap per listener and per client address, a deadline for
starting a mail, and one log line (not one traceback per accept) when the process runs out of file descriptors.

Each accepted connection first meets a `Gate`: a tiny asyncio protocol that learns the client's address, and
either answers 421 and closes, or hands the transport to a fresh SMTP protocol (`transport.set_protocol`, then
its `connection_made`). The SMTP protocol reports its `connection_lost` back (`GuardedSMTP`), which frees the
place. asyncio itself backs off accepting for a second when accept() fails for lack of descriptors; `Exhaustion`
only keeps that from writing a traceback per failed accept.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

from aiosmtpd.smtp import SMTP

from gateway.logs import log_event, logger

log = logger("outbound")
LISTENER_FULL = b"421 4.7.0 Too many connections to the fax gateway; please try again later\r\n"
CLIENT_FULL = b"421 4.7.0 Too many connections from your address; please try again later\r\n"
PRE_MAIL_TIMEOUT = b"421 4.4.2 Timeout: no mail started in time; closing the connection\r\n"
ACCEPT_EXHAUSTED = "socket.accept() out of system resource"
"""asyncio's message when accept() fails with EMFILE, ENFILE, ENOBUFS or ENOMEM."""


def peer_host(transport: asyncio.BaseTransport) -> str:
    """The client's IP address as text ("" for a transport without one)."""
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else ""


class GuardedSMTP(SMTP):
    """aiosmtpd's SMTP that tells its gate when the connection is gone (after aiosmtpd's own clean-up)."""

    faxgate_on_lost: Callable[[], None] | None = None

    def connection_lost(self, error: Exception | None) -> None:
        try:
            super().connection_lost(error)
        finally:
            on_lost, self.faxgate_on_lost = self.faxgate_on_lost, None
            if on_lost is not None:
                on_lost()


class ConnectionCaps:
    """Live connections of one listener, in total and per client address; logs each cap when it fills up."""

    def __init__(self, name: str, max_total: int, max_per_client: int) -> None:
        self.name = name
        self.max_total = max_total
        self.max_per_client = max_per_client
        self.total = 0
        self.per_client: Counter[str] = Counter()
        self._full_logged: set[str] = set()
        """The caps ("" for the listener's, else a client address) already reported full and not yet freed."""

    def admit(self, host: str) -> bytes:
        """Take a place for `host`; or the 421 line to answer with when a cap is reached."""
        if self.total >= self.max_total:
            self._report_full("", self.total)
            return LISTENER_FULL
        if self.per_client[host] >= self.max_per_client:
            self._report_full(host, self.per_client[host])
            return CLIENT_FULL
        self.total += 1
        self.per_client[host] += 1
        return b""

    def release(self, host: str) -> None:
        """Give the place back when its connection is closed."""
        self.total -= 1
        self.per_client[host] -= 1
        if self.per_client[host] <= 0:
            del self.per_client[host]
        self._full_logged.discard(host)
        self._full_logged.discard("")

    def _report_full(self, key: str, held: int) -> None:
        """One warning when a cap fills, not one per refused connection (a flood must not flood the log)."""
        if key in self._full_logged:
            return
        self._full_logged.add(key)
        log_event(log, logging.WARNING, "smtp.connections_full", listener=self.name, client=key or "(all)",
                  held=held)


class Gate(asyncio.Protocol):
    """Admits one accepted connection to a new SMTP protocol, or answers 421 and closes it."""

    def __init__(self, caps: ConnectionCaps, make_smtp: Callable[[], GuardedSMTP], pre_mail_s: float,
                 mail_started: Callable[[SMTP], bool], exhaustion: Exhaustion) -> None:
        self.caps = caps
        self.make_smtp = make_smtp
        self.pre_mail_s = pre_mail_s
        self.mail_started = mail_started
        self.exhaustion = exhaustion

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.exhaustion.accepted()
        host = peer_host(transport)
        refusal = self.caps.admit(host)
        if refusal:
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(refusal)
            transport.close()
            return
        smtp = self.make_smtp()
        smtp.faxgate_on_lost = lambda: self.caps.release(host)
        transport.set_protocol(smtp)
        smtp.connection_made(transport)
        asyncio.get_running_loop().call_later(self.pre_mail_s, self._deadline, smtp)

    def _deadline(self, smtp: SMTP) -> None:
        """Close a connection that has not started a mail within pre_mail_timeout."""
        transport = smtp.transport
        if transport is None or transport.is_closing() or self.mail_started(smtp):
            return
        log_event(log, logging.INFO, "smtp.pre_mail_timeout", client=peer_host(transport))
        if isinstance(transport, asyncio.WriteTransport):
            transport.write(PRE_MAIL_TIMEOUT)
        transport.close()


class Exhaustion:
    """A loop exception handler: accept() failing for lack of resources is logged when it starts, and once more
    when a connection is accepted again (with how many failures were not logged), never once per failure."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.previous = loop.get_exception_handler()
        self.exhausted = False
        self.suppressed = 0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") != ACCEPT_EXHAUSTED:
            if self.previous is not None:
                self.previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        if self.exhausted:
            self.suppressed += 1
            return
        self.exhausted = True
        error = context.get("exception")
        log_event(log, logging.ERROR, "smtp.accept_exhausted", error=getattr(error, "strerror", None) or "",
                  retry="1s")

    def accepted(self) -> None:
        """A connection was accepted: if accept() had been failing, say once that it works again."""
        if self.exhausted:
            log_event(log, logging.WARNING, "smtp.accept_recovered", failed_accepts=self.suppressed + 1)
            self.exhausted = False
            self.suppressed = 0

    def install(self) -> None:
        """Become the loop's exception handler (other errors still reach the previous one)."""
        self.loop.set_exception_handler(self)

    def uninstall(self) -> None:
        """Give the loop its previous handler back."""
        if self.loop.get_exception_handler() is self:
            self.loop.set_exception_handler(self.previous)
