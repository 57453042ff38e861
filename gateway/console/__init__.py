"""The web console: static ES modules and CSS served by faxgate itself (no build step, nothing fetched from
elsewhere at run time); every figure it shows comes from /api/v1 and the event stream, with the caller's rights.

The page loads its files from /console/v/<digest>/, a path named after their content: the browser keeps them for good
(no revalidation per module on every load) and a new release, having a new digest, is fetched afresh. The relative
imports between the modules stay inside that path. /console/static/ serves the same files, always revalidated.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

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
IMMUTABLE = "public, max-age=31536000, immutable"


class _Files(StaticFiles):
    """StaticFiles (ETag, Last-Modified, 304) with a Cache-Control of its own."""

    def __init__(self, directory: Path, cache_control: str) -> None:
        super().__init__(directory=directory)
        self.cache_control = cache_control

    async def get_response(self, path: str, scope: Scope) -> Response:
        """The file, told how long the browser may keep it."""
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            response.headers["Cache-Control"] = self.cache_control
        return response


def digest(folder: Path = STATIC) -> str:
    """A short hash of every file's name and bytes: the version in the console's file paths."""
    hashed = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        hashed.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return hashed.hexdigest()[:16]


def mount(app: FastAPI) -> None:
    """/ and /console lead to the console page; its files are under /console/v/<digest>/ (and /console/static/)."""
    version = "v/" + digest()
    page_html = (STATIC / "index.html").read_text(encoding="utf-8").replace('"static/', f'"{version}/')

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        return RedirectResponse(PATH)

    @app.get("/console", include_in_schema=False)
    async def bare() -> Response:
        return RedirectResponse(PATH)

    @app.get(PATH, include_in_schema=False)
    async def page() -> Response:
        return Response(page_html, media_type="text/html", headers=SECURITY_HEADERS)

    app.mount(PATH + version, _Files(STATIC, IMMUTABLE), name="console-files")
    app.mount(PATH + "static", _Files(STATIC, "no-cache"), name="console-static")
