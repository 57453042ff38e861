"""`faxgate token create|list|revoke`: API tokens, through the server's API; --offline writes the store directly
(for the first token before the server ever ran)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from gateway.api.models import TokenInfo
from gateway.cli import emit
from gateway.cli_remote import Target, server_options
from gateway.config.security import RIGHT_NAMES, rights_from_names
from gateway.enums import AccessRights
from gateway.storage import Database
from gateway.storage import tokens as store

if TYPE_CHECKING:
    from gateway.client import AsyncFaxServer

json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def _names(rights: AccessRights) -> list[str]:
    return [name for name, right in RIGHT_NAMES.items() if right & rights]


@click.group()
def token() -> None:
    """API tokens: each is a principal with Windows access rights."""


@token.command("create")
@server_options("the first token, before the server ever ran")
@click.option("--name", required=True, help="Who or what the token is for; jobs it submits carry this name.")
@click.option("--rights", required=True, help=f"Comma-separated: {', '.join(RIGHT_NAMES)}.")
@json_option
def create(target: Target, name: str, rights: str, as_json: bool) -> None:
    """Create a token and print it once: only its hash is stored."""
    wanted = [part.strip().lower() for part in rights.split(",") if part.strip()]
    unknown = [part for part in wanted if part not in RIGHT_NAMES]
    if unknown or not wanted:
        raise click.BadParameter(f"unknown right {unknown[0]!r}; known: {', '.join(RIGHT_NAMES)}" if unknown
                                 else "name at least one right", param_hint="--rights")
    mask = rights_from_names(wanted)
    if target.offline:
        async def work(db: Database) -> str:
            async with db.transaction() as conn:
                return await store.create_token(conn, name, mask)

        try:
            secret = target.with_db(work)
        except store.TokenError as exc:
            raise click.ClickException(str(exc)) from None
    else:
        async def remote(server: AsyncFaxServer) -> str:
            return (await server.create_token(name, _names(mask))).token

        secret = target.call(remote)
    emit({"name": name, "rights": _names(mask), "token": secret}, as_json, secret)
    if not as_json:
        click.echo(f"token {name!r} created with {', '.join(_names(mask))}; it is shown only this once", err=True)


@token.command("list")
@server_options("listing tokens when the server is down")
@json_option
def list_command(target: Target, as_json: bool) -> None:
    """List tokens by name with their rights (never the secrets)."""
    if target.offline:
        async def work(db: Database) -> list[TokenInfo]:
            async with db.transaction() as conn:
                return [TokenInfo(name=t.name, rights=_names(t.rights), created_at=t.created_at)
                        for t in await store.list_tokens(conn)]

        found = target.with_db(work)
    else:
        async def remote(server: AsyncFaxServer) -> list[TokenInfo]:
            return await server.list_tokens()

        found = target.call(remote)
    emit([t.model_dump() for t in found], as_json, "\n".join(
        f"{t.name:<24} {datetime.fromtimestamp(t.created_at, UTC):%Y-%m-%d %H:%M}  {','.join(t.rights)}"
        for t in found) or "no tokens")


@token.command("revoke")
@server_options("revoking a token when the server is down")
@click.argument("name")
@json_option
def revoke(target: Target, name: str, as_json: bool) -> None:
    """Revoke a token: the next request that presents it is refused, on every node."""
    if target.offline:
        async def work(db: Database) -> bool:
            async with db.transaction() as conn:
                return await store.revoke_token(conn, name)

        done = target.with_db(work)
    else:
        from gateway.client import FaxApiError

        async def remote(server: AsyncFaxServer) -> bool:
            try:
                await server.revoke_token(name)
            except FaxApiError as exc:
                if exc.status == 404:
                    return False
                raise
            return True

        done = target.call(remote)
    emit({"name": name, "revoked": done}, as_json, f"token {name!r} revoked" if done else f"no token {name!r}")
    if not done:
        sys.exit(1)
