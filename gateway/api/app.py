"""The application served by uvicorn inside faxgate's own event loop: /health, /metrics, the FaxServer API under
/api/v1, and the web console under /console/."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.routing import iter_route_contexts
from sqlalchemy import text
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import compile_path

from gateway import __version__, console, metrics
from gateway.api import (
    archive,
    config,
    devices,
    events,
    incoming,
    intake,
    outgoing,
    preview,
    routing,
    rules,
    session,
    simulation,
    submissions,
    system,
    tokens,
)
from gateway.api.models import API_VERSION
from gateway.api.security import ApiError
from gateway.intake.auth import Authority
from gateway.intake.sources import ReportsStatus

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
    app.state.event_streams = events.StreamRegistry()

    @app.exception_handler(ApiError)
    async def refused(request: Request, exc: ApiError) -> JSONResponse:
        challenge = exc.status == 401 and CONSOLE_HEADER not in request.headers  # no browser password box
        headers = {"WWW-Authenticate": 'Bearer, Basic realm="faxgate"'} if challenge else None
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        """Starlette's errors as a Problem; a 405 names in Allow every method the path has, not only its first
        route's."""
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(app, request))
        return JSONResponse({"detail": exc.detail, "missing_right": None}, status_code=exc.status_code,
                            headers=headers)

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
        sources = [service.status() for service in server.services if isinstance(service, ReportsStatus)]
        return JSONResponse(
            {"status": "ok" if status == 200 else "degraded", "node": server.node_id, "database": database,
             "intake": sources},  # a mailbox that is retrying is shown, not a reason to call the node unhealthy
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
    for module in (config, devices, routing, rules, archive, submissions, tokens, simulation, session, events,
                   intake):
        api.include_router(module.router)
    app.include_router(api)
    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]
    console.mount(app)
    return app


def allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method some route serves at the request's path (the routes of one path are separate objects)."""
    methods: set[str] = set()
    for context in iter_route_contexts(app.routes):
        path = context.path
        if path and compile_path(path)[0].fullmatch(request.url.path):
            methods |= context.methods or set()
    return sorted(methods)


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The generated document, once per app, with what FastAPI cannot say itself: the JSON part of the submit form
    and the links from a listing (or a creation) to the operations on what it returned."""
    if app.openapi_schema is None:
        document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        outgoing.document_submit_form(document)
        document_unreadable_bodies(document)
        add_links(document)
        app.openapi_schema = document
    return app.openapi_schema


UNREADABLE = "The request is malformed: a body that cannot be read as its content type (bytes that are not UTF-8)"


def document_unreadable_bodies(document: dict[str, Any]) -> None:
    """Every operation that takes a body answers 400 (a Problem) when the body cannot even be decoded: the framework
    says so before any model sees it, so no route declares it itself."""
    problem = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for operations in document["paths"].values():
        for operation in operations.values():
            if "requestBody" in operation:
                operation["responses"].setdefault("400", {"description": UNREADABLE, "content": problem})


# (source path, method, status, link parameter, runtime expression, path prefix the targets share)
LINKS = [
    (f"{PREFIX}/outgoing/jobs", "get", "200", "job_id", "$response.body#/jobs/0/id", f"{PREFIX}/outgoing/jobs/{{"),
    (f"{PREFIX}/incoming/jobs", "get", "200", "job_id", "$response.body#/jobs/0/id", f"{PREFIX}/incoming/jobs/{{"),
    (f"{PREFIX}/tokens", "post", "201", "name", "$response.body#/name", f"{PREFIX}/tokens/{{"),
    (f"{PREFIX}/submissions", "get", "200", "submission_id", "$response.body#/0/id", f"{PREFIX}/submissions/{{"),
    (f"{PREFIX}/outgoing/submit", "post", "202", "submission_id", "$response.body#/submission_id",
     f"{PREFIX}/submissions/{{"),
]


def add_links(document: dict[str, Any]) -> None:
    """OpenAPI links, so a client (and schemathesis' stateful tests) can follow an id from one answer to the next."""
    paths: dict[str, dict[str, Any]] = document["paths"]
    for source, method, status, parameter, expression, prefix in LINKS:
        links = paths[source][method]["responses"][status].setdefault("links", {})
        for path, operations in paths.items():
            if not path.startswith(prefix):
                continue
            for operation in operations.values():
                links[operation["operationId"]] = {"operationId": operation["operationId"],
                                                   "parameters": {parameter: expression}}
