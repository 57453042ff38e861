"""Persistent LibreOffice converter, run by the system Python that has the `uno` module.

Started by gateway.render.office as a child process; it starts one headless soffice listening on a private
pipe and converts one document per line of JSON on stdin ({"in": path, "out": path}), answering one line of
JSON on stdout. It imports nothing from faxgate, because it runs outside the project's virtualenv.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import uno  # type: ignore[import-not-found, unused-ignore]  # Debian python3-uno: this script runs under the system Python, not the venv

_FILTERS = (
    ("com.sun.star.text.GenericTextDocument", "writer_pdf_Export"),
    ("com.sun.star.sheet.SpreadsheetDocument", "calc_pdf_Export"),
    ("com.sun.star.presentation.PresentationDocument", "impress_pdf_Export"),
    ("com.sun.star.drawing.DrawingDocument", "draw_pdf_Export"),
)


def _property(name: str, value: object) -> Any:
    """A com.sun.star.beans.PropertyValue."""
    prop = uno.createUnoStruct("com.sun.star.beans.PropertyValue")
    prop.Name = name
    prop.Value = value
    return prop


def _connect(pipe: str, deadline: float) -> Any:
    """Connect to the listener, retrying while soffice starts; returns the desktop."""
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
    while True:
        try:
            context = resolver.resolve(f"uno:pipe,name={pipe};urp;StarOffice.ComponentContext")
            return context.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", context)
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _convert(desktop: Any, source: str, target: str) -> None:
    """Load without macros or link updates, export as PDF with the filter for the document's kind."""
    load = (
        _property("Hidden", True),
        _property("ReadOnly", True),
        _property("MacroExecutionMode", 0),
        _property("UpdateDocMode", 0),
    )
    document = desktop.loadComponentFromURL(uno.systemPathToFileUrl(source), "_blank", 0, load)
    if document is None:
        raise RuntimeError("LibreOffice could not open the document")
    try:
        kinds = (name for service, name in _FILTERS if document.supportsService(service))
        export = next(kinds, "writer_pdf_Export")
        document.storeToURL(uno.systemPathToFileUrl(target), (_property("FilterName", export),))
    finally:
        document.close(True)


def _watch_parent(parent: int) -> None:
    """When the render worker dies (even by SIGKILL), kill this bridge and its soffice: their process group."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os.killpg(os.getpgrp(), signal.SIGKILL)


def main() -> int:
    """Serve conversions until stdin closes."""
    soffice, pipe, profile = sys.argv[1], sys.argv[2], sys.argv[3]
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    office = subprocess.Popen(
        [
            soffice, "--headless", "--invisible", "--nologo", "--norestore", "--nodefault", "--nolockcheck",
            f"-env:UserInstallation={Path(profile).as_uri()}",
            f"--accept=pipe,name={pipe};urp;StarOffice.ComponentContext",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    desktop: Any = None
    try:
        desktop = _connect(pipe, time.monotonic() + 60.0)
        print(json.dumps({"ready": True}), flush=True)
        for line in sys.stdin:
            request = json.loads(line)
            try:
                _convert(desktop, request["in"], request["out"])
                print(json.dumps({"ok": True}), flush=True)
            except Exception as exc:
                crashed = office.poll() is not None
                print(json.dumps({"ok": False, "crashed": crashed, "error": str(exc)[:300]}), flush=True)
                if crashed:
                    break
    finally:
        if desktop is not None:
            try:
                desktop.terminate()
            except Exception:
                office.terminate()
        try:
            office.wait(timeout=10)
        except subprocess.TimeoutExpired:
            office.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
