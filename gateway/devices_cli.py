"""`faxgate devices list|show`: each line's lifecycle state as its node last stored it (through the API, or the
store with --offline)."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import click

from gateway.cli import emit
from gateway.cli_remote import Target, server_options
from gateway.storage import Database
from gateway.storage.devices import list_devices

if TYPE_CHECKING:
    from gateway.client import AsyncFaxServer

ROW_KEYS = ("name", "provider", "state", "reason", "node_id", "status", "updated_at", "retry_at", "failures")


@click.group()
def devices() -> None:
    """Fax lines and their state (ready, sending, retrying with the reason, ...)."""


def _rows(target: Target) -> list[dict[str, Any]]:
    """Every configured line with its stored state; a line no node has started yet shows "unknown"."""
    if not target.offline:
        async def fetch(server: AsyncFaxServer) -> list[dict[str, Any]]:
            return [{"name": d.name, "provider": d.provider, "state": d.state, "reason": d.status_text,
                     "node_id": d.node_id, "status": d.status, "updated_at": d.updated_at, "retry_at": d.retry_at,
                     "failures": d.failures} for d in await server.get_devices()]

        return target.call(fetch)
    config = target.config

    async def work(db: Database) -> list[dict[str, Any]]:
        async with db.transaction() as conn:
            stored = await list_devices(conn)
        rows = []
        for section in config.devices:
            record = stored.pop(section.name, None)
            row: dict[str, Any] = {"name": section.name, "provider": section.provider, "state": "unknown",
                                   "reason": "", "node_id": "", "status": None, "updated_at": None,
                                   "retry_at": None, "failures": 0}
            if record is not None:
                row.update(asdict(record))
                row["reason"] = row.pop("status_text")
            rows.append({key: row[key] for key in ROW_KEYS})
        for record in stored.values():  # lines another node's config has
            row = asdict(record)
            row["reason"] = row.pop("status_text")
            rows.append({key: row[key] for key in ROW_KEYS})
        return rows

    return target.with_db(work)


def _line(row: dict[str, Any]) -> str:
    retry = ""
    if row["retry_at"]:
        retry = f" (next try in {max(0.0, row['retry_at'] - time.time()):.0f} s)"
    return f"{row['name']:<12} {row['state']:<12} {row['provider']:<10} {row['node_id']:<20} {row['reason']}{retry}"


@devices.command("list")
@server_options("reading line states when the server is down")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_command(target: Target, as_json: bool) -> None:
    """List every line with its state and the reason."""
    rows = _rows(target)
    emit(rows, as_json, "\n".join(_line(row) for row in rows) or "no devices")


@devices.command("show")
@server_options("reading line states when the server is down")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show_command(target: Target, name: str, as_json: bool) -> None:
    """Show one line."""
    found = [row for row in _rows(target) if row["name"] == name]
    if not found:
        raise click.ClickException(f"no device {name!r}")
    emit(found[0], as_json, "\n".join(f"{key}: {value}" for key, value in found[0].items()))
