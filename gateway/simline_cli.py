"""`faxgate simline`: modem/simnet's commands plus `call`, which asks the running server's simulated network (the
embedded defaults' lines) to have a remote machine call in, through the HTTP API."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import click
import httpx

from gateway.cli import config_from_option, config_option, with_db
from gateway.enums import AccessRights
from gateway.storage import Database
from gateway.storage.tokens import create_token, revoke_token
from modem.simnet.cli import simline

CALL_RIGHTS = AccessRights.QUERY_CONFIG | AccessRights.MANAGE_CONFIG


@simline.command("call")
@config_option
@click.option("--from", "caller", default="5550100", show_default=True, help="The remote machine that calls.")
@click.option("--to", "to", default="", help="The faxgate line's number (default: the first simulated line).")
@click.option("--pages", default=2, show_default=True, type=click.IntRange(1, 10), help="Demo pages to send.")
@click.option("--did", default="", help="The dialled number (DID) to present.")
@click.option("--url", default="", help="The server's HTTP address (default: [http] listen of the config).")
@click.option("--token", envvar="FAXGATE_TOKEN", default="",
              help="An API token with manage_config; without one, a token is made on the store for this call only.")
def call(config_path: Path | None, caller: str, to: str, pages: int, did: str, url: str, token: str) -> None:
    """Have a simulated remote fax machine call the running `faxgate serve` and send demo pages."""
    config = config_from_option(config_path)
    host, port = config.http.listen
    base = url or f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"  # noqa: S104
    temporary = ""
    if not token:
        temporary = f"simline-call-{secrets.token_hex(4)}"

        async def make(db: Database) -> str:
            async with db.transaction() as conn:
                return await create_token(conn, temporary, CALL_RIGHTS)

        token = with_db(config, make)
    try:
        reply = httpx.post(f"{base}/api/v1/simulation/calls", json={"caller": caller, "to": to, "pages": pages,
                                                                    "did": did},
                           headers={"Authorization": f"Bearer {token}"}, timeout=30)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach the server at {base}: {exc}") from None
    finally:
        if temporary:
            async def revoke(db: Database) -> bool:
                async with db.transaction() as conn:
                    return await revoke_token(conn, temporary)

            with_db(config, revoke)
    if reply.status_code != 202:
        try:
            detail = reply.json().get("detail", reply.text)
        except json.JSONDecodeError:
            detail = reply.text
        raise click.ClickException(f"the server refused the call ({reply.status_code}): {detail}")
    placed = reply.json()
    click.echo(f"{placed['caller']} is calling {placed['to']} with {placed['pages']} page(s); "
               "the fax appears in the inbox (`faxgate inbox list`, the console) when the call ends")
