"""`faxgate submissions list|show` (through the API, or the store with --offline, as HylaFAX's faxstat reads the
spool) and `faxgate hash-password`."""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Any

import click

from gateway.api.models import SubmissionInfo
from gateway.api.submissions import submission_model
from gateway.cli import emit
from gateway.cli_remote import Target, server_options
from gateway.storage import Database
from gateway.storage.submissions import get_submission, list_submissions
from gateway.textsafe import safe_text

if TYPE_CHECKING:
    from gateway.client import AsyncFaxServer

STATES = ("received", "rendering", "queued", "failed")


@click.group()
def submissions() -> None:
    """Inspect submissions (what senders handed in)."""


@submissions.command("list")
@server_options("reading submissions when the server is down")
@click.option("--state", default=None, type=click.Choice(STATES), help="Only submissions in this state.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 500),
              help="At most this many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_command(target: Target, state: str | None, limit: int, as_json: bool) -> None:
    """List submissions, newest first (through the API: all with QUERY_JOBS, else the token's own)."""
    if target.offline:
        async def work(db: Database) -> list[SubmissionInfo]:
            async with db.transaction() as conn:
                return [submission_model(item) for item in await list_submissions(conn, state, limit)]

        found = target.with_db(work)
    else:
        async def fetch(server: AsyncFaxServer) -> list[SubmissionInfo]:
            return await server.folders.outgoing_queue.get_submissions(state, limit)

        found = target.call(fetch)
    rows = [item.model_dump() for item in found]
    emit(rows, as_json, "\n".join(f"{r['id']}  {r['state']:<9} {r['source']:<5} {safe_text(r['subject'], 80)}"
                                  for r in rows) or "no submissions")


@submissions.command("show")
@server_options("reading submissions when the server is down")
@click.argument("submission_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show_command(target: Target, submission_id: str, as_json: bool) -> None:
    """Show one submission."""
    if target.offline:
        async def work(db: Database) -> SubmissionInfo | None:
            async with db.transaction() as conn:
                found = await get_submission(conn, submission_id)
            return submission_model(found) if found else None

        shown = target.with_db(work)
    else:
        from gateway.client import FaxApiError

        async def fetch(server: AsyncFaxServer) -> SubmissionInfo | None:
            try:
                return await server.folders.outgoing_queue.get_submission(submission_id)
            except FaxApiError as exc:
                if exc.status in (404, 422):  # 422: not even the form of a submission id
                    return None
                raise

        shown = target.call(fetch)
    if shown is None:
        raise click.ClickException(f"no submission {safe_text(submission_id, 40)}")
    row: dict[str, Any] = shown.model_dump()
    emit(row, as_json, "\n".join(f"{key}: {safe_text(value, 300)}" for key, value in row.items()))


@click.command("hash-password")
def hash_password() -> None:
    """Read a password and print the hash to put in security.users[].password_hash."""
    from gateway.passwords import hash_password as make_hash

    password = getpass.getpass("Password: ")
    if password != getpass.getpass("Again: "):
        raise click.ClickException("the two passwords differ")
    click.echo(make_hash(password))
