"""Every query about API tokens: the secret is shown once at creation; only its hash is kept and looked up."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.enums import AccessRights
from gateway.storage.schema import api_tokens, server_state

SECRET_PREFIX = "fgt_"  # noqa: S105 - a marker that makes leaked tokens easy to grep for, not a secret
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


class TokenError(Exception):
    """A token that cannot be created or revoked; the message says why in plain words."""


@dataclass(frozen=True)
class TokenRecord:
    """A stored token: its name and rights (never the secret)."""

    name: str
    rights: AccessRights
    created_at: float


def token_hash(token: str) -> str:
    """SHA-256 of the secret: tokens are 256 random bits, so a fast hash is enough and lookups stay one index read."""
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(conn: AsyncConnection, name: str, rights: AccessRights) -> str:
    """Store a new token under ``name``; returns the secret, which nothing can show again."""
    if not NAME_PATTERN.match(name):
        raise TokenError("a token name is 1 to 64 letters, digits, '_', '.', '@' or '-'")
    if (await conn.execute(select(api_tokens.c.name).where(api_tokens.c.name == name))).first():
        raise TokenError(f"a token named {name!r} exists already; revoke it first or choose another name")
    token = SECRET_PREFIX + secrets.token_urlsafe(32)
    await conn.execute(insert(api_tokens).values(name=name, token_hash=token_hash(token), rights=int(rights),
                                                 created_at=time.time()))
    return token


async def find_token(conn: AsyncConnection, token: str) -> TokenRecord | None:
    """The token's record, or None for an unknown or revoked token."""
    row = (await conn.execute(select(api_tokens).where(api_tokens.c.token_hash == token_hash(token)))).first()
    return TokenRecord(row.name, AccessRights(row.rights), row.created_at) if row else None


async def list_tokens(conn: AsyncConnection) -> list[TokenRecord]:
    """Every live token, by name."""
    rows = await conn.execute(select(api_tokens).order_by(api_tokens.c.name))
    return [TokenRecord(row.name, AccessRights(row.rights), row.created_at) for row in rows]


async def revoke_token(conn: AsyncConnection, name: str) -> bool:
    """Delete a token; the next request that presents it is refused. False if there was none by that name."""
    result = await conn.execute(delete(api_tokens).where(api_tokens.c.name == name))
    return bool(result.rowcount)


async def token_by_name(conn: AsyncConnection, name: str) -> TokenRecord | None:
    """A live token's record by name (a console session signed in with it), or None once it is revoked."""
    row = (await conn.execute(select(api_tokens).where(api_tokens.c.name == name))).first()
    return TokenRecord(row.name, AccessRights(row.rights), row.created_at) if row else None


async def shared_secret(conn: AsyncConnection, key: str, now: float) -> bytes:
    """A random key kept in server_state, the same for every node on the store (made by the first that asks)."""
    for _ in range(2):
        row = (await conn.execute(select(server_state.c.value).where(server_state.c.key == key))).first()
        if row is not None:
            return bytes.fromhex(str(row.value["hex"]))
        try:
            async with conn.begin_nested():
                await conn.execute(insert(server_state).values(key=key, value={"hex": secrets.token_hex(32)},
                                                               updated_at=now))
        except IntegrityError:
            continue
    raise TokenError(f"could not create the shared secret {key!r}")
