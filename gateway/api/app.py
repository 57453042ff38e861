"""The Starlette application served by uvicorn inside faxgate's own event loop."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

if TYPE_CHECKING:
    from gateway.server import FaxServer


def create_app(server: FaxServer) -> Starlette:
    """Routes bound to one running server."""

    async def health(request: Request) -> JSONResponse:
        """Liveness plus a round trip to the store, so a wedged database shows as unhealthy."""
        try:
            async with server.db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            database = "ok"
        except Exception:
            database = "unavailable"
        status = 200 if database == "ok" else 503
        return JSONResponse(
            {"status": "ok" if status == 200 else "degraded", "node": server.node_id, "database": database},
            status_code=status,
        )

    return Starlette(routes=[Route("/health", health)])
