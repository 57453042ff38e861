"""The SMTP listener under abuse, on loopback: connection floods, too few file descriptors, password guessing,
sender spoofing by an authenticated user, and a mail whose HTML is slow to read."""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import smtplib
import ssl
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.intake.conftest import (
    ALICE_PASSWORD,
    BOSS_PASSWORD,
    GatewayFactory,
    simple_mail,
    transaction,
)

FLOOD = 3000
REPO = Path(__file__).parent.parent.parent


def _enough_descriptors(wanted: int) -> None:
    """Raise this process's open-files limit to `wanted` (within the hard limit) for a flood of loopback clients."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


async def _connect(port: int, source: str) -> tuple[str, asyncio.StreamWriter]:
    """A bare connection from `source`: the server's first line, and the writer that keeps it open."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    return (await asyncio.wait_for(reader.readline(), 60)).decode(), writer


async def _flood(port: int, sources: list[str]) -> tuple[list[asyncio.StreamWriter], list[str]]:
    """One connection per entry of `sources`, 50 at a time (within the listen backlog, so the kernel drops no
    handshake): the held ones (220) and the refusals (closed)."""
    held: list[asyncio.StreamWriter] = []
    refusals: list[str] = []
    for start in range(0, len(sources), 50):
        results = await asyncio.gather(*(_connect(port, source) for source in sources[start:start + 50]))
        for line, writer in results:
            if line.startswith("220"):
                held.append(writer)
            else:
                refusals.append(line)
                writer.close()
    return held, refusals


def _close(writers: list[asyncio.StreamWriter]) -> None:
    for writer in writers:
        writer.close()


async def test_a_flood_from_one_address_is_capped_and_another_client_is_served(
        start_gateway: GatewayFactory, client_tls: ssl.SSLContext, caplog: pytest.LogCaptureFixture) -> None:
    _enough_descriptors(4 * FLOOD)
    caplog.set_level(logging.INFO)
    gateway = await start_gateway()  # the defaults: 100 per listener, 10 per client address
    held, refusals = await _flood(gateway.port, ["127.0.0.1"] * FLOOD)
    try:
        assert len(held) == 10
        assert len(refusals) == FLOOD - 10
        assert set(refusals) == {"421 4.7.0 Too many connections from your address; please try again later\r\n"}
        reply = await transaction(gateway.port, "alice@example.com", ["5551234@fax.localhost"],
                                  simple_mail(sender="alice@example.com"), source="127.0.0.2",
                                  starttls=client_tls, login=("alice", ALICE_PASSWORD))
        assert reply.data is not None and reply.data[0] == 250
    finally:
        _close(held)
    assert [record for record in caplog.records if record.exc_info] == []
    assert [record.getMessage() for record in caplog.records].count("smtp.connections_full") == 1


