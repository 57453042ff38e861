"""FaxDocument.Submit for callers that hand in files rather than a mail (the CLI and the HTTP API).

The files are wrapped as one mail, so every submission takes the same path to pages as SMTP intake; the
numbers are resolved by the one number policy; the queue's Blocked switch refuses new work for everyone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.config import FaxgateConfig
from gateway.enums import Priority, ScheduleType
from gateway.numbers import NumberPolicy
from gateway.storage import jobs as store
from gateway.storage.submissions import create_submission


class QueueBlocked(Exception):
    """The outgoing queue is blocked: no new faxes are accepted (IFaxOutgoingQueue.Blocked)."""

    def __init__(self) -> None:
        super().__init__("the outgoing queue is blocked: no new faxes are accepted")


@dataclass(frozen=True)
class FileToFax:
    """One body document: its name (for the renderer's type sniffing) and its bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class Recipient:
    """A FaxRecipient as written by the caller: a number and an optional name."""

    number: str
    name: str = ""


def resolve_recipients(policy: NumberPolicy, recipients: Iterable[Recipient],
                       allowed_classes: Iterable[str]) -> list[dict[str, str]]:
    """Recipients in the stored form with E.164 numbers; NumberError (with a reason) for the first bad one."""
    allowed = list(allowed_classes)
    return [{"number": policy.resolve(item.number, allowed).number, "name": item.name, "address": ""}
            for item in recipients]


def files_as_mail(files: Sequence[FileToFax], sender: str, subject: str, *, sender_name: str = "",
                  note: str = "") -> bytes:
    """Files wrapped as one mail; a note becomes the body, which the renderer puts on the cover page."""
    message = EmailMessage()
    message["From"] = formataddr((sender_name, sender)) if sender_name else sender
    message["To"] = "fax@localhost"
    message["Subject"] = subject
    message["Date"] = formatdate()
    message.set_content(note)
    for item in files:
        message.add_attachment(item.data, maintype="application", subtype="octet-stream", filename=item.name)
    return bytes(message)


def submit_options(priority: Priority, schedule: ScheduleType, send_at: float | None, *, receipt: bool,
                   cover: bool) -> dict[str, Any]:
    """The options stored on the submission; the worker takes them instead of reading the mail's."""
    return {"priority": int(priority), "schedule": int(schedule), "send_at": send_at, "receipt": receipt,
            "cover": cover}


async def submit_files(conn: AsyncConnection, config: FaxgateConfig, *, source: str, principal: str,
                       envelope_from: str, recipients: list[dict[str, str]], raw: bytes, subject: str,
                       options: dict[str, Any]) -> str:
    """Commit the submission unless the queue is blocked; returns its id (the broadcast's SubmissionId)."""
    state = await store.get_queue_state(conn)
    if (state["blocked"] if state else config.outbox.blocked):
        raise QueueBlocked()
    return await create_submission(conn, source=source, principal=principal, envelope_from=envelope_from,
                                   recipients=recipients, raw=raw, subject=subject, options=options)
