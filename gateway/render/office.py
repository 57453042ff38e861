"""Office documents to PDF through one persistent headless LibreOffice per worker process.

LibreOffice is optional: without it, Office documents get a plain "needs LibreOffice" error. With the UNO
Python module (Debian: python3-uno) a listener stays up and converts in a fraction of a second; without it
each document costs a `soffice --convert-to pdf` start (about a second).
"""

from __future__ import annotations

import atexit
import io
import json
import os
import select
import shutil
import subprocess
import tempfile
import threading
import zipfile
from pathlib import Path

from gateway.render.errors import RenderError, RenderErrorCode

_BRIDGE = Path(__file__).with_name("office_bridge.py")
_UNO_PYTHONS = ("/usr/bin/python3", "/usr/lib/libreoffice/program/python")
_STARTUP_TIMEOUT_S = 90.0

# LibreOffice settings for every profile it runs with: linked pictures, OLE objects and sheets are never fetched
# (links never updated, links from untrusted documents blocked) and macros never run. The worker has no
# network either; these also keep file:// links from drawing the server's own files onto a fax.
_LOCKED_DOWN = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="BlockUntrustedRefererLinks"
 oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="MacroSecurityLevel"
 oor:op="fuse"><value>3</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="DisableMacrosExecution"
 oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Writer/Content/Update"><prop oor:name="Link"
 oor:op="fuse"><value>2</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Content/Update"><prop oor:name="Link"
 oor:op="fuse"><value>2</value></prop></item>
