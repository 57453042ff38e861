"""`faxgate token create|list|revoke`: API tokens, on the store directly (the server need not be running)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from gateway.cli import config_from_option, config_option, emit, with_db
from gateway.config.security import RIGHT_NAMES, rights_from_names
from gateway.enums import AccessRights
from gateway.storage import Database
from gateway.storage import tokens as store

json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def _names(rights: AccessRights) -> list[str]:
    return [name for name, right in RIGHT_NAMES.items() if right & rights]


@click.group()
def token() -> None:
    """API tokens: each is a principal with Windows access rights."""


@token.command("create")
@config_option
@click.option("--name", required=True, help="Who or what the token is for; jobs it submits carry this name.")
@click.option("--rights", required=True, help=f"Comma-separated: {', '.join(RIGHT_NAMES)}.")
@json_option
def create(config_path: Path | None, name: str, rights: str, as_json: bool) -> None:
    """Create a token and print it once: only its hash is stored."""
    wanted = [part.strip().lower() for part in rights.split(",") if part.strip()]
    unknown = [part for part in wanted if part not in RIGHT_NAMES]
    if unknown or not wanted:
        raise click.BadParameter(f"unknown right {unknown[0]!r}; known: {', '.join(RIGHT_NAMES)}" if unknown
                                 else "name at least one right", param_hint="--rights")
    mask = rights_from_names(wanted)
    config = config_from_option(config_path)

    async def work(db: Database) -> str:
        async with db.transaction() as conn:
            return await store.create_token(conn, name, mask)

    try:
        secret = with_db(config, work)
    except store.TokenError as exc:
        raise click.ClickException(str(exc)) from None
    emit({"name": name, "rights": _names(mask), "token": secret}, as_json, secret)
    if not as_json:
        click.echo(f"token {name!r} created with {', '.join(_names(mask))}; it is shown only this once", err=True)


@token.command("list")
@config_option
@json_option
def list_command(config_path: Path | None, as_json: bool) -> None:
    """List tokens by name with their rights (never the secrets)."""
    config = config_from_option(config_path)

    async def work(db: Database) -> list[store.TokenRecord]:
        async with db.transaction() as conn:
            return await store.list_tokens(conn)

    found = with_db(config, work)
    rows = [{"name": t.name, "rights": _names(t.rights), "created_at": t.created_at} for t in found]
    emit(rows, as_json, "\n".join(
        f"{t.name:<24} {datetime.fromtimestamp(t.created_at, UTC):%Y-%m-%d %H:%M}  {','.join(_names(t.rights))}"
        for t in found) or "no tokens")


@token.command("revoke")
@config_option
@click.argument("name")
@json_option
def revoke(config_path: Path | None, name: str, as_json: bool) -> None:
    """Revoke a token: the next request that presents it is refused, on every node."""
    config = config_from_option(config_path)

    async def work(db: Database) -> bool:
        async with db.transaction() as conn:
            return await store.revoke_token(conn, name)

    done = with_db(config, work)
    emit({"name": name, "revoked": done}, as_json, f"token {name!r} revoked" if done else f"no token {name!r}")
    if not done:
        sys.exit(1)
