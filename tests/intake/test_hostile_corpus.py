"""The bad-input corpus (tests/fixtures/hostile, expected outcomes in its MANIFEST.json): every mail and every
attached document through one real SMTP listener, then the submission worker and a real render pool, to the
refusal, the bounce or the pages. A normal mail after each batch is still accepted and faxed: nothing else lost."""

from __future__ import annotations

import json
import mimetypes
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import Any

from gateway.render import RenderPool
from gateway.render.sandbox import SandboxLimits
from tests.intake.conftest import GatewayFactory, Sink, simple_mail, transaction
from tests.intake.pages import render_stored

CORPUS = Path(__file__).parent.parent / "fixtures" / "hostile"
MANIFEST: list[dict[str, Any]] = json.loads((CORPUS / "MANIFEST.json").read_text())["cases"]
BATCH = 8
LIMITS = SandboxLimits(memory_bytes=1 << 30, cpu_seconds=10, wall_seconds=12.0)
"""Tighter than the defaults so a hang costs the suite 12 s, not 45."""
_TYPES = {".dat": "application/ms-tnef", ".rtf": "application/rtf", ".fods": "application/vnd.oasis.opendocument"
          ".spreadsheet-flat-xml", ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
          ".doc": "application/msword", ".bmp": "image/bmp"}


def corpus_file(entry: dict[str, Any], scratch: Path) -> bytes:
    """The case's bytes: committed beside the manifest, or built now when large."""
    if not entry.get("generated"):
        return (CORPUS / entry["file"]).read_bytes()
    import runpy

    build = runpy.run_path(str(CORPUS / "build.py"))["build"]
    return bytes(build(scratch, [entry["file"]])[entry["file"]].read_bytes())


def with_attachment(name: str, data: bytes) -> bytes:
    """A plain mail carrying `data` as the one attachment (a winmail.dat for TNEF cases)."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "tester@example.com", "5550100@fax.localhost", name
    message.set_content("Please fax the attachment.\n")
    kind = _TYPES.get(Path(name).suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    filename = "winmail.dat" if name.endswith(".dat") else name
    main, sub = kind.split("/", 1)
    message.add_attachment(data, maintype=main, subtype=sub, filename=filename)
    return message.as_bytes(policy=SMTP_POLICY)


def bounce_text(content: bytes) -> str:
    """The plain-words part of a bounce, decoded."""
    message = message_from_bytes(content, policy=policy.default)
    assert isinstance(message, EmailMessage)
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def test_the_manifest_names_every_committed_file_and_an_outcome() -> None:
    assert len(MANIFEST) >= 60
    committed = sorted(p.name for p in CORPUS.iterdir() if p.is_file() and p.name not in ("MANIFEST.json", "build.py"))
    assert committed == sorted(e["file"] for e in MANIFEST if not e.get("generated") and "file" in e)
    for entry in MANIFEST:
        assert entry["expect"] and entry["why"], entry


def _matches(expected: str, got: str) -> bool:
    """`expected` is one outcome, or several separated by " | " where any is right (a hang is stopped by whichever
    sandbox limit the machine's load lets strike first)."""
    if " | " in expected:
        return any(_matches(one, got) for one in expected.split(" | "))
    if expected.startswith("pages "):
        return got == expected
    kind, _, words = expected.partition(": ")
    return got.startswith(kind) and all(part in got for part in words.split(" ... "))


async def test_every_mail_and_document_gets_its_stated_outcome_and_the_service_stays_up(
        start_gateway: GatewayFactory, sink: Sink, tmp_path: Path) -> None:
    gateway = await start_gateway(cover_page=False, body="page")
    # Bounces go only to senders the gateway vouches for: this network lists the corpus's sender.
    gateway.config.security.trusted_networks[0].allowed_senders = ["corpus@example.com"]
    cases = [entry for entry in MANIFEST if entry["kind"] in ("mail", "attachment")]
    outcomes: dict[str, str] = {}
    accepted: dict[str, str] = {}
    canaries: list[str] = []
    for start in range(0, len(cases), BATCH):
        for entry in cases[start:start + BATCH]:
            data = corpus_file(entry, tmp_path / "built")
            raw = data if entry["kind"] == "mail" else with_attachment(entry["file"], data)
            reply = await transaction(gateway.port, "corpus@example.com", ["5550100@fax.localhost"], raw)
            assert reply.data is not None, (entry["file"], reply)
            code, text = reply.data
            if code == 250:
                accepted[reply.queued_id] = entry["file"]
            else:
                outcomes[entry["file"]] = f"refused {code}: {text}"
        normal = await transaction(gateway.port, "corpus@example.com", ["5550100@fax.localhost"],
                                   simple_mail(subject=f"normal after batch {start // BATCH}"))
        canaries.append(normal.queued_id)  # 250, or the assertion inside names the reply
    async with RenderPool(workers=1, workdir=tmp_path, limits=LIMITS) as pool:
        rendered = await render_stored(gateway.db, gateway.config, pool)
    for submission_id in canaries:
        assert (rendered[submission_id].state, rendered[submission_id].job_pages) == ("queued", 1)
    bounces = [bounce_text(content) for _, _, content in sink.messages]
    for submission_id, name in accepted.items():
        result = rendered[submission_id]
        if result.state == "queued":
            outcomes[name] = f"pages {result.job_pages}"
            assert result.job_pages == len(result.pages)
            continue
        outcomes[name] = f"failed: {result.reason}"
        [bounce] = [text for text in bounces if f"Reference:  {submission_id}" in text]
        assert "could not be faxed" in bounce and f"Why: {result.reason}" in bounce
    assert len(bounces) == sum(1 for outcome in outcomes.values() if outcome.startswith("failed"))
    mismatches = [f"{e['file']}: expected {e['expect']!r}, got {outcomes[e['file']]!r}"
                  for e in cases if not _matches(e["expect"], outcomes[e["file"]])]
    assert not mismatches, "\n".join(mismatches)
