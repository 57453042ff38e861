"""Hostile documents against a real `faxgate serve`: memory stays bounded, a poisonous document holds up no
other, and SIGTERM leaves no render worker or LibreOffice behind."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest

from gateway.config import load_config
from gateway.model import Submission, SubmissionState
from gateway.storage import Database
from gateway.storage.submissions import list_submissions
from tests.fixtures.hostile import docx_zip_bomb, nested_forms_pdf, tiff_bomb
from tests.queue.simserver import sim_config, smtp_sink, wait_for
from tests.support.procs import PeakMemory, marked_processes
from tests.support.server import ServerProcess

RENDER = '[render]\nworkers = 2\ntimeout = "40s"\ncpu_time = "8s"\nmemory = "1536MiB"\n\n[outbox]\npaused = true\n'
BOUND_KIB = 600 * 1024
"""Every faxgate process (server, render workers, LibreOffice) stays under 600 MiB while a bomb is refused."""


def fax_mail(subject: str, attachment: Path | None, content_type: str = "application/octet-stream",
             cover: bool = False) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "alice@example.com"
    message["To"] = "5550100@fax.localhost"
    message["Subject"] = subject
    if cover:
        message["X-Fax-Cover"] = "yes"
    message.set_content("See the attachment.\n" if attachment else "A short letter.\n")
    if attachment is not None:
        maintype, subtype = content_type.split("/")
        message.add_attachment(attachment.read_bytes(), maintype=maintype, subtype=subtype,
                               filename=attachment.name)
    return message


async def submissions(config: Path) -> dict[str, Submission]:
    """Every submission by subject."""
    db = Database(load_config(config).database_url)
    try:
        async with db.transaction() as conn:
            return {item.subject: item for item in await list_submissions(conn, limit=1000)}
    finally:
        await db.close()


def final(states: dict[str, Submission], *subjects: str) -> bool:
    """Every named submission is queued or failed."""
    return all(s in states and states[s].state in (SubmissionState.QUEUED, SubmissionState.FAILED) for s in subjects)


async def send(smtp_port: int, message: EmailMessage) -> None:
    await aiosmtplib.send(message, sender="alice@example.com", recipients=["5550100@fax.localhost"],
                          hostname="127.0.0.1", port=smtp_port)


async def test_tiff_and_zip_bombs_are_refused_with_memory_bounded(tmp_path: Path) -> None:
    mark = f"FAXGATE_TEST_{uuid.uuid4().hex}"
    tiff = tiff_bomb(tmp_path / "scan.tif", rows=4_000_000)  # ~500 KB, 864 MB decoded
    docx = docx_zip_bomb(tmp_path / "report.docx", xml_mib=64)  # ~200 KB, 64 MiB of XML
    with smtp_sink() as (_sink, sink_port):
        config, smtp_port, http_port = sim_config(tmp_path, sink_port, devices=(("sim0", "5551000"),), extra=RENDER)
        with ServerProcess(config, http_port, env={mark: "1"}) as server, PeakMemory(mark) as memory:
            await send(smtp_port, fax_mail("tiff bomb", tiff, "image/tiff", cover=True))
            await send(smtp_port, fax_mail(
                "zip bomb", docx, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"))

            async def refused() -> bool:
                return final(await submissions(config), "tiff bomb", "zip bomb")

            await wait_for(refused, 300, "both bombs to be refused", server)
            server.terminate()
    states = await submissions(config)
    assert states["tiff bomb"].state == SubmissionState.FAILED
    assert "518.4 m long; pages of at most 600 mm can be faxed" in states["tiff bomb"].reason
    assert states["zip bomb"].state == SubmissionState.FAILED
    assert "unpacks to 64 MiB; at most 50 MiB can be faxed" in states["zip bomb"].reason
    print("peak RSS KiB per process:", sorted(memory.peaks.values()))
    assert len(memory.peaks) >= 2  # the server and at least one render worker were watched
    name, peak = memory.largest()
    assert peak < BOUND_KIB, f"{name} reached {peak} KiB"


async def test_nested_pdf_is_refused_while_a_later_mail_is_rendered(tmp_path: Path) -> None:
    bomb = nested_forms_pdf(tmp_path / "drawing.pdf", depth=9, width=10)
    with smtp_sink() as (_sink, sink_port):
        config, smtp_port, http_port = sim_config(tmp_path, sink_port, devices=(("sim0", "5551000"),), extra=RENDER)
        with ServerProcess(config, http_port) as server:
            await send(smtp_port, fax_mail("poison", bomb, "application/pdf"))

            async def rendering() -> bool:
                states = await submissions(config)
                return "poison" in states and states["poison"].state == SubmissionState.RENDERING

            await wait_for(rendering, 60, "the poisonous PDF to be rendering", server)
            await send(smtp_port, fax_mail("ordinary", None))

            async def both_final() -> bool:
                return final(await submissions(config), "poison", "ordinary")

            await wait_for(both_final, 180, "both mails to be final", server)
            server.terminate()
            log = server.output()
    states = await submissions(config)
    assert states["ordinary"].state == SubmissionState.QUEUED and states["ordinary"].pages >= 1
    assert states["poison"].state == SubmissionState.FAILED
    assert states["poison"].reason.startswith("The document needed more than 8 seconds of computing time")
    order = re.findall(r"submission\.(queued|failed) submission=(\S+)", log)
    assert order == [("queued", states["ordinary"].id), ("failed", states["poison"].id)]


@pytest.mark.parametrize("poison", ["pdf", "office"])
async def test_sigterm_during_a_poisonous_render_leaves_no_worker_or_libreoffice(tmp_path: Path, poison: str) -> None:
    mark = f"FAXGATE_TEST_{uuid.uuid4().hex}"
    if poison == "pdf":
        document, kind, busy = nested_forms_pdf(tmp_path / "drawing.pdf"), "application/pdf", ""
    else:  # under the unpacking limit: LibreOffice chews on it
        document, kind, busy = docx_zip_bomb(tmp_path / "report.docx", xml_mib=40), "application/msword", "soffice.bin"
    with smtp_sink() as (_sink, sink_port):
        config, smtp_port, http_port = sim_config(tmp_path, sink_port, devices=(("sim0", "5551000"),),
                                                  extra=RENDER.replace('"40s"', '"600s"').replace('"8s"', '"600s"'))
        server = ServerProcess(config, http_port, env={mark: "1"}).start()
        try:
            await send(smtp_port, fax_mail("poison", document, kind))
            server_pid = server.proc.pid if server.proc else 0

            async def poison_running() -> bool:
                states = await submissions(config)
                workers = [pid for pid, name in marked_processes(mark).items() if pid != server_pid]
                names = set(marked_processes(mark).values())
                return bool(workers) and (not busy or busy in names) and states.get("poison") is not None \
                    and states["poison"].state == SubmissionState.RENDERING

            await wait_for(poison_running, 120, f"a render worker busy with the poison ({busy})", server)
            await asyncio.sleep(2)  # let it get deep into the document
            assert await asyncio.to_thread(server.terminate, 60) == 0
        finally:
            if server.proc and server.proc.poll() is None:
                server.proc.send_signal(signal.SIGKILL)
        left = marked_processes(mark)
        deadline = time.monotonic() + 5  # a bridge notices its worker's death within half a second
        while left and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            left = marked_processes(mark)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        assert left == {}
