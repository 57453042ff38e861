"""Who is calling the API and what they may do: a Bearer token from the store, a configured user over Basic, or
the console's session cookie (gateway/api/session.py).

Tokens are looked up in the store on every request (no cache), so a revoked token stops working at once.
Every route asks for the Windows access right it needs; a refusal names that right.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBasic, HTTPBasicCredentials, HTTPBearer

from gateway.api.models import Problem
from gateway.enums import AccessRights
from gateway.intake.auth import Authority, Principal, token_principal
from gateway.storage.tokens import find_token

bearer = HTTPBearer(auto_error=False, description="An API token from `faxgate token create`")
basic = HTTPBasic(auto_error=False, realm="faxgate", description="A [security] user and its password")
REFUSALS: dict[int | str, dict[str, Any]] = {401: {"model": Problem}, 403: {"model": Problem}}


class ApiError(Exception):
    """A refusal with a status, plain words and, for 403, the missing right."""

    def __init__(self, status: int, detail: str, missing_right: AccessRights | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.missing_right = missing_right

    def body(self) -> dict[str, Any]:
        """The JSON body (a Problem)."""
        name = right_name(self.missing_right) if self.missing_right is not None else None
        return Problem(detail=self.detail, missing_right=name).model_dump()


def right_name(right: AccessRights) -> str:
    """The name [security] uses for a right ("query_jobs")."""
    return str(right.name).lower()


def right_names(rights: AccessRights) -> list[str]:
    """Each right in a mask, by name, in Windows order."""
    return [right_name(right) for right in AccessRights if right & rights]


def denied(right: AccessRights, doing: str) -> ApiError:
    """403 naming the right that ``doing`` needs."""
    return ApiError(403, f"{doing} needs the {right.name} access right (far{right.name})", right)


async def current_principal(
    request: Request,
    token: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    login: Annotated[HTTPBasicCredentials | None, Depends(basic)],
) -> Principal:
    """The caller, or 401."""
    if token is not None:
        return await token_holder(request.app, token.credentials)
    if login is not None:
        return await user_login(request.app, login.username, login.password)
    from gateway.api.session import session_principal  # the console's cookie; imported here as it uses this module

    session = await session_principal(request)
    if session is not None:
        return session[0]
    raise ApiError(401, "authenticate with a Bearer token or HTTP Basic")


async def token_holder(app: FastAPI, secret: str) -> Principal:
    """The principal of an API token, or 401."""
    async with app.state.fax_server.db.transaction() as conn:
        record = await find_token(conn, secret)
    if record is None:
        raise ApiError(401, "the token is unknown or was revoked")
    return token_principal(record.name, record.rights)


async def user_login(app: FastAPI, username: str, password: str) -> Principal:
    """The principal of a [security] user, or 401."""
    authority: Authority = app.state.authority
    principal = await authority.login(username, password)
    if principal is None:
        raise ApiError(401, "wrong user name or password")
    return principal


async def header_principal(app: FastAPI, authorization: str | None) -> Principal:
    """The caller named by an Authorization header (for WebSocket routes, which the HTTP schemes do not serve)."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return await token_holder(app, value.strip())
    if scheme.lower() == "basic" and value.strip():
        try:
            username, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise ApiError(401, "the Basic credentials are not base64 of user:password") from None
        return await user_login(app, username, password)
    raise ApiError(401, "authenticate with a Bearer token or HTTP Basic")


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require(right: AccessRights, doing: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets a request through only with ``right``."""

    async def check(principal: CurrentPrincipal) -> Principal:
        if not principal.rights & right:
            raise denied(right, doing)
        return principal

    return check
