"""AUTH does the same password work for unknown users as for real users with a wrong password (no user probing)."""

from __future__ import annotations

import asyncio
import hashlib
import smtplib
import ssl
from typing import Any

import pytest

from gateway.config import parse_config
from gateway.intake.auth import Authority
from gateway.passwords import hash_password
from tests.intake.conftest import Gateway

Work = list[tuple[int, int, int, int, int]]


@pytest.fixture
def scrypt_calls(monkeypatch: pytest.MonkeyPatch) -> Work:
    """Every scrypt run as (n, r, p, dklen, salt length): the work a password check costs, whoever asks."""
    calls: Work = []
    real = hashlib.scrypt

    def counted(password: bytes, *, salt: bytes, n: int, r: int, p: int, dklen: int = 64, **rest: Any) -> bytes:
        calls.append((n, r, p, dklen, len(salt)))
        return real(password, salt=salt, n=n, r=r, p=p, dklen=dklen, **rest)

    monkeypatch.setattr(hashlib, "scrypt", counted)
    return calls


async def test_unknown_users_cost_the_same_scrypt_as_a_wrong_password(scrypt_calls: Work) -> None:
    config = parse_config({"security": {"users": [
        {"name": "alice", "password_hash": hash_password("the real one")},
        {"name": "nohash"},  # configured, but cannot log in
    ]}})
    authority = Authority(config.security)
    work: dict[str, Work] = {}
    for name in ("alice", "mallory", "nohash"):
        scrypt_calls.clear()
        assert await authority.login(name, "a wrong password") is None
        work[name] = list(scrypt_calls)
    assert len(work["alice"]) == 1
    assert work["mallory"] == work["alice"]
    assert work["nohash"] == work["alice"]


async def test_smtp_auth_answers_unknown_and_wrong_alike(gateway: Gateway, client_tls: ssl.SSLContext,
                                                         scrypt_calls: Work) -> None:
    def attempt(user: str) -> tuple[int, bytes | str]:
        with smtplib.SMTP("127.0.0.1", gateway.port, timeout=30) as client:
            client.ehlo("client.test")
            client.starttls(context=client_tls)
            client.ehlo("client.test")
            with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
                client.login(user, "not the password")
            return refused.value.smtp_code, refused.value.smtp_error

    scrypt_calls.clear()
    known = await asyncio.to_thread(attempt, "alice")
    work_known = list(scrypt_calls)
    scrypt_calls.clear()
    unknown = await asyncio.to_thread(attempt, "mallory")
    assert known == unknown
    assert known[0] == 535
    assert work_known
    assert scrypt_calls == work_known
