"""The application served by uvicorn inside faxgate's own event loop: /health, and the FaxServer API under /api/v1."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.requests import Request

from gateway import __version__
from gateway.api import events, incoming, outgoing, system
from gateway.api.models import API_VERSION
from gateway.api.security import ApiError
from gateway.intake.auth import Authority

if TYPE_CHECKING:
    from gateway.server import FaxServer

PREFIX = f"/api/{API_VERSION}"


def create_app(server: FaxServer) -> FastAPI:
    """Routes bound to one running server."""
    app = FastAPI(title="faxgate", version=__version__, openapi_url=f"{PREFIX}/openapi.json",
                  docs_url=f"{PREFIX}/docs", redoc_url=None,
                  description="The Windows FaxServer object over HTTP: folders, devices, activity, extension data.")
    app.state.fax_server = server
    app.state.authority = Authority(server.config.security)
    app.state.event_streams = events.StreamRegistry()

    @app.exception_handler(ApiError)
    async def refused(request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Bearer, Basic realm="faxgate"'} if exc.status == 401 else None
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    @app.get("/health", include_in_schema=False)
    async def health() -> JSONResponse:
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

    api = APIRouter(prefix=PREFIX)
    api.include_router(system.router)
    api.include_router(outgoing.router)
    api.include_router(incoming.router)
    api.include_router(events.router)
    app.include_router(api)
    return app
