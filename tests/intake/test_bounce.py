"""Bounces after acceptance reach the sender through a real SMTP smarthost, in plain words, with the original's
headers (the whole original when configured); only senders the gateway authenticated or trusts get one."""

from __future__ import annotations

import email
import ssl
from email import policy
from email.message import EmailMessage
from pathlib import Path

from gateway.intake.bounce import send_bounce, send_queued_notice
from gateway.model import Submission
from gateway.storage.database import get_blob
from tests.fixtures.mail.build import one_page_pdf
from tests.intake.conftest import ALICE_PASSWORD, Gateway, GatewayFactory, Sink, simple_mail, transaction

ALICE = "alice@example.com"


async def _accepted(gateway: Gateway, message: bytes, recipients: list[str],
                    tls: ssl.SSLContext | None = None) -> tuple[Submission, bytes]:
    """The mail accepted from alice (authenticated, so hers is a sender to tell), or from the trusted network."""
    login = {"starttls": tls, "login": ("alice", ALICE_PASSWORD)} if tls is not None else {}
    reply = await transaction(gateway.port, ALICE if tls is not None else "clinic@example.com", recipients,
                              message, **login)
    assert reply.data is not None and reply.data[0] == 250
    return await _stored(gateway)


async def _stored(gateway: Gateway) -> tuple[Submission, bytes]:
    """The one stored submission and its raw mail."""
    [stored] = await gateway.submissions()
    async with gateway.db.transaction() as conn:
        assert stored.raw_blob_id is not None
        raw = await get_blob(conn, stored.raw_blob_id)
    return stored, raw


async def test_bounce_in_plain_words_with_the_original_attached(start_gateway: GatewayFactory, sink: Sink,
                                                                 client_tls: ssl.SSLContext) -> None:
    gateway = await start_gateway(bounce_attach_limit="2MB")
    message = simple_mail(to='"Dr. Meyer" <2015550123@fax.localhost>', subject="Lab results", sender=ALICE)
    stored, raw = await _accepted(gateway, message, ["2015550123@fax.localhost"], client_tls)
    reason = "the attachment 'scan.xyz' is a kind of file that cannot be faxed"
    assert await send_bounce(gateway.config, stored, reason, raw, status="5.6.1")
    [(mail_from, rcpt_tos, data)] = sink.messages
    assert mail_from == "<>" and rcpt_tos == [ALICE]  # null sender: bounces never loop
    bounce = email.message_from_bytes(data, policy=policy.default)
    assert bounce.get_content_type() == "multipart/report"
    assert bounce.get_param("report-type") == "delivery-status"
    assert bounce["Subject"] == "Fax not sent: Lab results"
    assert bounce["Auto-Submitted"] == "auto-replied"
    text, status, original = list(bounce.iter_parts())
    words = text.get_content()
    assert "could not be faxed" in words and reason in words
    assert "Dr. Meyer <+12015550123>" in words and "Nothing was sent" in words
    assert status.get_content_type() == "message/delivery-status"
    status_text = status.as_string()
    assert "Final-Recipient: rfc822; 2015550123@fax.localhost" in status_text
    assert "Status: 5.6.1" in status_text and "Action: failed" in status_text
    assert original.get_content_type() == "message/rfc822"
    assert original.get_content()["Subject"] == "Lab results"


async def test_a_large_original_is_referenced_by_its_headers(start_gateway: GatewayFactory, sink: Sink,
                                                             client_tls: ssl.SSLContext) -> None:
    gateway = await start_gateway(bounce_attach_limit="1KB")
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = ALICE, "5551234@fax.localhost", "Big"
    message.set_content("see attached\n")
    message.add_attachment(one_page_pdf() * 3, maintype="application", subtype="pdf", filename="big.pdf")
    stored, raw = await _accepted(gateway, message.as_bytes(policy=policy.SMTP), ["5551234@fax.localhost"],
                                  client_tls)
    assert await send_bounce(gateway.config, stored, "the number failed", raw)
    bounce = email.message_from_bytes(sink.messages[0][2], policy=policy.default)
    parts = list(bounce.iter_parts())
    assert parts[-1].get_content_type() == "text/rfc822-headers"
    assert "Subject: Big" in parts[-1].get_content()
    assert b"%PDF" not in sink.messages[0][2]


