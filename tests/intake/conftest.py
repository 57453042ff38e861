"""A real faxgate SMTP listener on a free port, a real aiosmtpd sink as the receipts smarthost, and TLS from trustme."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway.config import FaxgateConfig, parse_config
from gateway.intake.smtp import SmtpListener
from gateway.model import Submission
from gateway.passwords import hash_password
from gateway.storage import Database
from gateway.storage.submissions import list_submissions
from tests.support.net import free_port

FIXTURES = Path(__file__).parent.parent / "fixtures" / "mail"
ALICE_PASSWORD = "correct horse battery staple"
BOSS_PASSWORD = "b0ss-p4ss"
_HASHES: dict[str, str] = {}


def _hash(password: str) -> str:
    if password not in _HASHES:
        _HASHES[password] = hash_password(password)
    return _HASHES[password]


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """A throwaway certificate authority."""
    return trustme.CA()


@pytest.fixture
def tls_files(ca: trustme.CA, tmp_path: Path) -> tuple[Path, Path]:
    """A server certificate for 127.0.0.1/localhost as PEM files."""
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_path, key_path = tmp_path / "server.pem", tmp_path / "server.key"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    return cert_path, key_path


@pytest.fixture
def client_tls(ca: trustme.CA) -> ssl.SSLContext:
    """A client context that trusts the test CA."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@dataclass
class Sink:
    """A real SMTP server standing in for the receipts smarthost; keeps every message."""

    port: int = 0
    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = bytes(envelope.original_content or b"")
        self.messages.append((str(envelope.mail_from), list(envelope.rcpt_tos), content))
        self.arrived.set()
        return "250 OK"


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    """The smarthost, on the test's event loop."""
    found = Sink()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(found, hostname="sink.test"), "127.0.0.1", 0)
    found.port = server.sockets[0].getsockname()[1]
    yield found
    server.close()
    await server.wait_closed()


def make_config(tmp_path: Path, tls_files: tuple[Path, Path] | None, sink_port: int, **smtp: Any) -> FaxgateConfig:
    """Embedded defaults plus two users, TLS and the sink as smarthost; `smtp` overrides [smtp] keys."""
    data: dict[str, Any] = {
        "server": {"data_dir": str(tmp_path / "data")},
        "smtp": {"listen": f"127.0.0.1:{free_port()}", "auth_failure_delay": "0s", **smtp},
        "security": {
            "users": [
                {"name": "alice", "password_hash": _hash(ALICE_PASSWORD), "email": "alice@example.com"},
                {"name": "boss", "password_hash": _hash(BOSS_PASSWORD), "rights": ["submit_high"],
                 "senders": ["boss@example.com", "@boss.example.com"],
                 "destinations": ["international"]},
            ],
            "trusted_networks": [{"network": "127.0.0.1/32"}, {"network": "::1/128"}],
        },
        "receipts": {"smtp_host": "127.0.0.1", "smtp_port": sink_port, "sender": "faxgate@fax.test"},
    }
    if tls_files is not None:
        data["smtp"].setdefault("tls_cert", str(tls_files[0]))
        data["smtp"].setdefault("tls_key", str(tls_files[1]))
    return parse_config(data)


@dataclass
class Gateway:
    """A running listener with its store."""

    config: FaxgateConfig
    db: Database
    listener: SmtpListener

    @property
    def port(self) -> int:
        assert self.listener.address is not None
        return self.listener.address[1]

    async def stop(self) -> None:
        await self.listener.stop()
        await self.db.close()

    async def submissions(self) -> list[Submission]:
        async with self.db.transaction() as conn:
            return await list_submissions(conn)


GatewayFactory = Callable[..., Any]


async def start_listener(config: FaxgateConfig) -> Gateway:
    """A listener on its own migrated store, started; the caller stops it (`await gateway.stop()`)."""
    db = Database(config.database_url)
    await db.migrate()
    listener = SmtpListener(config, db)
    await listener.start()
    return Gateway(config, db, listener)


