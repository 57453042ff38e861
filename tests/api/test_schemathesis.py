"""The OpenAPI document against the running server, checked by an independent tool: schemathesis, every check, all
its phases (examples, coverage, fuzzing, and the stateful tests that follow the document's links).

Bounded and reproducible: deterministic generation, at most a few examples per operation, one store with jobs and
received faxes to find through the links. Any 5xx, any response the schema does not describe, fails the test with
schemathesis' own report.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from gateway.api.localadmin import read_admin_token
from gateway.client import FaxDocument, FaxRecipient, FaxServer
from gateway.config import load_config
from tests.api.support import pdf_document, store_received_fax
from tests.support.server import ServerProcess, write_config

SETTINGS = Path(__file__).with_name("schemathesis.toml")
EXAMPLES_PER_OPERATION = 10
MIN_LINKS_COVERED = 10
"""19 links are followed with this seed data (3 with two faxes and without the longer stateful settings)."""
RECEIVED_FAXES = 8
"""The coverage phase deletes the lowest ids (1, 2: boundary values) before the stateful phase follows the links
from GET /incoming/jobs; with more faxes stored, some are still there to follow."""


def test_the_openapi_document_holds_against_the_running_server(tmp_path: Path) -> None:
    config = tmp_path / "faxgate.toml"
    _, http_port = write_config(config, tmp_path / "data", extra="[outbox]\npaused = true\n")
    url = f"http://127.0.0.1:{http_port}"
    for _ in range(RECEIVED_FAXES):
        store_received_fax(config, tmp_path)
    with ServerProcess(config, http_port) as server:
        token = read_admin_token(load_config(config).server.data_dir)
        assert token is not None
        with FaxServer.connect(url, token) as client:  # jobs for the links to lead to (they wait: queue paused)
            client.submit(FaxDocument(body=[pdf_document(tmp_path / "letter.pdf")], subject="schemathesis",
                                      recipients=[FaxRecipient("5550100", "Ada"), FaxRecipient("5550104", "Bob")]))
            operations = sum(1 for path in client_paths(url) for _ in path)
        done = subprocess.run(
            [str(Path(sys.executable).with_name("st")), "--config-file", str(SETTINGS), "--no-color", "run",
             f"{url}/api/v1/openapi.json", "--header", f"Authorization: Bearer {token}", "--checks", "all",
             "--max-examples", str(EXAMPLES_PER_OPERATION), "--generation-deterministic", "--workers", "1",
             "--request-timeout", "30", "--output-truncate", "false"],
            capture_output=True, text=True, timeout=600, cwd=tmp_path)
        report = done.stdout + done.stderr
        assert done.returncode == 0, report
        assert server.health()["status"] == "ok"
    assert re.search(rf"Tested: {operations}\b", report), report  # every operation was exercised
    assert "✅ Stateful" in report and "Authentication failed" not in report, report
    covered = re.search(r"API Links:\s+(\d+) covered", report)
    assert covered is not None and int(covered.group(1)) >= MIN_LINKS_COVERED, report  # followed, not only listed


def client_paths(url: str) -> list[list[str]]:
    """The methods of each path the document publishes."""
    import httpx

    document = httpx.get(f"{url}/api/v1/openapi.json", timeout=30).json()
    return [list(methods) for methods in document["paths"].values()]
