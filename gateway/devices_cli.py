"""`faxgate devices list|show`: each line's lifecycle state as its node last stored it (any node, from the store)."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from gateway.cli import config_from_option, config_option, emit, with_db
from gateway.storage import Database
from gateway.storage.devices import list_devices


@click.group()
def devices() -> None:
    """Fax lines and their state (ready, sending, retrying with the reason, ...)."""


def _rows(config_path: Path | None) -> list[dict[str, Any]]:
    """Every configured line with its stored state; a line no node has started yet shows "unknown"."""
    config = config_from_option(config_path)

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
            rows.append(row)
        for record in stored.values():  # lines another node's config has
            row = asdict(record)
            row["reason"] = row.pop("status_text")
            rows.append(row)
        return rows

    return with_db(config, work)


def _line(row: dict[str, Any]) -> str:
    retry = ""
    if row["retry_at"]:
        retry = f" (next try in {max(0.0, row['retry_at'] - time.time()):.0f} s)"
    return f"{row['name']:<12} {row['state']:<12} {row['provider']:<10} {row['node_id']:<20} {row['reason']}{retry}"


@devices.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_command(config_path: Path | None, as_json: bool) -> None:
    """List every line with its state and the reason."""
    rows = _rows(config_path)
    emit(rows, as_json, "\n".join(_line(row) for row in rows) or "no devices")


@devices.command("show")
@config_option
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show_command(config_path: Path | None, name: str, as_json: bool) -> None:
    """Show one line."""
    found = [row for row in _rows(config_path) if row["name"] == name]
    if not found:
        raise click.ClickException(f"no device {name!r}")
    emit(found[0], as_json, "\n".join(f"{key}: {value}" for key, value in found[0].items()))
