"""The `faxgate` command. Subcommands of later parts load lazily, so `faxgate --help` stays fast."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from gateway import __version__

if TYPE_CHECKING:
    from gateway.config import FaxgateConfig
    from gateway.storage import Database

T = TypeVar("T")

# name -> "module:attribute" of a click command or group that lives with the code it drives.
LAZY_COMMANDS: dict[str, str] = {
    "render": "gateway.render.cli:render",
    "modem": "modem.cli:modem",
    "simline": "gateway.simline_cli:simline",
    "submissions": "gateway.admin_cli:submissions",
    "devices": "gateway.devices_cli:devices",
    "sources": "gateway.sources_cli:sources",
    "jobs": "gateway.queue.cli:jobs",
    "queue": "gateway.queue.cli:queue",
    "submit": "gateway.queue.cli:submit",
    "route": "routing.cli:route",
    "inbox": "routing.cli:inbox",
    "hash-password": "gateway.admin_cli:hash_password",
    "token": "gateway.api.cli:token",
    "config": "gateway.config_cli:config",
    "events": "gateway.events_cli:events",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Built-in and lazy commands whose modules exist."""
        names = set(super().list_commands(ctx))
        for name, target in LAZY_COMMANDS.items():
            module = target.split(":", 1)[0]
            if importlib.util.find_spec(module.split(".")[0]) is not None and _module_exists(module):
                names.add(name)
        return sorted(names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import a lazy command on first use."""
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in LAZY_COMMANDS:
            return command
        module_name, attribute = LAZY_COMMANDS[cmd_name].split(":", 1)
        if not _module_exists(module_name):
            return None
        loaded = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(loaded, click.Command)
        return loaded


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def emit(data: Any, as_json: bool, text: str | None = None) -> None:
    """Print for programs (--json) or for people."""
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        click.echo(text if text is not None else str(data))


def config_from_option(path: Path | None, data_dir: Path | None = None) -> FaxgateConfig:
    """The config at PATH, or the embedded defaults (with their data folder at data_dir when given); exits 1
    with every problem named."""
    from gateway.config import ConfigError, default_config, load_config

    if path is None:
        return default_config(data_dir)
    try:
        return load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"config error: {problem}", err=True)
        sys.exit(1)


def with_db(config: FaxgateConfig, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run one piece of admin work against the store (migrated first), as the CLI reads the spool directly."""
    from gateway.storage import Database

    async def run() -> T:
        db = Database(config.database_url)
        try:
            await db.migrate()
            return await work(db)
        finally:
            await db.close()

    return asyncio.run(run())


config_option = click.option(
    "--config", "-c", "config_path", type=click.Path(path_type=Path, dir_okay=False),
    envvar="FAXGATE_CONFIG", help="TOML configuration file (default: embedded defaults).",
)


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="faxgate")
def main() -> None:
    """faxgate: an email-to-fax gateway and fax server."""


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def version(as_json: bool) -> None:
    """Print the version."""
    emit({"version": __version__}, as_json, f"faxgate {__version__}")


@main.command("check-config")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def check_config(path: Path, as_json: bool) -> None:
    """Validate a configuration file and report every problem with its key path."""
    from gateway.config import ConfigError, load_config

    try:
        load_config(path)
    except ConfigError as exc:
        emit({"ok": False, "problems": exc.problems}, as_json,
             "\n".join(f"{path}: {problem}" for problem in exc.problems))
        sys.exit(1)
    emit({"ok": True, "problems": []}, as_json, f"{path}: ok")


@main.command()
@config_option
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), help="Override server.data_dir.")
def serve(config_path: Path | None, data_dir: Path | None) -> None:
    """Run the fax server until Ctrl-C or SIGTERM."""
    from gateway.logs import setup_logging
    from gateway.server import FaxServer

    config = config_from_option(config_path, data_dir)
    if data_dir is not None:
        config.server.data_dir = data_dir
    setup_logging(config.logging)

    async def run() -> None:
        from gateway.api.localadmin import admin_token_path
        from gateway.console.firstrun import console_url

        server = FaxServer(config, from_file=config_path is not None)
        server.handle_signals()
        await server.start()
        click.echo(f"faxgate {__version__} serving; data in {config.server.data_dir.resolve()}")
        for name, address in server.listening().items():
            click.echo(f"  {name:<6} listening on {address}")
        if "http" in server.listening():
            click.echo(f"  console {console_url(server.listening()['http'])}")
            if server.admin_token_made:
                click.echo(f"  first start: sign in to the console with the token {server.admin_token_made}\n"
                           f"  (the local administrator token, every right; kept for the CLI in "
                           f"{admin_token_path(config.server.data_dir)}, readable only by this user)")
        sys.stdout.flush()
        await server.run()

    try:
        asyncio.run(run())
    except OSError as exc:
        click.echo(f"faxgate: cannot start: {exc.strerror or exc}", err=True)
        sys.exit(1)