</oor:items>
"""


def locked_down_profile(profile: Path) -> Path:
    """A LibreOffice user profile folder whose settings block linked content; returns it."""
    settings = profile / "user" / "registrymodifications.xcu"
    if not settings.exists():
        settings.parent.mkdir(parents=True, exist_ok=True)
        settings.write_text(_LOCKED_DOWN, encoding="utf-8")
    return profile


def check_expansion(data: bytes, limit_bytes: int) -> None:
    """Refuse an Office file (a zip archive) that unpacks to more than `limit_bytes`: a zip bomb."""
    if not data.startswith(b"PK"):
        return
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return  # not a zip after all: LibreOffice decides
    if unpacked > limit_bytes:
        raise RenderError(
            RenderErrorCode.INPUT_TOO_LARGE,
            f"The Office document unpacks to {unpacked / 1048576:.0f} MiB; at most {limit_bytes / 1048576:.0f} MiB "
            "can be faxed.",
        )


def find_soffice() -> str | None:
    """The soffice binary, from FAXGATE_SOFFICE or PATH."""
    configured = os.environ.get("FAXGATE_SOFFICE")
    if configured:
        return configured if Path(configured).exists() else None
    return shutil.which("soffice") or shutil.which("libreoffice")


def _find_uno_python() -> str | None:
    """A Python interpreter that can import uno (LibreOffice's bridge), or None."""
    candidates = [os.environ.get("FAXGATE_UNO_PYTHON", ""), *_UNO_PYTHONS]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            probe = subprocess.run([candidate, "-c", "import uno"], capture_output=True, timeout=30, check=False)
            if probe.returncode == 0:
                return candidate
    return None


def unavailable() -> RenderError:
    """The error for Office documents on a server without LibreOffice."""
    return RenderError(
        RenderErrorCode.OFFICE_UNAVAILABLE,
        "Office documents need LibreOffice, which is not installed on this fax server; "
        "send the document as PDF instead.",
    )


class OfficeConverter:
    """Converts Office files to PDF, keeping LibreOffice running between documents."""

    def __init__(self, soffice: str, uno_python: str | None, timeout_s: float) -> None:
        self.soffice = soffice
        self.uno_python = uno_python
        self.timeout_s = timeout_s
        self._workdir = Path(tempfile.mkdtemp(prefix="faxgate-office-"))
        self._bridge: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def convert(self, data: bytes, suffix: str) -> bytes:
        """The document as PDF bytes."""
        with self._lock, tempfile.TemporaryDirectory(dir=self._workdir) as scratch:
            source = Path(scratch) / f"document.{suffix}"
            source.write_bytes(data)
            target = Path(scratch) / "document.pdf"
            if self.uno_python:
                self._convert_with_bridge(source, target)
            else:
                self._convert_with_command(source, scratch)
            if not target.exists() or target.stat().st_size == 0:
                raise RenderError(RenderErrorCode.OFFICE_FAILED, "LibreOffice could not convert the document.")
            return target.read_bytes()

    def _convert_with_bridge(self, source: Path, target: Path) -> None:
        """Ask the persistent listener; restart it once if it died."""
        for attempt in range(2):
            bridge = self._ensure_bridge()
            try:
                reply = self._ask(bridge, {"in": str(source), "out": str(target)}, self.timeout_s)
            except (OSError, TimeoutError, ValueError):
                self.close()
                if attempt:
                    raise RenderError(
                        RenderErrorCode.OFFICE_FAILED, "LibreOffice stopped while converting the document."
                    ) from None
                continue
            if reply.get("crashed"):
                self.close()
                raise RenderError(
                    RenderErrorCode.OFFICE_FAILED,
                    "LibreOffice stopped while converting the document: it is damaged or needs more memory than "
                    "this fax server allows for one document.",
                )
            if not reply.get("ok"):
                raise RenderError(
                    RenderErrorCode.OFFICE_FAILED,
                    "LibreOffice could not convert the document (it may be damaged or password protected).",
                )
            return

    def _ensure_bridge(self) -> subprocess.Popen[str]:
        """Start the bridge and its soffice if they are not running."""
        if self._bridge is not None and self._bridge.poll() is None:
            return self._bridge
        assert self.uno_python is not None
        pipe = f"faxgate_{os.getpid()}_{id(self)}"
        profile = locked_down_profile(self._workdir / "profile")
        # Same process group as this worker: when the pool kills the group, LibreOffice goes with it.
        bridge = subprocess.Popen(
            [self.uno_python, str(_BRIDGE), self.soffice, pipe, str(profile)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self._bridge = bridge
        try:
            self._read_reply(bridge, _STARTUP_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as exc:
            self.close()
            raise RenderError(RenderErrorCode.OFFICE_FAILED, "LibreOffice did not start on this server.") from exc
        return bridge

    def _ask(self, bridge: subprocess.Popen[str], request: dict[str, str], timeout_s: float) -> dict[str, object]:
        """Send one request line and wait for the answer line."""
        assert bridge.stdin is not None
        bridge.stdin.write(json.dumps(request) + "\n")
        bridge.stdin.flush()
        return self._read_reply(bridge, timeout_s)

    @staticmethod
    def _read_reply(bridge: subprocess.Popen[str], timeout_s: float) -> dict[str, object]:
        """One JSON line from the bridge within the timeout."""
        assert bridge.stdout is not None
        ready, _, _ = select.select([bridge.stdout], [], [], timeout_s)
        if not ready:
            raise TimeoutError("LibreOffice did not answer in time")
        line = bridge.stdout.readline()
        if not line:
            raise OSError("LibreOffice bridge exited")
        reply: dict[str, object] = json.loads(line)
        return reply

    def _convert_with_command(self, source: Path, outdir: str) -> None:
        """One soffice process per document, with a profile kept between documents."""
        profile = locked_down_profile(self._workdir / "profile").as_uri()
        try:
            subprocess.run(
                [self.soffice, "--headless", "--norestore", f"-env:UserInstallation={profile}",
                 "--convert-to", "pdf", "--outdir", outdir, str(source)],
                capture_output=True, timeout=self.timeout_s, check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise RenderError(
                RenderErrorCode.OFFICE_FAILED, "LibreOffice took too long to convert the document."
            ) from exc

    def close(self) -> None:
        """Stop the bridge (which stops soffice)."""
        bridge, self._bridge = self._bridge, None
        if bridge is None:
            return
        try:
            if bridge.stdin is not None:
                bridge.stdin.close()
            bridge.wait(timeout=15)
        except (OSError, subprocess.TimeoutExpired):
            bridge.kill()
            bridge.wait()


_converter: OfficeConverter | None = None
_converter_lock = threading.Lock()


def office_converter(timeout_s: float) -> OfficeConverter:
    """This process's converter, created on first use; raises the 'needs LibreOffice' error without it."""
    global _converter
    with _converter_lock:
        if _converter is None:
            soffice = find_soffice()
            if soffice is None:
                raise unavailable()
            _converter = OfficeConverter(soffice, _find_uno_python(), timeout_s)
            atexit.register(_shutdown)
        return _converter


def _shutdown() -> None:
    """Stop LibreOffice when the worker exits."""
    if _converter is not None:
        _converter.close()
        shutil.rmtree(_converter._workdir, ignore_errors=True)


def convert_office(data: bytes, suffix: str, timeout_s: float) -> bytes:
    """An Office document as PDF bytes."""
    return office_converter(timeout_s).convert(data, suffix)
