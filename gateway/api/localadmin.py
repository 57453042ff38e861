"""The local administrator credential: a token with every right, kept in the data folder for the CLI on this machine.

Made at the first start of `faxgate serve` (and again if its token was revoked or the store replaced), written
0600 in the 0700 data folder, so only the service user (who can read the database anyway) can use it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.enums import AccessRights
from gateway.storage import tokens

ADMIN_TOKEN_FILE = "admin-token"  # noqa: S105 - a file name, not a secret
ALL_RIGHTS = AccessRights(0x7FF)
ADMIN_TOKEN_PREFIX = "local-admin."  # noqa: S105 - a name prefix, not a secret


def admin_token_path(data_dir: Path) -> Path:
    """Where this node keeps its local administrator token."""
    return data_dir / ADMIN_TOKEN_FILE


def admin_token_name(node_id: str) -> str:
    """One token per node, so nodes sharing a store each keep their own."""
    return ADMIN_TOKEN_PREFIX + re.sub(r"[^A-Za-z0-9_.@-]", "_", node_id)[:52]


def read_admin_token(data_dir: Path) -> str | None:
    """The token in the file, or None when there is none or this user may not read it."""
    try:
        return admin_token_path(data_dir).read_text(encoding="ascii").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


async def ensure_admin_token(conn: AsyncConnection, data_dir: Path, node_id: str) -> str | None:
    """Keep the file's token if the store still knows it, else make a new one; the new secret when one was made."""
    existing = read_admin_token(data_dir)
    if existing is not None and await tokens.find_token(conn, existing) is not None:
        return None
    name = admin_token_name(node_id)
    await tokens.revoke_token(conn, name)
    secret = await tokens.create_token(conn, name, ALL_RIGHTS)
    path = admin_token_path(data_dir)
    temporary = path.with_name(f".{ADMIN_TOKEN_FILE}.{os.getpid()}")
    with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="ascii") as out:
        out.write(secret + "\n")
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)
    return secret
