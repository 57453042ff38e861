"""Every log line is sanitized, library loggers included: aiosmtpd's own warnings carry client bytes."""

from __future__ import annotations

import asyncio
import io
import logging
import socket
from collections.abc import Iterator

import pytest

from gateway.config.sections import LoggingSection
from gateway.logs import setup_logging
from tests.intake.conftest import Gateway

CONTROL = ("\x1b", "\x07", "\r")


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """faxgate's logging set up on a string, as `faxgate serve` sets it up on stderr; undone afterwards."""
    top, ours = logging.getLogger(), logging.getLogger("faxgate")
    top_handlers, our_handlers = list(top.handlers), list(ours.handlers)
    our_level, propagate = ours.level, ours.propagate
    stream = io.StringIO()
    setup_logging(LoggingSection(), stream)
    yield stream
    top.handlers[:], ours.handlers[:], ours.propagate = top_handlers, our_handlers, propagate
    ours.setLevel(our_level)


def hostile_session(port: int) -> bytes:
    """A client whose unknown command holds ESC, BEL and a bare CR; aiosmtpd logs "unrecognised: <command>"."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        reader = client.makefile("rb")
        reader.readline()
        client.sendall(b"\x1b[2J\x1b]0;pwned\x07EVIL\rFORGED 2026-01-01T00:00:00Z INFO init forged\r\n")
        reply = reader.readline()
        client.sendall(b"QUIT\r\n")
        reader.readline()
        return reply


async def test_aiosmtpd_warnings_about_client_commands_are_sanitized(
        gateway: Gateway, log_stream: io.StringIO, capfd: pytest.CaptureFixture[str]) -> None:
    reply = await asyncio.to_thread(hostile_session, gateway.port)
    assert reply.startswith(b"500")
    await asyncio.sleep(0)
    lines = log_stream.getvalue().splitlines()
    [warning] = [line for line in lines if "unrecognised" in line]
    assert " WARNING mail.log " in warning
    assert warning.endswith("unrecognised: [2J ]0;PWNED EVIL FORGED")  # each control character became a space
    output = log_stream.getvalue() + capfd.readouterr().err
    assert not [ch for ch in CONTROL if ch in output]
