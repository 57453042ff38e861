"""The first start of a server nobody can sign in to yet: one API token with every right, shown once."""

from __future__ import annotations

import os

from gateway.config import FaxgateConfig
from gateway.enums import AccessRights
from gateway.filemodes import PRIVATE_UMASK, private_data_dir
from gateway.storage import Database
from gateway.storage.tokens import create_token, list_tokens

FIRST_TOKEN_NAME = "console-admin"  # noqa: S105 - the token's name, not its secret
ALL_RIGHTS = AccessRights(sum(AccessRights))


async def first_start_token(config: FaxgateConfig) -> str | None:
    """A new all-rights token when the store has no token and the configuration no user; else None.

    Run before the server starts (it migrates the store), so the time it takes is not spent before the server
    listens for SIGTERM."""
    if config.security.users:
        return None
    previous = os.umask(PRIVATE_UMASK)  # the store's files are made private, as FaxServer.start makes them
    private_data_dir(config.server.data_dir)
    db = Database(config.database_url)
    try:
        await db.migrate()
        async with db.transaction() as conn:
            if await list_tokens(conn):
                return None
            return await create_token(conn, FIRST_TOKEN_NAME, ALL_RIGHTS)
    finally:
        await db.close()
        os.umask(previous)


def console_url(address: str) -> str:
    """The console's URL for an HTTP listen address ("0.0.0.0:8025" is reached on 127.0.0.1)."""
    host, _, port = address.rpartition(":")
    host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(host, f"[{host}]" if ":" in host else host)  # noqa: S104
    return f"http://{host}:{port}/console/"
