"""API tokens over HTTP: list (QUERY_CONFIG), create and revoke (MANAGE_CONFIG), so `faxgate token` needs no
database access; a token is never given rights its creator lacks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from gateway.api.localadmin import ADMIN_TOKEN_PREFIX
from gateway.api.models import NewToken, Problem, TokenInfo, TokenRequest
from gateway.api.security import REFUSALS, ApiError, denied, require, right_names
from gateway.config.security import rights_from_names
from gateway.enums import AccessRights
from gateway.intake.auth import Principal
from gateway.storage import tokens as store

if TYPE_CHECKING:
    from gateway.server import FaxServer

Reader = Annotated[Principal, Depends(require(AccessRights.QUERY_CONFIG, "listing API tokens"))]
Manager = Annotated[Principal, Depends(require(AccessRights.MANAGE_CONFIG, "managing API tokens"))]
TokenName = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")]
router = APIRouter(prefix="/tokens", tags=["security"], responses=REFUSALS)


def _server(request: Request) -> FaxServer:
    server: FaxServer = request.app.state.fax_server
    return server


@router.get("", response_model=list[TokenInfo], summary="API tokens")
async def list_tokens(request: Request, _: Reader) -> list[TokenInfo]:
    """Every live token by name with its rights (never the secrets)."""
    async with _server(request).db.transaction() as conn:
        found = await store.list_tokens(conn)
    return [TokenInfo(name=t.name, rights=right_names(t.rights), created_at=t.created_at) for t in found]


@router.post("", response_model=NewToken, status_code=201, summary="Create an API token",
             responses={400: {"model": Problem}, 409: {"model": Problem}})
async def create_token(request: Request, principal: Manager, wanted: TokenRequest) -> NewToken:
    """A new token; its secret is in this answer only, and only its hash is stored. Names starting "local-admin."
    are the nodes' own (409): one made here could not be revoked over the API."""
    if wanted.name.startswith(ADMIN_TOKEN_PREFIX):
        raise ApiError(409, f"token names starting {ADMIN_TOKEN_PREFIX!r} are reserved for the nodes' local "
                            "administrator tokens")
    rights = rights_from_names(list(wanted.rights))
    beyond = rights & ~principal.rights
    if beyond:
        first = next(right for right in AccessRights if right & beyond)
        raise denied(first, "giving a token a right its creator lacks")
    async with _server(request).db.transaction() as conn:
        try:
            secret = await store.create_token(conn, wanted.name, rights)
        except store.TokenError as exc:
            raise ApiError(409, str(exc)) from None
        record = await store.find_token(conn, secret)
    assert record is not None
    return NewToken(name=wanted.name, rights=right_names(rights), created_at=record.created_at, token=secret)


@router.delete("/{name}", status_code=204, response_class=Response, summary="Revoke an API token",
               responses={404: {"model": Problem}, 409: {"model": Problem}})
async def revoke_token(request: Request, _: Manager, name: TokenName) -> Response:
    """The next request that presents the token is refused, on every node; a node's local administrator token
    is the server's own (made again at its start) and is revoked only offline."""
    if name.startswith(ADMIN_TOKEN_PREFIX):
        raise ApiError(409, f"{name!r} is a node's local administrator token; revoke it with "
                            "`faxgate token revoke --offline` on that node")
    async with _server(request).db.transaction() as conn:
        done = await store.revoke_token(conn, name)
    if not done:
        raise ApiError(404, f"there is no token {name!r}")
    return Response(status_code=204)
