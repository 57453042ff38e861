"""`faxgate sources`: each intake source of the running server with its state, reason, failures and next try
(through the API: the state lives in the server, so there is no --offline)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import click

from gateway.cli import emit
from gateway.cli_remote import Target, server_options
from gateway.textsafe import safe_text

if TYPE_CHECKING:
    from gateway.client import AsyncFaxServer


def _line(row: dict[str, Any]) -> str:
    """One source for people: name, state, backend and folder, failures, the reason and when it tries again."""
    retry = ""
    if row["retry_at"]:
        retry = f" (next try in {max(0.0, row['retry_at'] - time.time()):.0f} s)"
    where = f"{row['backend']}:{row['folder']}" if row["backend"] else ""
    return (f"{row['name']:<20} {row['state']:<12} {where:<20} failures={row['failures']:<3} "
            f"{safe_text(row['reason'], 300)}{retry}").rstrip()


@click.command()
@server_options(None)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def sources(target: Target, as_json: bool) -> None:
    """Intake sources (polled mailboxes) and their state: ready, or retrying with the reason."""
    async def fetch(server: AsyncFaxServer) -> list[dict[str, Any]]:
        return [source.model_dump() for source in await server.get_intake_sources()]

    rows = target.call(fetch)
    emit(rows, as_json, "\n".join(_line(row) for row in rows) or "no intake source reports a state")
