"""The web console: static ES modules and CSS served by faxgate itself (no build step, nothing fetched from
elsewhere at run time); every figure it shows comes from /api/v1 and the event stream, with the caller's rights."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
PATH = "/console/"
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
                                "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
                                "form-action 'self'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


def mount(app: FastAPI) -> None:
    """/ and /console lead to the console page; its files are under /console/static/."""

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        return RedirectResponse(PATH)

    @app.get("/console", include_in_schema=False)
    async def bare() -> Response:
        return RedirectResponse(PATH)

    @app.get(PATH, include_in_schema=False)
    async def page() -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html", headers=SECURITY_HEADERS)

    app.mount(PATH + "static", StaticFiles(directory=STATIC), name="console-static")