async def test_a_flood_from_many_addresses_is_capped_per_listener(start_gateway: GatewayFactory) -> None:
    _enough_descriptors(4 * FLOOD)
    gateway = await start_gateway()
    sources = [f"127.0.{1 + i // 200}.{1 + i % 200}" for i in range(FLOOD // 10)] * 10
    held, refusals = await _flood(gateway.port, sources)
    try:
        assert len(held) == 100
        assert set(refusals) == {"421 4.7.0 Too many connections to the fax gateway; please try again later\r\n"}
        assert len(refusals) == FLOOD - 100
    finally:
        _close(held)
    for _ in range(100):  # the places come back as the server sees the connections close
        line, writer = await _connect(gateway.port, "127.0.0.1")
        writer.close()
        if line.startswith("220"):
            break
        await asyncio.sleep(0.05)
    assert line.startswith("220")


async def test_a_client_that_starts_no_mail_is_disconnected(start_gateway: GatewayFactory) -> None:
    gateway = await start_gateway(pre_mail_timeout="1s")
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    try:
        assert (await reader.readline()).startswith(b"220")
        writer.write(b"EHLO idle.test\r\n")
        lines = [line async for line in reader]  # until the server closes the connection
    finally:
        writer.close()
    assert lines[-1] == b"421 4.4.2 Timeout: no mail started in time; closing the connection\r\n"


_SERVER = """
import asyncio, json, resource, sys
from gateway.config import parse_config
from gateway.logs import setup_logging
from tests.intake.conftest import start_listener

async def main():
    config = parse_config(json.loads(sys.argv[1]))
    setup_logging(config.logging)
    gateway = await start_listener(config)
    resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[2]), resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await gateway.stop()

asyncio.run(main())
"""


async def test_running_out_of_file_descriptors_is_logged_once_not_per_accept(tmp_path: Path) -> None:
    from tests.support.net import free_port

    port = free_port()
    config = {"server": {"data_dir": str(tmp_path / "data")},
              "smtp": {"listen": f"127.0.0.1:{port}", "max_connections": 1000, "max_connections_per_client": 1000}}
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _SERVER, json.dumps(config), "64", cwd=REPO,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert server.stdin is not None and server.stdout is not None and server.stderr is not None
    assert await server.stdout.readline() == b"ready\n"
    writers: list[asyncio.StreamWriter] = []
    stderr: list[bytes] = []
    try:
        for _ in range(120):  # more than 64 descriptors, fewer than the listen backlog on top
            writers.append((await asyncio.open_connection("127.0.0.1", port))[1])
        while not any(b"accept_exhausted" in line or b"out of system resource" in line for line in stderr):
            stderr.append(await asyncio.wait_for(server.stderr.readline(), 60))
        await asyncio.sleep(3)  # asyncio retries accept() every second meanwhile
        _close(writers)
        greeting = await asyncio.to_thread(_greeting, port)
    finally:
        _close(writers)
        server.stdin.close()
        _, rest = await asyncio.wait_for(server.communicate(), 60)
    log = b"".join(stderr) + rest
    assert greeting.startswith("220")
    assert b"Traceback" not in log  # asyncio's own handler writes one per failed accept(), a hundred a second
    # one line when accept() starts failing, one when it works again: asyncio retries once a second
    assert 1 <= log.count(b"smtp.accept_exhausted") <= 8
    assert log.count(b"smtp.accept_recovered") >= log.count(b"smtp.accept_exhausted") - 1


def _greeting(port: int) -> str:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        code, text = client.ehlo("normal.test")
        return f"{220 if code == 250 else code} {text.decode()}"


def _auth(port: int, tls: ssl.SSLContext, source: str, attempts: list[tuple[str, str]]) -> list[int]:
    """AUTH PLAIN attempts on one connection; each reply code, -1 once the server has closed the connection."""
    codes: list[int] = []
    with smtplib.SMTP("127.0.0.1", port, timeout=30, source_address=(source, 0)) as client:
        client.starttls(context=tls)
        client.ehlo("guesser.test")
        for user, password in attempts:
            client.user, client.password = user, password
            try:
                code, _ = client.auth("PLAIN", client.auth_plain)
            except smtplib.SMTPAuthenticationError as exc:
                code = exc.smtp_code
            except smtplib.SMTPServerDisconnected:
                code = -1
            codes.append(code)
            if code in (235, -1):
                break
    return codes


async def test_failed_logins_per_connection_are_capped(start_gateway: GatewayFactory,
                                                       client_tls: ssl.SSLContext) -> None:
    gateway = await start_gateway(auth_tries_per_connection=3, auth_max_failures=100)
    codes = await asyncio.to_thread(_auth, gateway.port, client_tls, "127.0.0.2",
                                    [("alice", f"guess {n}") for n in range(10)])
    assert codes == [535, 535, 421, -1]


async def test_failed_logins_lock_out_the_client_address(start_gateway: GatewayFactory,
                                                         client_tls: ssl.SSLContext) -> None:
    gateway = await start_gateway(auth_max_failures=5)
    tried = []
    for first in (0, 2, 4):  # one guess for each of five unknown users, over three connections
        tried += await asyncio.to_thread(_auth, gateway.port, client_tls, "127.0.0.2",
                                         [(f"user{n}", "guess") for n in range(first, min(first + 2, 5))])
    assert tried == [535] * 5
    assert await asyncio.to_thread(_auth, gateway.port, client_tls, "127.0.0.2", [("alice", ALICE_PASSWORD)]) \
        == [421]  # even the right password: a locked address learns nothing more
    assert await asyncio.to_thread(_auth, gateway.port, client_tls, "127.0.0.3", [("alice", ALICE_PASSWORD)]) \
        == [235]


async def test_failed_logins_lock_out_the_user_whatever_the_address(start_gateway: GatewayFactory,
                                                                    client_tls: ssl.SSLContext) -> None:
    gateway = await start_gateway(auth_max_failures=5)
    for n in range(5):
        assert await asyncio.to_thread(_auth, gateway.port, client_tls, f"127.0.0.{10 + n}",
                                       [("alice", f"guess {n}")]) == [535]
    assert await asyncio.to_thread(_auth, gateway.port, client_tls, "127.0.0.20", [("alice", ALICE_PASSWORD)]) \
        == [421]
    assert await asyncio.to_thread(_auth, gateway.port, client_tls, "127.0.0.20", [("boss", BOSS_PASSWORD)]) \
        == [235]


async def test_an_authenticated_user_sends_only_as_its_own_addresses(start_gateway: GatewayFactory,
                                                                     client_tls: ssl.SSLContext) -> None:
    gateway = await start_gateway()

    def mail_from(user: str, password: str, sender: str) -> tuple[int, str]:
        with smtplib.SMTP("127.0.0.1", gateway.port, timeout=30, source_address=("127.0.0.2", 0)) as client:
            client.starttls(context=client_tls)
            client.login(user, password)
            code, text = client.mail(sender)
            return code, text.decode()

    spoofed = await asyncio.to_thread(mail_from, "alice", ALICE_PASSWORD, "ceo@bank.example")
    assert spoofed == (553, "5.7.1 ceo@bank.example is not an address user alice may send as; use your own address")
    assert (await asyncio.to_thread(mail_from, "alice", ALICE_PASSWORD, "alice@example.com"))[0] == 250
    assert (await asyncio.to_thread(mail_from, "boss", BOSS_PASSWORD, "cfo@boss.example.com"))[0] == 250
    assert (await asyncio.to_thread(mail_from, "boss", BOSS_PASSWORD, "alice@example.com"))[0] == 553
    forged_header = await transaction(gateway.port, "alice@example.com", ["5551234@fax.localhost"],
                                      simple_mail(sender="ceo@bank.example"), source="127.0.0.2",
                                      starttls=client_tls, login=("alice", ALICE_PASSWORD))
    assert forged_header.data is not None and forged_header.data[0] == 550
    assert "From: address ceo@bank.example is not one user alice may send as" in forged_header.data[1]
    assert await gateway.submissions() == []


async def test_rotating_mail_from_does_not_escape_an_authenticated_users_limit(
        start_gateway: GatewayFactory, client_tls: ssl.SSLContext) -> None:
    gateway = await start_gateway(rate_limit=1)
    login: dict[str, Any] = {"source": "127.0.0.2", "starttls": client_tls, "login": ("boss", BOSS_PASSWORD)}
    first = await transaction(gateway.port, "a@boss.example.com", ["5551234@fax.localhost"],
                              simple_mail(sender="a@boss.example.com"), **login)
    assert first.data is not None and first.data[0] == 250
    rotated = await transaction(gateway.port, "b@boss.example.com", ["5551234@fax.localhost"],
                                simple_mail(sender="b@boss.example.com"), **login)
    assert rotated.rcpt[0][0] == 450


async def test_slow_html_does_not_hold_up_another_clients_ehlo(start_gateway: GatewayFactory) -> None:
    """html.parser is quadratic on unclosed "</": the mail is read while another client is greeted."""
    gateway = await start_gateway()
    html = "<html><body>" + "</" * 30000
    mail = (b"From: clinic@example.com\r\nTo: 5551234@fax.localhost\r\nSubject: x [fax: high]\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html.encode() + b"\r\n")
    order: list[str] = []
    sent = threading.Event()

    def slow_mail() -> None:
        with smtplib.SMTP("127.0.0.1", gateway.port, timeout=300) as client:
            client.ehlo("slow.test")
            client.mail("clinic@example.com")
            client.rcpt("5551234@fax.localhost")
            client.putcmd("data")
            assert client.getreply()[0] == 354
            client.send(mail + b".\r\n")
            sent.set()
            code, _ = client.getreply()  # 550: high priority is beyond the network's rights, known once read
            order.append(f"slow mail {code}")

    def greeting() -> None:
        sent.wait()
        with smtplib.SMTP("127.0.0.1", gateway.port, timeout=300) as client:
            code, _ = client.ehlo("quick.test")
            order.append(f"ehlo {code}")

    await asyncio.gather(asyncio.to_thread(slow_mail), asyncio.to_thread(greeting))
    assert order == ["ehlo 250", "slow mail 550"]
