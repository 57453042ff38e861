"""Content a document only links to is never fetched (test_sandbox), and the sender's receipt says what was left out."""

from __future__ import annotations

import zipfile
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from gateway.config import parse_config
from gateway.queue.clock import ManualClock
from gateway.queue.enqueue import JobFactory
from gateway.queue.worker import SubmissionWorker
from gateway.render import RenderPool
from gateway.render.links import LEFT_OUT, linked_content_count
from gateway.storage import Database
from gateway.storage.submissions import create_submission, get_submission
from tests.fixtures.hostile import docx_linking, odt_linking
from tests.queue.harness import MONDAY_10_UTC

REMOTE_HTML = (b"<!DOCTYPE html><html><body><p>Newsletter</p><img src='https://tracker.example/p.gif'>"
               b"<img src=\"file:///etc/logo.png\"><img src='cid:logo@mail'><img src='data:image/png;base64,AA=='>"
               b"</body></html>")


def test_links_out_of_a_document_are_counted_and_its_own_content_is_not(tmp_path: Path) -> None:
    assert linked_content_count(docx_linking(tmp_path / "a.docx", ["http://127.0.0.1:9/x.png",
                                                                    "file:///tmp/secret.png"]).read_bytes()) == 2
    assert linked_content_count(odt_linking(tmp_path / "a.odt", ["file:///tmp/secret.png"]).read_bytes()) == 1
    assert linked_content_count(docx_linking(tmp_path / "none.docx", []).read_bytes()) == 0
    assert linked_content_count(REMOTE_HTML) == 2  # the web and the disk; cid: and data: travel with the mail
    assert linked_content_count(b"%PDF-1.7\n" + REMOTE_HTML) == 0
    broken = tmp_path / "broken.docx"
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("word/_rels/document.xml.rels", "<Relationships><Relationship TargetMode=")
    assert linked_content_count(broken.read_bytes()) == 0


async def test_a_linked_picture_is_named_in_the_stored_submission_for_the_receipt(tmp_path: Path) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "ada@clinic.example", "5550100@fax.localhost", "Report"
    message.set_content("See the report.\n")
    report = docx_linking(tmp_path / "report.docx", ["http://127.0.0.1:9/chart.png"]).read_bytes()
    message.add_attachment(report, maintype="application",
                           subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
                           filename="report.docx")
    config = parse_config({"server": {"data_dir": str(tmp_path / "data")}})
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    await db.migrate()
    try:
        async with db.transaction() as conn:
            submission_id = await create_submission(
                conn, source="smtp", principal="network 127.0.0.1/32", envelope_from="ada@clinic.example",
                recipients=[{"address": "5550100@fax.localhost", "number": "5550100", "name": ""}],
                raw=message.as_bytes(policy=SMTP), subject="Report", options={"cover": False})
        async with RenderPool(workers=1, workdir=tmp_path) as pool:
            worker = SubmissionWorker(db=db, config=config, factory=JobFactory(config, ["sim0"]), pool=pool,
                                      clock=ManualClock(MONDAY_10_UTC), node_id="test")
            assert await worker.process_one()
        async with db.transaction() as conn:
            stored = await get_submission(conn, submission_id)
    finally:
        await db.close()
    assert stored is not None and stored.state == "queued"
    assert stored.options[LEFT_OUT] == [
        "'report.docx' links to one picture or object outside the document; the fax was sent without it."]
    assert stored.options["cover"] is False  # the sender's options are kept beside the note
