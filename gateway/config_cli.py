"""`faxgate config effective`: the configuration in force and where each value came from (default, file, store),
as the server has it (through the API), or as the config file and the store make it (--offline)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from gateway.api.config import effective_config
from gateway.api.settings_models import EffectiveConfig
from gateway.cli import emit
from gateway.cli_remote import Target, server_options
from gateway.config.runtime import RuntimeConfig
from gateway.storage import Database
from gateway.textsafe import safe_text

if TYPE_CHECKING:
    from gateway.client import AsyncFaxServer


@click.group()
def config() -> None:
    """The server configuration: the TOML file, with the values set through the API over it."""


@config.command("effective")
@server_options("reading the configuration file and the store when the server is down")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--source", type=click.Choice(["default", "file", "store"]), multiple=True,
              help="Only values from this source (repeatable).")
def effective(target: Target, as_json: bool, source: tuple[str, ...]) -> None:
    """Print every value in force and its source: default, the TOML file, or the store (set through the API)."""
    if target.offline:
        async def read(db: Database) -> EffectiveConfig:
            runtime = RuntimeConfig(target.config, from_file=target.config_path is not None)
            await runtime.load(db)
            return effective_config(runtime)

        found = target.with_db(read)
    else:
        async def fetch(server: AsyncFaxServer) -> EffectiveConfig:
            return await server.get_effective_config()

        found = target.call(fetch)
    values = [item for item in found.values if not source or item.source in source]
    lines = []
    for item in values:
        where: str = item.source
        if item.source == "store" and item.updated_at is not None:
            when = datetime.fromtimestamp(item.updated_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            where = f"store, {safe_text(item.updated_by or 'unknown', 64)}, {when}"
        lines.append(f"{item.path} = {json.dumps(item.value)}  [{where}]")
    for area, problem in sorted(found.problems.items()):
        lines.append(f"# stored values of {area} are not applied: {safe_text(problem, 300)}")
    emit({"values": [item.model_dump() for item in values], "problems": found.problems}, as_json, "\n".join(lines))
