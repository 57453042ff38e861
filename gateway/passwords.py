"""Password hashes for config files: scrypt from the standard library, self-describing and salted."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

_N, _R, _P = 2**14, 8, 1
UNUSABLE_HASH = "$".join(["scrypt", str(_N), str(_R), str(_P), base64.b64encode(bytes(16)).decode(),
                          base64.b64encode(bytes(32)).decode()])
"""A well-formed hash no password matches: checked for unknown users, so they cost the same scrypt as real ones."""


def hash_password(password: str) -> str:
    """A string like "scrypt$16384$8$1$<salt>$<hash>" that check_password verifies."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "$".join(["scrypt", str(_N), str(_R), str(_P),
                     base64.b64encode(salt).decode(), base64.b64encode(digest).decode()])


def check_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored``; False for a wrong password or a malformed hash."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        computed = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r),
                                  p=int(p), dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(computed, base64.b64decode(digest))