async def test_bounce_for_one_failed_recipient_of_a_broadcast(gateway: Gateway, sink: Sink,
                                                              client_tls: ssl.SSLContext) -> None:
    recipients = ["2015550123@fax.localhost", "2015550124@fax.localhost"]
    stored, raw = await _accepted(gateway, simple_mail(to=", ".join(recipients), sender=ALICE), recipients,
                                  client_tls)
    assert await send_bounce(gateway.config, stored, "the line was busy 12 times",
                             raw, failed=["+12015550124"], partly_sent=True)
    bounce = email.message_from_bytes(sink.messages[0][2], policy=policy.default)
    words = next(iter(bounce.iter_parts())).get_content()
    assert "+12015550124" in words and "+12015550123" not in words
    assert "The other recipients of this mail were sent the fax." in words


async def test_no_bounce_when_turned_off_or_to_the_null_sender(start_gateway: GatewayFactory, sink: Sink,
                                                              client_tls: ssl.SSLContext) -> None:
    gateway = await start_gateway(bounces=False)
    stored, raw = await _accepted(gateway, simple_mail(sender=ALICE), ["5551234@fax.localhost"], client_tls)
    assert await send_bounce(gateway.config, stored, "x", raw)
    assert sink.messages == []


async def test_unreachable_smarthost_reports_false(gateway: Gateway, tmp_path: Path,
                                                   client_tls: ssl.SSLContext) -> None:
    from tests.support.net import free_port

    stored, raw = await _accepted(gateway, simple_mail(sender=ALICE), ["5551234@fax.localhost"], client_tls)
    gateway.config.receipts.smtp_port = free_port()
    assert not await send_bounce(gateway.config, stored, "x", raw)


async def test_optional_queued_notice(start_gateway: GatewayFactory, sink: Sink, client_tls: ssl.SSLContext) -> None:
    gateway = await start_gateway(queued_receipts=True)
    stored, _ = await _accepted(gateway, simple_mail(to='"Front Desk" <2015550123@fax.localhost>', sender=ALICE),
                                ["2015550123@fax.localhost"], client_tls)
    assert await send_queued_notice(gateway.config, stored, 3)
    notice = email.message_from_bytes(sink.messages[0][2], policy=policy.default)
    assert notice["Subject"] == "Fax queued: 3 pages to Front Desk <+12015550123>"


async def test_on_the_embedded_defaults_bounces_and_receipts_land_in_the_local_maildir(tmp_path: Path) -> None:
    import mailbox

    from gateway.config import default_config
    from gateway.queue.receipts import deliver
    from tests.intake.conftest import start_listener
    from tests.support.net import free_port

    config = default_config(tmp_path / "data")
    config.security.trusted_networks[0].allowed_senders = ["clinic@example.com"]  # a sender it vouches for
    assert config.receipts.maildir == tmp_path / "data" / "mail"
    config.smtp.listen = ("127.0.0.1", free_port())
    gateway = await start_listener(config)
    try:
        stored, raw = await _accepted(gateway, simple_mail(subject="Lab results"), ["5550100@fax.localhost"])
        assert await send_bounce(config, stored, "the number 5550101 was busy on every try", raw)
        receipt = EmailMessage()
        receipt["From"], receipt["To"], receipt["Subject"] = "faxgate@localhost", "clinic@example.com", "Fax sent"
        receipt.set_content("Your fax was sent.\n")
        assert await deliver(receipt, config, "clinic@example.com")
    finally:
        await gateway.stop()
    box = mailbox.Maildir(tmp_path / "data" / "mail", create=False)
    by_subject = {message["Subject"]: message for message in box}
    assert set(by_subject) == {"Fax not sent: Lab results", "Fax sent"}
    bounce = by_subject["Fax not sent: Lab results"]
    assert bounce["Return-Path"] == "<>" and bounce["X-Original-To"] == "clinic@example.com"
    assert "the number 5550101 was busy on every try" in bounce.as_string()
    assert by_subject["Fax sent"]["Return-Path"] == "<faxgate@localhost>"


