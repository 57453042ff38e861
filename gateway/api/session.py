"""Console sign-in: a user's password or an API token is checked once, then an HMAC-signed session cookie stands in.

The cookie is HttpOnly and SameSite=Strict and names the principal, not its rights: every request looks the user up
in the configuration or the token in the store again, so a removed user or a revoked token stops at once. A request
that changes something must also echo the session's CSRF value in the X-CSRF-Token header (a form on another site
cannot set headers). The signing key lives in the store, so a cookie works on every node.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import TYPE_CHECKING, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.models import Problem
from gateway.api.security import ApiError, CurrentPrincipal, right_names
from gateway.intake.auth import TOKEN_PRINCIPAL_PREFIX, Authority, Principal, principal_by_name, token_principal
from gateway.storage.tokens import find_token, shared_secret, token_by_name

if TYPE_CHECKING:
    from gateway.server import FaxServer

COOKIE = "faxgate_session"
CSRF_HEADER = "X-CSRF-Token"
LIFETIME_S = 12 * 3600
KEY_NAME = "console_session_key"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
router = APIRouter(prefix="/session", tags=["session"])


class SignIn(BaseModel):
    """A user and password, or an API token."""

    model_config = ConfigDict(strict=True)

    user: str = Field(default="", max_length=320)
    password: str = Field(default="", max_length=1024)
    token: str = Field(default="", max_length=200)


class SessionInfo(BaseModel):
    """Who is signed in, what they may do, and the value to send in X-CSRF-Token."""

    name: str
    kind: Literal["user", "network", "token"]
    display_name: str
    rights: list[str]
    csrf: str
    expires_at: float


async def _key(request: Request) -> bytes:
    cached: bytes | None = getattr(request.app.state, "session_key", None)
    if cached is None:
        server: FaxServer = request.app.state.fax_server
        async with server.db.transaction() as conn:
            cached = await shared_secret(conn, KEY_NAME, time.time())
        request.app.state.session_key = cached
    return cached


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal(key: bytes, payload: dict[str, object]) -> str:
    """payload.signature, both base64url."""
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    return f"{body}.{_b64(hmac.new(key, body.encode(), hashlib.sha256).digest())}"


def unseal(key: bytes, cookie: str, now: float) -> dict[str, object] | None:
    """The payload of an unexpired cookie this store's key signed, else None."""
    body, _, signature = cookie.partition(".")
    try:
        expected = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, signature):
            return None
        payload = json.loads(_unb64(body))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("e"), (int, float)) or payload["e"] < now:
        return None
    return payload


async def session_principal(request: Request) -> tuple[Principal, dict[str, object]] | None:
    """The principal a valid session cookie names (looked up afresh), with the cookie's payload; None without one.

    Raises 403 when a state-changing request lacks the session's CSRF value.
    """
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    payload = unseal(await _key(request), cookie, time.time())
    if payload is None:
        return None
    server: FaxServer = request.app.state.fax_server
    name = str(payload.get("n", ""))
    principal: Principal | None = None
    if payload.get("k") == "user":
        principal = principal_by_name(server.config.security, name)
        if principal is not None and principal.kind != "user":
            principal = None
    elif payload.get("k") == "token":
        async with server.db.transaction() as conn:
            record = await token_by_name(conn, name)
        principal = token_principal(record.name, record.rights) if record else None
    if principal is None:
        return None
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), str(payload.get("x", "")).encode()):
            raise ApiError(403, f"a console request that changes something must send the {CSRF_HEADER} header")
    return principal, payload


def _info(principal: Principal, payload: dict[str, object]) -> SessionInfo:
    expires = payload.get("e", 0.0)
    return SessionInfo(name=principal.name, kind=principal.kind, display_name=principal.display_name or principal.name,
                       rights=right_names(principal.rights), csrf=str(payload.get("x", "")),
                       expires_at=float(expires) if isinstance(expires, (int, float)) else 0.0)


@router.post("", response_model=SessionInfo, summary="Sign in to the console",
             responses={401: {"model": Problem}})
async def sign_in(request: Request, response: Response, form: SignIn) -> SessionInfo:
    """Check a user's password or a token once, and set the session cookie."""
    server: FaxServer = request.app.state.fax_server
    if form.token:
        async with server.db.transaction() as conn:
            record = await find_token(conn, form.token.strip())
        if record is None:
            raise ApiError(401, "the token is unknown or was revoked")
        principal, kind = token_principal(record.name, record.rights), "token"
    else:
        authority: Authority = request.app.state.authority
        found = await authority.login(form.user, form.password) if form.user else None
        if found is None:
            raise ApiError(401, "wrong user name or password")
        principal, kind = found, "user"
    name = principal.name.removeprefix(TOKEN_PRINCIPAL_PREFIX) if kind == "token" else principal.name
    payload: dict[str, object] = {"k": kind, "n": name, "e": time.time() + LIFETIME_S,
                                  "x": secrets.token_urlsafe(24)}
    response.set_cookie(COOKIE, seal(await _key(request), payload), max_age=LIFETIME_S, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https", path="/")
    return _info(principal, payload)


@router.get("", response_model=SessionInfo, summary="The console session", responses={401: {"model": Problem}})
async def get_session(request: Request, principal: CurrentPrincipal) -> SessionInfo:
    """Who the session cookie signs in (401 without one)."""
    found = await session_principal(request)
    if found is None:
        return _info(principal, {"e": 0.0, "x": ""})
    return _info(*found)


@router.delete("", status_code=204, response_class=Response, summary="Sign out")
async def sign_out(request: Request) -> Response:
    """Forget the session cookie (no CSRF check: signing someone out is harmless)."""
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/")
    return response
