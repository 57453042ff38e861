"""The Python client drives a running `faxgate serve` on the simulated line, as a program of a user would."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pymupdf
import pytest

from gateway.client import AsyncFaxServer, FaxDocument, FaxRecipient
from gateway.enums import AccessRights
from tests.api.support import pdf_document, token_in_store
from tests.queue.simserver import received_pages, sim_config, smtp_sink
from tests.support.server import ServerProcess

GUID = "{6bbf7bfe-9af2-11d0-abf7-00c04fd91a4e}"


@pytest.mark.realtime
async def test_client_submits_a_two_recipient_fax_and_watches_it_complete(tmp_path: Path) -> None:
    with smtp_sink() as (_, sink_port):
        config, _, http_port = sim_config(tmp_path, sink_port, more_remotes=("5550200",))
        token = await token_in_store(config, "scenario", AccessRights.SUBMIT_NORMAL | AccessRights.QUERY_JOBS
                           | AccessRights.QUERY_CONFIG | AccessRights.MANAGE_CONFIG
                           | AccessRights.QUERY_OUT_ARCHIVE | AccessRights.QUERY_IN_ARCHIVE)
        with ServerProcess(config, http_port):
            async with await AsyncFaxServer.connect(f"http://127.0.0.1:{http_port}", token) as server:
                assert server.server_name == "faxgate"
                document = FaxDocument(body=[pdf_document(tmp_path / "figures.pdf")], subject="Figures",
                                       recipients=[FaxRecipient("5550100", "Ada"), FaxRecipient("5550200", "Bob")])
                submitted = await document.submit(server)
                assert [r.number for r in submitted.recipients] == ["5550100", "5550200"]

                queue = server.folders.outgoing_queue
                deadline = time.monotonic() + 240
                while True:
                    jobs = await queue.get_jobs(submitted.submission_id)
                    if len(jobs) == 2 and all(job.info.status_names == ["COMPLETED"] for job in jobs):
                        break
                    assert time.monotonic() < deadline, [job.info for job in jobs]
                    await asyncio.sleep(0.5)

                for job in jobs:
                    await job.refresh()
                    assert job.info.extended_status == "call_completed"
                    assert job.info.current_page == job.info.pages == 1
                    assert [a.result for a in job.attempts] == ["call_completed"]
                assert {job.info.recipient.name for job in jobs} == {"Ada", "Bob"}
                assert {job.info.csid for job in jobs} == {"+1 555 0100", "REMOTE 5550200"}
                assert {job.id for job in await queue.get_jobs()} >= {job.id for job in jobs}
                assert (await server.get_activity()).outgoing_messages == 0

                # The sent fax from the outgoing archive, as PDF: one page per fax page.
                archive = server.folders.outgoing_archive
                while {job.id for job in jobs} - {m.id for m in (await archive.get_messages()).messages}:
                    assert time.monotonic() < deadline, "the sent faxes never reached the outgoing archive"
                    await asyncio.sleep(0.5)
                sent = await archive.get_message(jobs[0].id)
                assert sent.recipient.number in {"5550100", "5550200"} and sent.pages == 1
                pdf = await archive.pdf(jobs[0].id)
                assert pdf.startswith(b"%PDF-") and pymupdf.open(stream=pdf, filetype="pdf").page_count == 1

                # A fax the far end sends in, read from the incoming archive.
                call = {"caller": "5550200", "to": "5551001", "pages": 2}  # the simulated network's remote calls in
                await server.request("POST", "/simulation/calls", json=call)
                inbox = server.folders.incoming_archive
                while not (received := (await inbox.get_messages()).jobs):
                    assert time.monotonic() < deadline + 120, "no fax reached the incoming archive"
                    await asyncio.sleep(0.5)
                fax = await inbox.get_message(received[0].id)
                assert (fax.pages, fax.tsid) == (2, "REMOTE 5550200")
                tiff = await inbox.copy_tiff(fax.id)
                assert tiff[:4] in (b"II*\0", b"MM\0*")

                assert await server.get_extension_property(GUID) is None
                await server.set_extension_property(GUID, b"route-to: desk 4\0")
                assert await server.get_extension_property(GUID) == b"route-to: desk 4\0"
                await server.set_extension_property(GUID, b"\x00\x01", device=1)
                assert await server.get_extension_property(GUID, device=1) == b"\x00\x01"
                assert await server.get_extension_property(GUID) == b"route-to: desk 4\0"
    # What the far ends received is one page each.
    for number in ("5550100", "5550200"):
        assert len(received_pages(tmp_path / "data", number)) == 1
