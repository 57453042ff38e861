"""Administrator commands that read the store directly, as HylaFAX's faxstat reads the spool."""

from __future__ import annotations

import getpass
from dataclasses import asdict
from pathlib import Path

import click

from gateway.cli import config_from_option, config_option, emit, with_db
from gateway.storage import Database
from gateway.storage.submissions import get_submission, list_submissions


@click.group()
def submissions() -> None:
    """Inspect submissions (what senders handed in)."""


@submissions.command("list")
@config_option
@click.option("--state", default=None, help="Only submissions in this state.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_command(config_path: Path | None, state: str | None, as_json: bool) -> None:
    """List submissions, newest first."""
    config = config_from_option(config_path)

    async def work(db: Database) -> list[dict[str, object]]:
        async with db.transaction() as conn:
            return [asdict(item) for item in await list_submissions(conn, state)]

    rows = with_db(config, work)
    emit(rows, as_json, "\n".join(f"{r['id']}  {r['state']:<9} {r['source']:<5} {r['subject']}" for r in rows))


@submissions.command("show")
@config_option
@click.argument("submission_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show_command(config_path: Path | None, submission_id: str, as_json: bool) -> None:
    """Show one submission."""
    config = config_from_option(config_path)

    async def work(db: Database) -> dict[str, object] | None:
        async with db.transaction() as conn:
            found = await get_submission(conn, submission_id)
            return asdict(found) if found else None

    row = with_db(config, work)
    if row is None:
        raise click.ClickException(f"no submission {submission_id}")
    emit(row, as_json, "\n".join(f"{key}: {value}" for key, value in row.items()))


@click.command("hash-password")
def hash_password() -> None:
    """Read a password and print the hash to put in security.users[].password_hash."""
    from gateway.passwords import hash_password as make_hash

    password = getpass.getpass("Password: ")
    if password != getpass.getpass("Again: "):
        raise click.ClickException("the two passwords differ")
    click.echo(make_hash(password))
