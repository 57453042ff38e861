"""`faxgate config effective`: the configuration in force and where each value came from (default, file, store)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import click

from gateway.cli import config_from_option, config_option, emit, with_db
from gateway.config.runtime import Effective, RuntimeConfig
from gateway.storage import Database


@click.group()
def config() -> None:
    """The server configuration: the TOML file, with the values set through the API over it."""


@config.command("effective")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--source", type=click.Choice(["default", "file", "store"]), multiple=True,
              help="Only values from this source (repeatable).")
def effective(config_path: Path | None, as_json: bool, source: tuple[str, ...]) -> None:
    """Print every value in force and its source: default, the TOML file, or the store (set through the API)."""
    loaded = config_from_option(config_path)
    runtime = RuntimeConfig(loaded, from_file=config_path is not None)

    async def read(db: Database) -> list[Effective]:
        await runtime.load(db)
        return runtime.effective()

    values = [item for item in with_db(loaded, read) if not source or item.source in source]
    lines = []
    for item in values:
        where = item.source
        if item.source == "store" and item.updated_at is not None:
            when = datetime.fromtimestamp(item.updated_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            where = f"store, {item.updated_by or 'unknown'}, {when}"
        lines.append(f"{item.path} = {json.dumps(item.value)}  [{where}]")
    for area, problem in sorted(runtime.problems.items()):
        lines.append(f"# stored values of {area} are not applied: {problem}")
    emit({"values": [asdict(item) for item in values], "problems": runtime.problems}, as_json, "\n".join(lines))