@pytest.fixture
async def start_gateway(tmp_path: Path, tls_files: tuple[Path, Path], sink: Sink) -> AsyncIterator[GatewayFactory]:
    """Start listeners with per-test [smtp] overrides: `gw = await start_gateway(rate_limit=2)`."""
    running: list[Gateway] = []

    async def start(**smtp: Any) -> Gateway:
        gateway = await start_listener(make_config(tmp_path / f"gw{len(running)}", tls_files, sink.port, **smtp))
        running.append(gateway)
        return gateway

    yield start
    for gateway in running:
        await gateway.stop()


@pytest.fixture
async def gateway(start_gateway: GatewayFactory) -> Gateway:
    """A listener with the default [smtp] settings (plus TLS)."""
    return await start_gateway()  # type: ignore[no-any-return]


def simple_mail(to: str = "5551234@fax.localhost", subject: str = "Hello", body: str = "Please fax this page.\n",
                sender: str = "clinic@example.com", **headers: str) -> bytes:
    """A small text mail as bytes."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message.as_bytes(policy=SMTP_POLICY)


@dataclass
class Reply:
    """The server's answers along one SMTP transaction."""

    rcpt: list[tuple[int, str]]
    data: tuple[int, str] | None

    @property
    def queued_id(self) -> str:
        assert self.data is not None and self.data[0] == 250, self
        return self.data[1].rsplit(" ", 1)[-1]


def smtp_transaction(port: int, sender: str, recipients: list[str], message: bytes, *,
                     source: str = "127.0.0.1", starttls: ssl.SSLContext | None = None,
                     login: tuple[str, str] | None = None, mechanism: str = "PLAIN") -> Reply:
    """One real SMTP session with smtplib: optional STARTTLS and AUTH, each RCPT's reply, then DATA's reply."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30, source_address=(source, 0)) as client:
        client.ehlo("client.test")
        if starttls is not None:
            client.starttls(context=starttls)
            client.ehlo("client.test")
        if login is not None:
            client.user, client.password = login
            code, text = client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"))
            assert code == 235, (code, text)
        code, text = client.mail(sender)
        assert code == 250, (code, text)
        rcpt = []
        for recipient in recipients:
            code, text = client.rcpt(recipient)
            rcpt.append((code, text.decode(errors="replace")))
        if not any(code == 250 for code, _ in rcpt):
            return Reply(rcpt, None)
        code, text = client.data(message)
        return Reply(rcpt, (code, text.decode(errors="replace")))


async def transaction(port: int, sender: str, recipients: list[str], message: bytes, **kwargs: Any) -> Reply:
    """smtp_transaction off the event loop (the server runs on it)."""
    return await asyncio.to_thread(smtp_transaction, port, sender, recipients, message, **kwargs)


def report_pdf(title: str, pages: int = 3) -> bytes:
    """A real multi-page PDF over 64 KB: text on each page and a small photo of incompressible noise."""
    import io
    import random

    from PIL import Image

    from gateway.queue.documents import load_pymupdf

    pymupdf = load_pymupdf()
    rng = random.Random(title)
    document = pymupdf.open()
    for number in range(1, pages + 1):
        page = document.new_page(width=595, height=842)
        page.insert_text((72, 90), f"{title}: page {number} of {pages}", fontsize=20)
        for line in range(12):
            page.insert_text((72, 130 + line * 18), f"Line {line + 1}: {rng.randint(1000, 99999):,} units", fontsize=11)
        photo = io.BytesIO()
        Image.frombytes("L", (160, 160), rng.randbytes(160 * 160)).save(photo, "PNG")
        page.insert_image(pymupdf.Rect(72, 400, 144, 472), stream=photo.getvalue())
    data: bytes = document.tobytes(garbage=3, deflate=True)
    document.close()
    return data
