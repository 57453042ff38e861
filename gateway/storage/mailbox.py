"""Every query about mail taken from polled mailboxes: recorded in the transaction that stores its submission."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.storage.schema import mailbox_items, server_state


@dataclass(frozen=True)
class MailboxItem:
    """One mail as recorded: what became of it and where it is to go."""

    id: int
    mailbox: str
    message_key: str
    outcome: str
    """"submitted" (a submission was stored) or "refused" (the sender is told why)."""
    reason: str
    submission_id: str | None
    target_folder: str
    bounced: bool
    moved: bool
    claimed_by: str
    """The node that recorded it: it moves the mail; another node only once claimed_until has passed."""
    claimed_until: float

    def held_by_other(self, node_id: str, now: float) -> bool:
        """Another node recorded this mail moments ago and is still moving it (leave it to that node)."""
        return not self.moved and self.claimed_by != node_id and self.claimed_until > now


def _item(row: Any) -> MailboxItem:
    return MailboxItem(row.id, row.mailbox, row.message_key, row.outcome, row.reason, row.submission_id,
                       row.target_folder, bool(row.bounced), bool(row.moved), row.claimed_by, row.claimed_until)


async def get_item(conn: AsyncConnection, mailbox: str, message_key: str) -> MailboxItem | None:
    """The record of a mail already taken from this mailbox, or None."""
    row = (await conn.execute(select(mailbox_items).where(
        mailbox_items.c.mailbox == mailbox, mailbox_items.c.message_key == message_key))).first()
    return _item(row) if row else None


async def record_item(conn: AsyncConnection, *, mailbox: str, message_key: str, item_id: str, outcome: str,
                      target_folder: str, node_id: str, lease_s: float, submission_id: str | None = None,
                      reason: str = "", bounced: bool = False) -> None:
    """Record a mail before it is moved (in the transaction that stores its submission, if any), claimed by
    `node_id` for `lease_s`: a second insert of the same mail (another node polling the same mailbox) fails."""
    now = time.time()
    await conn.execute(insert(mailbox_items).values(
        mailbox=mailbox, message_key=message_key, item_id=item_id, outcome=outcome, reason=reason,
        submission_id=submission_id, target_folder=target_folder, bounced=bounced, moved=False,
        claimed_by=node_id, claimed_until=now + lease_s, created_at=now, updated_at=now))


async def mark_item(conn: AsyncConnection, item_id: int, **values: bool) -> None:
    """Note that the sender was told (bounced) or the mail left the polled folder (moved)."""
    await conn.execute(update(mailbox_items).where(mailbox_items.c.id == item_id)
                       .values(updated_at=time.time(), **values))


async def list_items(conn: AsyncConnection, mailbox: str) -> list[MailboxItem]:
    """Every recorded mail of a mailbox, oldest first."""
    rows = await conn.execute(select(mailbox_items).where(mailbox_items.c.mailbox == mailbox)
                              .order_by(mailbox_items.c.id))
    return [_item(row) for row in rows]


SYNC_PREFIX = "mailbox.sync:"
"""server_state key of a mailbox's sync state (the mailbox name is at most 40 characters: the key fits 64)."""


async def read_sync_state(conn: AsyncConnection, mailbox: str) -> dict[str, Any]:
    """Where the mailbox's incremental listing stood (per folder: Graph deltaLink or EWS SyncState, and the
    ids still in the folder), as the backend last handed it over; {} when it never had one."""
    row = (await conn.execute(select(server_state.c.value).where(server_state.c.key == SYNC_PREFIX + mailbox))
           ).first()
    return dict(row.value) if row else {}


async def write_sync_state(conn: AsyncConnection, mailbox: str, value: dict[str, Any]) -> None:
    """Store the mailbox's sync state, replacing the last (a restart resumes from it)."""
    key, now = SYNC_PREFIX + mailbox, time.time()
    result = await conn.execute(update(server_state).where(server_state.c.key == key)
                                .values(value=value, updated_at=now))
    if result.rowcount == 0:
        try:
            async with conn.begin_nested():
                await conn.execute(insert(server_state).values(key=key, value=value, updated_at=now))
        except IntegrityError:  # another node polling the same mailbox stored one first: this one is newer
            await conn.execute(update(server_state).where(server_state.c.key == key)
                               .values(value=value, updated_at=now))
