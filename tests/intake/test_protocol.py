"""FaxSMTP's bulk DATA reader and address cache against a line-by-line statement of RFC 5321 and against stock
aiosmtpd over real sockets: same mail bytes, same replies, whatever the chunking."""

from __future__ import annotations

import asyncio
import random
import socket
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway.intake.protocol import FaxSMTP, parse_path, read_data

LINE_LIMIT = 1001
SHAPES = ["", ".", "..", ".x", "x.", "a.b", "...", "\r", "x\ry", "\n", "x\nx", ".\n", "\r.", ". ", "Thanks.",
          "=2E", "\xe9t\xe9", "-- "]


def stuffed(lines: list[bytes]) -> bytes:
    """The wire form of a mail's lines: a leading dot doubled, CRLF after each line."""
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines)


def reference(wire: bytes, size_limit: int, line_limit: int = LINE_LIMIT) -> tuple[bytes, str | None, bytes]:
    """RFC 5321 4.1.1.4 and 4.5.2 one line at a time: (content, refusal, bytes after the end-of-data line)."""
    lines: list[bytes] = []
    position = 0
    while True:
        end = wire.index(b"\r\n", position) + 2
        line = wire[position:end]
        position = end
        if line == b".\r\n":
            break
        lines.append(line)
    rest = wire[position:]
    if size_limit and sum(map(len, lines)) > size_limit:
        return b"", "552 Error: Too much mail data", rest
    if any(len(line) > line_limit for line in lines):
        return b"", "500 Line too long (see RFC5321 4.5.3.1.6)", rest
    return b"".join(line[1:] if line.startswith(b".") else line for line in lines), None, rest


def random_lines(rng: random.Random) -> list[bytes]:
    lines = []
    for _ in range(rng.randrange(0, 40)):
        roll = rng.random()
        if roll < 0.5:
            text = rng.choice(SHAPES)
        elif roll < 0.9:
            text = "".join(rng.choice("ab.=\r\n \xff") for _ in range(rng.randrange(1, 12)))
        else:
            text = "y" * rng.choice([76, 997, 998, 999, 1000, 1001, 3000])
        lines.append(text.encode("latin-1").replace(b"\r\n", b"\r\r"))  # a CRLF inside would split the line
    return lines


def chunks(data: bytes, rng: random.Random) -> Iterator[bytes]:
    position = 0
    while position < len(data):
        size = rng.choice([1, 2, 3, 5, 64, 1000, 4096, 70000])
        yield data[position:position + size]
        position += size


async def read_fed(wire: bytes, rng: random.Random, size_limit: int) -> tuple[bytes, str | None, bytes]:
    """read_data on a StreamReader fed in random pieces as the data arrives, then what it left unread."""
    reader = asyncio.StreamReader(limit=LINE_LIMIT)

    async def feed() -> None:
        for piece in chunks(wire, rng):
            reader.feed_data(piece)
            await asyncio.sleep(0)
        reader.feed_eof()

    feeder = asyncio.create_task(feed())
    read = await read_data(reader, size_limit, LINE_LIMIT)
    await feeder
    return read.content, read.refusal, await reader.read()


@pytest.mark.parametrize("seed", range(4))
async def test_bulk_reader_matches_the_line_by_line_rules(seed: int) -> None:
    rng = random.Random(seed)
    refusals = set()
    for _ in range(300):
        lines = random_lines(rng)
        after = rng.choice([b"", b"QUIT\r\n", b"MAIL FROM:<a@b.example>\r\nRCPT TO:<1@fax.localhost>\r\n", b".\r\n"])
        wire = stuffed(lines) + b".\r\n" + after
        size_limit = rng.choice([0, 0, 200, 5000])
        expected = reference(wire, size_limit)
        assert await read_fed(wire, rng, size_limit) == expected, (lines, size_limit)
        refusals.add(expected[1])
    assert refusals == {None, "552 Error: Too much mail data", "500 Line too long (see RFC5321 4.5.3.1.6)"}


async def test_empty_mail_and_a_mail_of_one_dot_line() -> None:
    rng = random.Random(7)
    assert await read_fed(b".\r\nQUIT\r\n", rng, 0) == (b"", None, b"QUIT\r\n")
    assert await read_fed(b"..\r\n.\r\n", rng, 0) == (b".\r\n", None, b"")
    assert await read_fed(b"a\r\n.\r\n", rng, 0) == (b"a\r\n", None, b"")


