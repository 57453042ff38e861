"""Real SMTP sessions (smtplib) against the listener: address forms, authentication, refusals and what is stored."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from typing import Any

import pytest

from gateway.enums import Priority
from gateway.intake.options import FaxOptions
from gateway.storage.database import get_blob
from tests.intake.conftest import (
    ALICE_PASSWORD,
    BOSS_PASSWORD,
    FIXTURES,
    Gateway,
    GatewayFactory,
    simple_mail,
    start_listener,
    transaction,
)


async def test_local_submission_is_committed_with_checked_recipient_before_250(gateway: Gateway) -> None:
    message = simple_mail(subject="Lab results")
    reply = await transaction(gateway.port, "clinic@example.com", ["5551234@fax.localhost"], message)
    assert reply.rcpt == [(250, "2.1.5 Recipient ok")]
    [stored] = await gateway.submissions()
    assert stored.id == reply.queued_id
    assert stored.state == "received"
    assert stored.source == "smtp"
    assert stored.principal == "network 127.0.0.1/32"
    assert stored.envelope_from == "clinic@example.com"
    assert stored.subject == "Lab results"
    assert stored.recipients == [{"address": "5551234@fax.localhost", "number": "5551234", "name": "",
                                  "form": "number"}]
    async with gateway.db.transaction() as conn:
        assert stored.raw_blob_id is not None
        assert await get_blob(conn, stored.raw_blob_id) == message


async def test_display_name_goes_with_the_number_for_the_cover_page(gateway: Gateway) -> None:
    message = simple_mail(to='"Dr. Meyer" <2015550123@fax.localhost>')
    reply = await transaction(gateway.port, "clinic@example.com", ["2015550123@fax.localhost"], message)
    assert reply.data is not None and reply.data[0] == 250
    [stored] = await gateway.submissions()
    assert stored.recipients[0]["number"] == "+12015550123"
    assert stored.recipients[0]["name"] == "Dr. Meyer"


async def test_name_at_number_dot_fax_form(gateway: Gateway) -> None:
    message = simple_mail(to="john.smith@201-555-0123.fax")
    reply = await transaction(gateway.port, "clinic@example.com", ["john.smith@201-555-0123.fax"], message)
    assert reply.data is not None and reply.data[0] == 250
    [stored] = await gateway.submissions()
    assert stored.recipients == [{"address": "john.smith@201-555-0123.fax", "number": "+12015550123",
                                  "name": "john smith", "form": "name_at_number"}]


async def test_numbers_in_the_subject_for_the_configured_address(start_gateway: GatewayFactory) -> None:
    gateway = await start_gateway(subject_address="fax@fax.localhost")
    message = simple_mail(to="fax@fax.localhost", subject="201-555-0123, 2015550124: Invoice 42")
    reply = await transaction(gateway.port, "clinic@example.com", ["fax@fax.localhost"], message)
    assert reply.data is not None and reply.data[0] == 250, reply
    [stored] = await gateway.submissions()
    assert [r["number"] for r in stored.recipients] == ["+12015550123", "+12015550124"]
    assert stored.subject == "Invoice 42"
    missing = simple_mail(to="fax@fax.localhost", subject="Invoice without a number")
    refused = await transaction(gateway.port, "clinic@example.com", ["fax@fax.localhost"], missing)
    assert refused.data is not None and refused.data[0] == 550
    assert "must start its Subject with the fax number" in refused.data[1]


async def test_broadcast_to_three_numbers_is_one_submission_with_three_recipients(gateway: Gateway) -> None:
    recipients = ["2015550123@fax.localhost", "2015550124@fax.localhost", "2015550125@fax.localhost"]
    message = simple_mail(to=", ".join(recipients))
    reply = await transaction(gateway.port, "clinic@example.com", recipients, message)
    assert [code for code, _ in reply.rcpt] == [250, 250, 250]
    submissions = await gateway.submissions()
    assert len(submissions) == 1
    assert [r["number"] for r in submissions[0].recipients] == ["+12015550123", "+12015550124", "+12015550125"]


async def test_relaying_is_refused_even_for_trusted_and_authenticated_clients(
        gateway: Gateway, client_tls: ssl.SSLContext) -> None:
    local = await transaction(gateway.port, "clinic@example.com", ["someone@example.org"], simple_mail())
    assert local.rcpt[0][0] == 550 and "Relaying denied" in local.rcpt[0][1]
    authed = await transaction(gateway.port, "alice@example.com", ["someone@example.org"], simple_mail(),
                               starttls=client_tls, login=("alice", ALICE_PASSWORD))
    assert authed.rcpt[0][0] == 550 and "Relaying denied" in authed.rcpt[0][1]
    assert await gateway.submissions() == []


async def test_clients_outside_trusted_networks_must_authenticate(gateway: Gateway) -> None:
    reply = await transaction(gateway.port, "someone@example.org", ["5551234@fax.localhost"], simple_mail(),
                              source="127.0.0.2")
    assert reply.rcpt[0][0] == 530
    assert "Authentication required" in reply.rcpt[0][1]
    assert await gateway.submissions() == []


async def test_auth_is_not_offered_without_tls_and_refused_if_tried(gateway: Gateway) -> None:
    def session() -> tuple[bool, int]:
        with smtplib.SMTP("127.0.0.1", gateway.port, timeout=30, source_address=("127.0.0.2", 0)) as client:
            client.ehlo()
            offered = client.has_extn("auth")
            code, _ = client.docmd("AUTH", "PLAIN AGFsaWNlAHNlY3JldA==")
            return offered, code

    offered, code = await asyncio.to_thread(session)
    assert not offered
    assert code == 538


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
async def test_starttls_and_auth_let_a_remote_user_submit(gateway: Gateway, client_tls: ssl.SSLContext,
                                                          mechanism: str) -> None:
    reply = await transaction(gateway.port, "alice@example.com", ["2015550123@fax.localhost"],
                              simple_mail(sender="alice@example.com"), source="127.0.0.2", starttls=client_tls,
                              login=("alice", ALICE_PASSWORD),
                              mechanism=mechanism)
    assert reply.data is not None and reply.data[0] == 250
    [stored] = await gateway.submissions()
    assert stored.principal == "alice"


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
async def test_wrong_password_is_refused_with_535(gateway: Gateway, client_tls: ssl.SSLContext,
                                                  mechanism: str) -> None:
    def session() -> tuple[int, str]:
        with smtplib.SMTP("127.0.0.1", gateway.port, timeout=30, source_address=("127.0.0.2", 0)) as client:
            client.starttls(context=client_tls)
            client.ehlo()
            client.user, client.password = "alice", "not the password"
            try:
                client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"))
            except smtplib.SMTPAuthenticationError as exc:
                error = exc.smtp_error
                return exc.smtp_code, error.decode() if isinstance(error, bytes) else error
            return 235, ""

    code, text = await asyncio.to_thread(session)
    assert code == 535
    assert "credentials invalid" in text


async def test_implicit_tls_listener_accepts_authenticated_mail(start_gateway: GatewayFactory,
                                                                client_tls: ssl.SSLContext) -> None:
    from tests.support.net import free_port

    gateway = await start_gateway(implicit_tls_listen=f"127.0.0.1:{free_port()}")
    assert gateway.listener.implicit_tls_address is not None
    port = gateway.listener.implicit_tls_address[1]

    def session() -> tuple[int, bytes]:
        with smtplib.SMTP_SSL("127.0.0.1", port, timeout=30, context=client_tls,
                              source_address=("127.0.0.2", 0)) as client:
            client.login("boss", BOSS_PASSWORD)
            client.mail("boss@example.com")
            client.rcpt("+442079460018@fax.localhost")
            return client.data(simple_mail(to="+442079460018@fax.localhost", sender="boss@example.com"))

    code, _ = await asyncio.to_thread(session)
    assert code == 250
    [stored] = await gateway.submissions()
    assert stored.principal == "boss" and stored.recipients[0]["number"] == "+442079460018"


async def test_size_limit_gives_552(start_gateway: GatewayFactory) -> None:
    gateway = await start_gateway(max_message_size="20KB")
    big = simple_mail(body="x" * 70 + "\n" * 1 + ("y" * 70 + "\n") * 400)
    reply = await transaction(gateway.port, "clinic@example.com", ["5551234@fax.localhost"], big)
    assert reply.data is not None and reply.data[0] == 552
    assert await gateway.submissions() == []


@pytest.mark.parametrize(("address", "code", "words"), [
    ("123@fax.localhost", 550, "too short"),
    ("call-me@fax.localhost", 550, "is not a fax number"),
    ("19005550199@fax.localhost", 550, "premium-rate numbers"),
    ("911@fax.localhost", 550, "emergency numbers"),
    ("+442079460018@fax.localhost", 550, "international numbers"),
    ("someone@12ab.fax", 550, "is not a fax number"),
])
async def test_invalid_and_forbidden_numbers_are_refused_at_rcpt(gateway: Gateway, address: str, code: int,
                                                                 words: str) -> None:
    reply = await transaction(gateway.port, "clinic@example.com", [address], simple_mail(to=address))
    assert reply.rcpt[0][0] == code
    assert words in reply.rcpt[0][1]
    assert reply.data is None


async def test_principal_destinations_open_international_for_that_user_only(
        gateway: Gateway, client_tls: ssl.SSLContext) -> None:
    number = "+442079460018@fax.localhost"
    alice = await transaction(gateway.port, "alice@example.com", [number],
                              simple_mail(to=number, sender="alice@example.com"),
                              starttls=client_tls, login=("alice", ALICE_PASSWORD))
    boss = await transaction(gateway.port, "boss@example.com", [number],
                             simple_mail(to=number, sender="boss@example.com"),
                             starttls=client_tls, login=("boss", BOSS_PASSWORD))
    assert alice.rcpt[0][0] == 550
    assert boss.data is not None and boss.data[0] == 250


async def test_priority_is_honoured_only_within_the_senders_rights(gateway: Gateway,
                                                                   client_tls: ssl.SSLContext) -> None:
    def urgent(sender: str) -> bytes:
        return simple_mail(subject="Contract [fax: high, fine, nocover]", sender=sender)

    refused = await transaction(gateway.port, "alice@example.com", ["2015550123@fax.localhost"],
                                urgent("alice@example.com"),
                                starttls=client_tls, login=("alice", ALICE_PASSWORD))
    assert refused.data is not None and refused.data[0] == 550
    assert "may not send faxes at high priority" in refused.data[1]
    accepted = await transaction(gateway.port, "boss@example.com", ["2015550123@fax.localhost"],
                                 urgent("boss@example.com"),
                                 starttls=client_tls, login=("boss", BOSS_PASSWORD))
    assert accepted.data is not None and accepted.data[0] == 250
    [stored] = await gateway.submissions()
    options = FaxOptions.from_json(stored.options)
    assert options.priority == Priority.HIGH and options.resolution == "fine" and options.cover is False
    assert stored.subject == "Contract"


@pytest.mark.parametrize(("message", "words"), [
    ((FIXTURES / "encrypted_smime.eml").read_bytes(), "encrypted"),
    (simple_mail(subject="x [fax: nocover]", body="\n"), "nothing to fax"),
    (simple_mail(subject="x [fax: colour]"), "unknown fax option 'colour'"),
    (simple_mail(X_Fax_Send_At="whenever"), "send at"),
    (simple_mail(X_Fax_Colour="yes"), "unknown header X-Fax-Colour"),
])
async def test_mail_that_cannot_be_faxed_is_refused_at_data_with_the_reason(gateway: Gateway, message: bytes,
                                                                            words: str) -> None:
    reply = await transaction(gateway.port, "clinic@example.com", ["5551234@fax.localhost"], message)
    assert reply.data is not None and reply.data[0] == 554, reply
    assert words in reply.data[1]
    assert await gateway.submissions() == []


async def test_rate_limit_per_trusted_client_whatever_its_mail_from(start_gateway: GatewayFactory) -> None:
    gateway = await start_gateway(rate_limit=2)
    first = await transaction(gateway.port, "a@example.com", ["5551234@fax.localhost", "5551235@fax.localhost"],
                              simple_mail())
    assert first.data is not None and first.data[0] == 250
    again = await transaction(gateway.port, "a@example.com", ["5551236@fax.localhost"], simple_mail())
    assert again.rcpt[0][0] == 450
    rotated = await transaction(gateway.port, "b@example.com", ["5551236@fax.localhost"], simple_mail())
    assert rotated.rcpt[0] == (450, "4.7.1 You have sent too many faxes for now; please try again later")


async def test_sender_allow_list_of_a_trusted_network(tmp_path: Any, tls_files: Any, sink: Any) -> None:
    from gateway.config import parse_config
    from tests.support.net import free_port

    gateway = await start_listener(parse_config({
        "server": {"data_dir": str(tmp_path / "data")},
        "smtp": {"listen": f"127.0.0.1:{free_port()}"},
        "security": {"trusted_networks": [{"network": "127.0.0.0/8", "allowed_senders": ["@clinic.example"]}]},
    }))
    try:
        ok = await transaction(gateway.port, "dr@clinic.example", ["5551234@fax.localhost"], simple_mail())
        assert ok.data is not None and ok.data[0] == 250
        other = await transaction(gateway.port, "x@elsewhere.example", ["5551234@fax.localhost"], simple_mail())
        assert other.rcpt[0][0] == 550 and "may not submit faxes from this network" in other.rcpt[0][1]
    finally:
        await gateway.stop()


async def test_a_storage_failure_is_temporary_and_tells_nothing_of_the_error(
        gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("secret internal detail /var/lib/faxgate")

    def broken_blocking(*args: Any, **kwargs: Any) -> list[str]:
        raise RuntimeError("secret internal detail /var/lib/faxgate")

    monkeypatch.setattr("gateway.intake.commit.create_submissions", broken)
    monkeypatch.setattr("gateway.intake.commit.create_submissions_blocking", broken_blocking)
    reply = await transaction(gateway.port, "clinic@example.com", ["5551234@fax.localhost"], simple_mail())
    assert reply.data is not None and reply.data[0] == 451
    assert "secret" not in reply.data[1] and "RuntimeError" not in reply.data[1]


async def test_an_unexpected_error_in_a_hook_reaches_the_client_as_a_bare_451(
        gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise KeyError("secret-key-name")

    monkeypatch.setattr(gateway.listener.handler.numbers, "resolve", broken)
    reply = await transaction(gateway.port, "clinic@example.com", ["5551234@fax.localhost"], simple_mail())
    assert reply.rcpt[0][0] == 451
    assert "secret" not in reply.rcpt[0][1] and "KeyError" not in reply.rcpt[0][1]


async def test_embedded_defaults_accept_local_submission_to_the_simulated_line_only(tmp_path: Any) -> None:
    from gateway.config import default_config
    from tests.support.net import free_port

    config = default_config(tmp_path / "data")
    config.smtp.listen = ("127.0.0.1", free_port())
    gateway = await start_listener(config)
    try:
        port = gateway.port
        local = await transaction(port, "me@example.com", ["5550201@fax.localhost"], simple_mail())
        assert local.data is not None and local.data[0] == 250
        remote = await transaction(port, "me@example.com", ["5550201@fax.localhost"], simple_mail(),
                                   source="127.0.0.2")
        assert remote.rcpt[0][0] == 530
    finally:
        await gateway.stop()


async def test_a_mail_the_reader_trips_over_is_refused_for_good_without_details(
        gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise ValueError("secret parser state")

    monkeypatch.setattr("gateway.intake.smtp.parse_fax_mail", broken)
    reply = await transaction(gateway.port, "clinic@example.com", ["5551234@fax.localhost"], simple_mail())
    assert reply.data is not None and reply.data[0] == 554
    assert "could not be read" in reply.data[1] and "secret" not in reply.data[1]


async def test_a_blocked_outgoing_queue_defers_new_mail(gateway: Gateway) -> None:
    import time

    from gateway.storage.jobs import set_queue_state

    async with gateway.db.transaction() as conn:
        await set_queue_state(conn, {"paused": False, "blocked": True}, time.time())
    reply = await transaction(gateway.port, "clinic@example.com", ["5551234@fax.localhost"], simple_mail())
    assert reply.rcpt[0][0] == 450 and "not accepting new faxes" in reply.rcpt[0][1]
    assert await gateway.submissions() == []


async def test_bounces_and_automatic_replies_are_not_faxed(gateway: Gateway) -> None:
    def null_sender() -> tuple[int, bytes]:
        with smtplib.SMTP("127.0.0.1", gateway.port, timeout=30) as client:
            client.ehlo()
            assert client.docmd("MAIL FROM:<>")[0] == 250
            return client.docmd("RCPT TO:<5551234@fax.localhost>")

    code, text = await asyncio.to_thread(null_sender)
    assert code == 550 and b"null sender" in text
    vacation = simple_mail(subject="Out of office", Auto_Submitted="auto-replied")
    reply = await transaction(gateway.port, "someone@example.com", ["5551234@fax.localhost"], vacation)
    assert reply.data is not None and reply.data[0] == 554 and "Auto-Submitted" in reply.data[1]
    assert await gateway.submissions() == []
