"""The cover's From row names who sent the fax: the mail's display name and address, else the configured user's."""

from __future__ import annotations

from gateway.config import parse_config
from gateway.intake.mime import parse_fax_mail
from gateway.model import Submission
from gateway.queue.worker import cover_sender


def _submission(principal: str, envelope_from: str) -> Submission:
    return Submission(id="s1", created_at=0.0, source="smtp", principal=principal, envelope_from=envelope_from,
                      recipients=[], subject="", state="received", reason="", raw_blob_id=None,
                      document_blob_id=None, pages=0)


def test_the_cover_sender_comes_from_the_mail_then_the_user_then_the_envelope() -> None:
    config = parse_config({"security": {"users": [
        {"name": "frontdesk", "display_name": "Front Desk, Clinic Example", "email": "desk@clinic.example"}]}})
    named = parse_fax_mail(b"From: Dr. Ada Lovelace <ada@clinic.example>\r\nSubject: x\r\n\r\nhello\r\n", config)
    assert cover_sender(config.security, _submission("frontdesk", "desk@clinic.example"), named) == (
        "Dr. Ada Lovelace", "ada@clinic.example")
    bare = parse_fax_mail(b"From: ada@clinic.example\r\nSubject: x\r\n\r\nhello\r\n", config)
    assert cover_sender(config.security, _submission("frontdesk", "desk@clinic.example"), bare) == (
        "Front Desk, Clinic Example", "ada@clinic.example")
    assert cover_sender(config.security, _submission("network 127.0.0.1/32", "ada@clinic.example"), bare) == (
        "", "ada@clinic.example")
    headless = parse_fax_mail(b"Subject: x\r\n\r\nhello\r\n", config)
    assert cover_sender(config.security, _submission("network 127.0.0.1/32", "scanner@clinic.example"),
                        headless) == ("", "scanner@clinic.example")