async def test_a_large_mail_is_read_whole_and_a_too_large_one_is_drained() -> None:
    body = stuffed([b"QUJD" * 19] * 200_000)  # 15 MB of base64-like lines
    content, refusal, rest = await read_fed(body + b".\r\nNOOP\r\n", random.Random(1), 0)
    assert (len(content), refusal, rest) == (len(body), None, b"NOOP\r\n")
    wire = body + b".\r\nNOOP\r\n"
    tracemalloc.start()
    try:
        content, refusal, rest = await read_fed(wire, random.Random(1), 1_000_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (content, refusal, rest) == (b"", "552 Error: Too much mail data", b"NOOP\r\n")
    assert peak < 4_000_000  # what is over the limit is drained, not kept (15 MB went by)


def test_parse_path_matches_aiosmtpd_and_remembers() -> None:
    stock, limited = SMTP(object()), SMTP(object())
    limited.local_part_limit = 64
    for arg in ["<a@b.example>", "a@b.example", "<>", "", "<a b@c>", "<@relay:a@b.example> SIZE=100", "<<x>>",
                '<"quoted name"@b.example>', "<" + "l" * 70 + "@b.example>", "garbage"]:
        assert parse_path(arg, stock.local_part_limit) == stock._getaddr(arg), arg
        assert parse_path(arg, 64) == limited._getaddr(arg), arg
    assert parse_path("<a@b.example>", 0) is parse_path("<a@b.example>", 0)


# --- the same sessions against stock aiosmtpd and FaxSMTP over real sockets ----------------------------------


class Recorder:
    """A handler that keeps each mail and answers with its size."""

    def __init__(self) -> None:
        self.mails: list[bytes] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.mails.append(envelope.original_content or b"")
        return f"250 OK {len(self.mails[-1])} bytes"


@asynccontextmanager
async def serving(protocol: type[SMTP], recorder: Recorder, size_limit: int) -> AsyncIterator[int]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: protocol(recorder, data_size_limit=size_limit, hostname="t"),
                                      "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def transcript(port: int, pieces: list[bytes]) -> bytes:
    """Send each piece as its own TCP segment (with a pause) and return every reply byte until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for piece in pieces:
        writer.write(piece)
        await writer.drain()
        await asyncio.sleep(0.002)
    replies = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return replies


def session_pieces(wire: bytes, rng: random.Random) -> list[bytes]:
    head = [b"EHLO client.example\r\n", b"MAIL FROM:<a@b.example>\r\n", b"RCPT TO:<1@fax.localhost>\r\n",
            b"DATA\r\n"]
    return head + list(chunks(wire, rng)) + [b"NOOP\r\nQUIT\r\n"]


async def test_sessions_match_stock_aiosmtpd_over_sockets() -> None:
    rng = random.Random(11)
    stock_mails, fax_mails = Recorder(), Recorder()
    cases = [stuffed(random_lines(rng)) + b".\r\n" for _ in range(24)]
    cases += [b".\r\n", stuffed([b"x" * 1200]) + b".\r\n", stuffed([b"QUJD" * 19] * 100) + b".\r\n",
              stuffed([b"QUJD" * 19] * 2000) + b".\r\n"]  # over the size limit
    # (a mail both too big and with a too long line is refused either way: aiosmtpd says whichever it met first,
    # FaxSMTP says 552, so no case here has both)
    async with serving(SMTP, stock_mails, 100_000) as stock, serving(FaxSMTP, fax_mails, 100_000) as fax:
        for wire in cases:
            seed = rng.random()
            expected = await transcript(stock, session_pieces(wire, random.Random(seed)))
            assert await transcript(fax, session_pieces(wire, random.Random(seed))) == expected, wire
    assert fax_mails.mails == stock_mails.mails
    assert len(fax_mails.mails) >= 10  # most cases were accepted, some refused
    assert len(fax_mails.mails) < len(cases)


async def test_a_client_gone_in_the_middle_of_data_leaves_the_server_serving() -> None:
    recorder = Recorder()
    async with serving(FaxSMTP, recorder, 0) as port:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<1@x.example>\r\nDATA\r\nhalf a mail\r\n.")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()
        replies = await transcript(port, session_pieces(b"whole\r\n.\r\n", random.Random(3)))
    assert b"250 OK 7 bytes" in replies
    assert recorder.mails == [b"whole\r\n"]
