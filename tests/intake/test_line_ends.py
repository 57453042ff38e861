"""Line ends as clients really send them: CRLF, bare LF (smtplib.sendmail with bytes) and mixed, each stored as the
sender meant it; DATA ends only at CRLF "." CRLF, so a bare-LF dot line cannot smuggle a second mail."""

from __future__ import annotations

import asyncio
import smtplib
import socket
from email import message_from_bytes
from email.message import EmailMessage

from gateway.intake.mime import parse_fax_mail
from gateway.storage.database import get_blob
from tests.intake.conftest import Gateway, GatewayFactory, report_pdf


def pdf_mail(body: str = "Please fax the attached referral.\n") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Dr. Ada Lovelace <ada@clinic.example>"
    message["To"] = "5551234@fax.localhost"
    message["Subject"] = "Referral"
    message.set_content(body)
    message.add_attachment(report_pdf("Referral"), maintype="application", subtype="pdf", filename="referral.pdf")
    return message


async def stored_raws(gateway: Gateway) -> list[bytes]:
    raws = []
    for submission in await gateway.submissions():
        assert submission.raw_blob_id is not None
        async with gateway.db.transaction() as conn:
            raws.append(await get_blob(conn, submission.raw_blob_id))
    return raws


def sendmail_bytes(port: int, raw: bytes) -> dict[str, tuple[int, bytes]]:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        return client.sendmail("ada@clinic.example", ["5551234@fax.localhost"], raw)


async def test_a_bare_lf_mail_from_smtplib_sendmail_over_64_kb_is_accepted_and_stored_as_sent(
        gateway: Gateway) -> None:
    message = pdf_mail("Please fax this.\n.hidden line that starts with a dot\n..two dots\n")
    raw = message.as_bytes()
    assert b"\r\n" not in raw and len(raw) > 64 * 1024  # bare LF on the wire: what smtplib.sendmail sends for bytes
    refused = await asyncio.to_thread(sendmail_bytes, gateway.port, raw)
    assert refused == {}
    [stored] = await stored_raws(gateway)
    assert stored == raw  # smtplib doubled the leading dots after LF; they are single again
    mail = parse_fax_mail(stored, gateway.config)
    assert [document.filename for document in mail.documents if document.filename] == ["referral.pdf"]
    assert ".hidden line" in mail.body_text and "\n..two dots" in mail.body_text


def attached_pdf(raw: bytes) -> bytes:
    [part] = [part for part in message_from_bytes(raw).walk() if part.get_filename() == "referral.pdf"]
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload


async def test_crlf_mail_from_send_message_and_mixed_line_ends_are_stored_as_sent(gateway: Gateway) -> None:
    message = pdf_mail()
    pdf = attached_pdf(message.as_bytes())

    def send() -> None:
        with smtplib.SMTP("127.0.0.1", gateway.port, timeout=30) as client:
            client.send_message(message)

    await asyncio.to_thread(send)
    [crlf] = await stored_raws(gateway)
    assert crlf.count(b"\n") == crlf.count(b"\r\n") > 1000 and attached_pdf(crlf) == pdf
    head, _, rest = message.as_bytes().partition(b"\n\n")
    mixed = head.replace(b"\n", b"\r\n") + b"\r\n\r\n" + rest  # CRLF headers, bare-LF body
    assert await asyncio.to_thread(sendmail_bytes, gateway.port, mixed) == {}
    stored_mixed = next(raw for raw in await stored_raws(gateway) if raw != crlf)
    assert stored_mixed == mixed and attached_pdf(stored_mixed) == pdf
    for raw in (crlf, stored_mixed):
        assert [d.filename for d in parse_fax_mail(raw, gateway.config).documents if d.filename] == ["referral.pdf"]


def _raw_session(port: int, data: bytes) -> list[bytes]:
    """MAIL, RCPT and DATA by hand over a socket; every reply line the server sent until QUIT."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        stream = sock.makefile("rb")
        replies = [stream.readline()]
        for command in (b"EHLO smuggler.test\r\n", b"MAIL FROM:<ada@clinic.example>\r\n",
                        b"RCPT TO:<5551234@fax.localhost>\r\n", b"DATA\r\n"):
            sock.sendall(command)
            while (line := stream.readline())[3:4] == b"-":
                pass  # the lines of a multi-line reply before its last
            replies.append(line)
        sock.sendall(data + b"QUIT\r\n")
        replies.extend(stream.readlines())
    return replies


async def test_bare_lf_dot_lines_do_not_end_data_so_no_second_mail_is_smuggled(gateway: Gateway) -> None:
    smuggled = (b"MAIL FROM:<ceo@bank.example>\r\nRCPT TO:<5559999@fax.localhost>\r\nDATA\r\n"
                b"Subject: smuggled\r\n\r\nwire the money\r\n")
    data = (b"From: ada@clinic.example\r\nSubject: first\r\n\r\nfirst part\r\n"
            b"\n.\n" + smuggled + b"\n.\r\n" + smuggled + b"last line\r\n.\r\n")
    replies = await asyncio.to_thread(_raw_session, gateway.port, data)
    codes = [line[:3] for line in replies]
    assert codes == [b"220", b"250", b"250", b"250", b"354", b"250", b"221"], replies
    [stored] = await stored_raws(gateway)
    assert stored == data[:-len(b".\r\n")]
    assert [s.recipients[0]["number"] for s in await gateway.submissions()] == ["5551234"]


async def test_a_bare_lf_mail_over_the_size_limit_gets_552(start_gateway: GatewayFactory) -> None:
    gateway = await start_gateway(max_message_size="100KB")
    mail = pdf_mail().as_bytes()
    over, far_over = mail + b"x" * (150 * 1024 - len(mail)), mail * 3  # 1.5x and about 3x the limit

    def send_without_size(raw: bytes) -> tuple[int, bytes]:
        with smtplib.SMTP("127.0.0.1", gateway.port, timeout=30) as client:
            client.ehlo()
            client.mail("ada@clinic.example")  # no SIZE=, so the limit is met in DATA
            client.rcpt("5551234@fax.localhost")
            return client.data(raw)

    code, text = await asyncio.to_thread(send_without_size, over)
    assert code == 552, text
    code, text = await asyncio.to_thread(send_without_size, far_over)  # past twice the limit with no CRLF at all,
    assert code == 500, text  # aiosmtpd's line limit answers first (it bounds what one connection buffers)
    assert await gateway.submissions() == []
