"""The application served by uvicorn inside faxgate's own event loop: /health, /metrics, the FaxServer API under
/api/v1, and the web console under /console/."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text
from starlette.requests import Request

from gateway import __version__, console, metrics
from gateway.api import console_events_shim, incoming, outgoing, preview, routing, session, simulation, system
from gateway.api.models import API_VERSION
from gateway.api.security import ApiError
from gateway.intake.auth import Authority

if TYPE_CHECKING:
    from gateway.server import FaxServer

PREFIX = f"/api/{API_VERSION}"
CONSOLE_HEADER = "x-faxgate-console"
"""Sent by the web console, so a 401 carries no Basic challenge (browsers would pop up a password box)."""


def create_app(server: FaxServer) -> FastAPI:
    """Routes bound to one running server."""
    app = FastAPI(title="faxgate", version=__version__, openapi_url=f"{PREFIX}/openapi.json",
                  docs_url=f"{PREFIX}/docs", redoc_url=None,
                  description="The Windows FaxServer object over HTTP: folders, devices, activity, extension data.")
    app.state.fax_server = server
    app.state.authority = Authority(server.config.security)

    @app.exception_handler(ApiError)
    async def refused(request: Request, exc: ApiError) -> JSONResponse:
        challenge = exc.status == 401 and CONSOLE_HEADER not in request.headers  # no browser password box
        headers = {"WWW-Authenticate": 'Bearer, Basic realm="faxgate"'} if challenge else None
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

    @app.get("/metrics", include_in_schema=False)
    async def scrape() -> Response:
        """Prometheus text format; the store's figures are read now, so every node answers the same."""
        async with server.db.transaction() as conn:
            figures = await metrics.read_figures(conn)
        return Response(metrics.exposition(figures), media_type=metrics.CONTENT_TYPE)

    api = APIRouter(prefix=PREFIX)
    api.include_router(system.router)
    api.include_router(outgoing.router)
    api.include_router(preview.router)
    api.include_router(incoming.router)
    api.include_router(routing.router)
    api.include_router(simulation.router)
    api.include_router(session.router)
    api.include_router(console_events_shim.router)  # TEMPORARY: replaced by h-eventsapi's /events at integration
    app.include_router(api)
    console.mount(app)
    return app
