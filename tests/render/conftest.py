"""Fixtures for the rendering tests."""

from __future__ import annotations

import http.server
import io
import threading
from collections.abc import Iterator

import pytest
from PIL import Image

from gateway.render.options import RenderOptions


@pytest.fixture
def fine_a4() -> RenderOptions:
    """The default job: A4 at fine resolution."""
    return RenderOptions(resolution="fine", paper="a4")


@pytest.fixture
def canary() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 that serves a black picture and records every request it gets."""
    requests: list[str] = []
    picture = Image.new("L", (300, 200), 0)
    body = io.BytesIO()
    picture.save(body, format="PNG")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write(body.getvalue())

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
