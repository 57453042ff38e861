"""Hostile remote identifiers cannot escape the folder, forge mail headers, or break a log line."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from gateway.config.sections import LoggingSection
from gateway.logs import setup_logging
from gateway.storage import Database
from routing.router import RoutingService
from tests.routing.conftest import Sink, commit_fax, make_config, tiff_bytes

EVIL = {
    "caller_id": "../../../../etc/passwd\x00",
    "caller_name": "Mallory\r\nBcc: victim@example.test\r\nX-Evil: 1",
    "tsid": "\x1b[31mRED\x1b[0m/../" + "T" * 1000,
    "did": "100/../../root",
    "subaddress": "..\\..\\windows\n",
}


def faxes_outside(root: Path, folder: Path) -> list[Path]:
    """Fax files anywhere under root but the folder (the test's own TIFF and the incoming archive aside)."""
    return [p for p in root.rglob("*") if p.is_file() and folder not in p.parents
            and p.suffix in (".pdf", ".tif") and "archive" not in p.parts and not p.name.startswith("rx-")]


async def test_hostile_identifiers_stay_inside_the_folder_headers_and_log_lines(
    tmp_path: Path, db: Database, smtp_sink: Sink
) -> None:
    stream = io.StringIO()
    setup_logging(LoggingSection(), stream)
    logging.getLogger("faxgate").setLevel(logging.DEBUG)
    folder = tmp_path / "box" / "faxes"
    template = "{tsid}-{caller_id}-{caller_name}-{did}-{subaddress}-{sender}"
    config = make_config(tmp_path, smtp_sink.port, {"rules": [{
        "name": "all",
        "folder": {"path": str(folder), "name": template, "format": "both"},
        "email": {"to": ["desk@example.test"], "subject": "Fax " + template, "body": "From " + template},
    }]})
    job_id = await commit_fax(db, tiff_bytes(tmp_path), caller_id=EVIL["caller_id"],
                              caller_name=EVIL["caller_name"], tsid=EVIL["tsid"], did=EVIL["did"],
                              subaddress=EVIL["subaddress"])
    await RoutingService(config, db).run_once()

    # Nothing outside the folder (the test's own TIFF and the incoming archive aside).
    written = sorted(folder.iterdir())
    assert [p.suffix for p in written] == [".pdf", ".tif"]
    for path in written:
        assert path.parent == folder
        assert len(path.name.encode()) <= 255
        assert ".." not in path.name and "/" not in path.name and "\\" not in path.name
        assert all(ch.isalnum() or ch in "._+-" for ch in path.name), path.name
    assert faxes_outside(tmp_path, folder) == []

    # One message, to the configured recipient only; no injected header survived.
    assert len(smtp_sink.messages) == 1
    envelope, message = smtp_sink.messages[0]
    assert envelope.rcpt_tos == ["desk@example.test"]
    assert message["Bcc"] is None and message["X-Evil"] is None
    subject = str(message["Subject"])
    assert "\r" not in subject and "\n" not in subject and "\x1b" not in subject
    assert len(subject) <= 200
    assert isinstance(envelope.content, bytes)
    raw_headers = envelope.content.split(b"\r\n\r\n", 1)[0]
    assert all(not line.lower().startswith((b"bcc:", b"x-evil:")) for line in raw_headers.split(b"\r\n"))
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "\x1b" not in text and "\x00" not in text
    assert text.count("\n") == 1  # the template's line, nothing the caller added

    # Every log line is one printable line of bounded length.
    lines = stream.getvalue().splitlines()
    assert any("routing.delivered" in line for line in lines)
    for line in lines:
        assert "\x1b" not in line and "\x00" not in line and "\r" not in line
        assert len(line) < 2000
    assert job_id == 1