async def test_a_bounce_carries_any_string_a_mail_can_carry(gateway: Gateway, sink: Sink,
                                                            client_tls: ssl.SSLContext) -> None:
    """8-bit bytes that are no text (kept by the SMTP layer as surrogates) in names, reason and subject: the
    bounce still goes out, in plain words, instead of failing on encoding."""
    import dataclasses

    stored, raw = await _accepted(gateway, simple_mail(subject="Befund", sender=ALICE), ["5551234@fax.localhost"],
                                  client_tls)
    odd = dataclasses.replace(stored, subject="Befund f\udcfcr M\udcfcller 镕",
                              recipients=[{**stored.recipients[0], "name": "Dr. M\udcfcller"}])
    assert await send_bounce(gateway.config, odd, "the attachment 'scan\udcff.xyz' cannot be faxed", raw)
    bounce = email.message_from_bytes(sink.messages[0][2], policy=policy.default)
    words = next(iter(bounce.iter_parts())).get_content()
    assert "Why: the attachment 'scan .xyz' cannot be faxed" in words
    assert "Dr. M ller <" in words and "镕" in bounce["Subject"]


async def test_no_backscatter_to_a_mail_from_that_nobody_vouched_for(gateway: Gateway, sink: Sink) -> None:
    """The trusted network accepts any MAIL FROM, so "victim@example.org" may be anyone's: it is not mailed."""
    reply = await transaction(gateway.port, "victim@example.org", ["5551234@fax.localhost"],
                              simple_mail(sender="victim@example.org", body="spam " * 2000))
    assert reply.data is not None and reply.data[0] == 250
    stored, raw = await _stored(gateway)
    assert await send_bounce(gateway.config, stored, "the number was busy", raw)
    assert await send_queued_notice(gateway.config, stored, 1) is True
    assert sink.messages == []


async def test_a_network_that_lists_its_senders_is_bounced_to_with_the_headers_only(
        tmp_path: Path, sink: Sink) -> None:
    from gateway.config import parse_config
    from tests.intake.conftest import start_listener
    from tests.support.net import free_port

    gateway = await start_listener(parse_config({
        "server": {"data_dir": str(tmp_path / "data")},
        "smtp": {"listen": f"127.0.0.1:{free_port()}"},
        "security": {"trusted_networks": [{"network": "127.0.0.1/32", "allowed_senders": ["@clinic.example"]}]},
        "receipts": {"smtp_host": "127.0.0.1", "smtp_port": sink.port, "sender": "faxgate@fax.test"},
    }))
    try:
        reply = await transaction(gateway.port, "dr@clinic.example", ["5551234@fax.localhost"],
                                  simple_mail(sender="dr@clinic.example", subject="Results", body="secret body\n"))
        assert reply.data is not None and reply.data[0] == 250
        stored, raw = await _stored(gateway)
        assert await send_bounce(gateway.config, stored, "the number was busy", raw)
    finally:
        await gateway.stop()
    [(_, rcpt_tos, data)] = sink.messages
    assert rcpt_tos == ["dr@clinic.example"]
    parts = list(email.message_from_bytes(data, policy=policy.default).iter_parts())
    assert parts[-1].get_content_type() == "text/rfc822-headers"
    assert "Subject: Results" in parts[-1].get_content() and b"secret body" not in data
