"""The real-mail corpus (tests/fixtures/mail/corpus, origins and licences in its MANIFEST.json): every message
through a real SMTP session, then through the submission worker's render path; each outcome is the recorded one
(refused with its code and reason words, or accepted with its page count)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gateway.storage import get_blob
from tests.intake.conftest import FIXTURES, GatewayFactory, transaction
from tests.intake.pages import render_stored

CORPUS = FIXTURES / "corpus"
MANIFEST: list[dict[str, Any]] = json.loads((CORPUS / "MANIFEST.json").read_text())["messages"]


def test_the_manifest_names_every_file_with_origin_and_licence() -> None:
    assert len(MANIFEST) >= 40
    assert sorted(entry["file"] for entry in MANIFEST) == sorted(
        path.name for path in CORPUS.iterdir() if path.suffix == ".eml")
    for entry in MANIFEST:
        assert entry["repository"] and entry["path"] and entry["licence"] and entry["expect"]


async def test_the_whole_corpus_through_smtp_and_the_render_path(start_gateway: GatewayFactory,
                                                                 tmp_path: Path) -> None:
    from gateway.render import RenderPool

    gateway = await start_gateway(cover_page=False, body="page")
    outcomes: dict[str, str] = {}
    accepted: dict[str, str] = {}
    for entry in MANIFEST:
        raw = (CORPUS / entry["file"]).read_bytes()
        reply = await transaction(gateway.port, "corpus@example.com", ["5550100@fax.localhost"], raw)
        assert reply.data is not None
        code, text = reply.data
        if code == 250:
            accepted[reply.queued_id] = entry["file"]
        else:
            outcomes[entry["file"]] = f"refused {code}: {text}"
    async with RenderPool(workers=1, workdir=tmp_path) as pool:
        rendered = await render_stored(gateway.db, gateway.config, pool)
    for submission_id, name in accepted.items():
        result = rendered[submission_id]
        outcomes[name] = (f"pages {result.job_pages}" if result.state == "queued"
                          else f"failed: {result.reason}")
        assert result.state != "queued" or result.job_pages == len(result.pages)
    stored = await gateway.submissions()
    assert len(stored) == len(accepted)
    async with gateway.db.transaction() as conn:  # what was accepted is stored as sent
        for submission in stored:
            assert submission.raw_blob_id is not None and await get_blob(conn, submission.raw_blob_id)
    mismatches = []
    for entry in MANIFEST:
        expected, got = entry["expect"], outcomes[entry["file"]]
        if expected.startswith("pages "):
            ok = got == expected
        else:  # "refused 554: words" or "failed: words": the code and the reason's words
            kind, _, words = expected.partition(": ")
            ok = got.startswith(kind) and words in got
        if not ok:
            mismatches.append(f"{entry['file']}: expected {expected!r}, got {got!r}")
    assert not mismatches, "\n".join(mismatches)
