"""SIGKILL matrix (issue 15), each stage on SQLite and PostgreSQL: `faxgate serve` on the simulated line is killed
right after the 250 reply; during a render; while dialing; in the middle of page 2 of 3; between pages; between a
folder delivery and its record; during an email delivery (a received fax during its receive is in
tests/lifecycle/test_sigkill_receive.py, on ptys, since its caller must outlive the server). After the restart: no
accepted mail is lost, no confirmed page reaches the far end twice, no received fax is lost or delivered twice, and
every job is final or under way at once: the restarted node takes back its own claims (node id kept in the data
folder) instead of waiting out the 10-minute claim lease the configs below set.

A stage is found from the server's log or store; the two instants between two commits, which no observer outside the
process can hit, use the crash points of gateway/crashpoints.py (the process SIGKILLs itself there)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gateway.config import load_config
from gateway.crashpoints import CRASH_AT_ENV
from gateway.enums import ExtendedStatus, JobStatus
from gateway.model import OutgoingJob, SubmissionState
from gateway.storage import Database, incoming
from gateway.storage.incoming import PENDING
from gateway.storage.submissions import list_submissions
from modem.faxtiff import read_fax_tiff, write_fax_tiff
from tests.fixtures.hostile import _docx
from tests.intake.conftest import simple_mail, smtp_transaction
from tests.queue.simserver import (
    Sink,
    all_jobs,
    job_attempts,
    job_pages,
    received_pages,
    same_below_header,
    serving,
    sim_config,
    smtp_sink,
    wait_for,
)
from tests.queue.test_restart import dense_pages, marked_pages
from tests.routing.conftest import fax_pages
from tests.support.server import ServerProcess

REMOTE = "5550100"


async def submissions_in(config: Path, state: str) -> int:
    db = Database(load_config(config).database_url)
    try:
        async with db.transaction() as conn:
            return sum(1 for s in await list_submissions(conn) if s.state == state)
    finally:
        await db.close()


def office_mail(folder: Path) -> bytes:
    """A mail with a .docx (LibreOffice starts for it: seconds of rendering to be killed in)."""
    from email.policy import SMTP as SMTP_POLICY

    doc = _docx(folder / "letter.docx", "".join(f"<w:p><w:r><w:t>Line {n}</w:t></w:r></w:p>" for n in range(40)))
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.com", f"{REMOTE}@fax.localhost", "office"
    message.set_content("See the letter.\n")
    message.add_attachment(doc.read_bytes(), maintype="application", subtype="vnd.openxmlformats-officedocument"
                           ".wordprocessingml.document", filename="letter.docx")
    return message.as_bytes(policy=SMTP_POLICY)


@pytest.mark.realtime
async def test_killed_after_250_and_during_render_loses_no_mail(store_url: str, tmp_path: Path) -> None:
    with smtp_sink() as (_sink, sink_port):
        config, smtp_port, http_port = sim_config(
            tmp_path, sink_port, store_url=store_url, devices=(("sim0", "5551000"),))
        config.write_text(config.read_text().replace("[smtp]\n", "[smtp]\ncover_page = false\n")
                          .replace('claim_lease = "20s"', 'claim_lease = "10m"'))
        # Stage 1: SIGKILL the moment the 250 reply is read.
        first = ServerProcess(config, http_port).start()
        try:
            reply = await asyncio.to_thread(smtp_transaction, smtp_port, "a@example.com",
                                            [f"{REMOTE}@fax.localhost"], simple_mail(to=f"{REMOTE}@fax.localhost"))
            first.kill()
        finally:
            if first.proc is not None and first.proc.poll() is None:
                first.kill()
        assert reply.data is not None and reply.data[0] == 250
        # Stage 2: SIGKILL while the second mail's .docx is being rendered.
        second = ServerProcess(config, http_port).start()
        try:
            office = await asyncio.to_thread(smtp_transaction, smtp_port, "a@example.com",
                                             [f"{REMOTE}@fax.localhost"], office_mail(tmp_path))
            assert office.data is not None and office.data[0] == 250

            async def rendering() -> bool:
                return await submissions_in(config, SubmissionState.RENDERING) >= 1

            await wait_for(rendering, 60, "a submission being rendered", second)
        finally:
            second.kill()
        # Restart: both mails become jobs and are sent, without waiting out the 10-minute claim lease.
        with ServerProcess(config, http_port) as third:
            async def all_sent() -> bool:
                jobs = await all_jobs(config)
                return len(jobs) == 2 and all(job.job_status == JobStatus.COMPLETED for job in jobs)

            # 240 s, well inside the 10-minute lease: the render claim was taken back at start.
            await wait_for(all_sent, 240, "both accepted mails to be faxed after the restarts", third)
            assert third.terminate() == 0
    assert await submissions_in(config, SubmissionState.QUEUED) == 2
    jobs = await all_jobs(config)
    assert sorted(job.pages for job in jobs) == sorted(job.pages_sent for job in jobs)
    assert len(received_pages(tmp_path / "data", REMOTE)) == sum(job.pages for job in jobs)  # each page once


FAST = "5550100"
"""V.17 with ECM: pages go quickly."""
SLOW = "5550104"
"""V.27ter 4800 without ECM: a dense page takes seconds even at 4x."""
LATE = "5550105"
"""Answers after 5 rings: seconds of dialing to be killed in."""
RETRY_DELAY_S = 60
"""[outbox] retry_delay below: a job taken back must be under way again within one, far inside the 10-minute lease."""
DEBUG_SESSIONS = '[logging.events]\ngeneral = "max"\n\n'
"""The modem session transcripts (faxgate.modem.session, DEBUG) in the server log: "page 2: ... octets"."""


def matrix_config(tmp_path: Path, sink_port: int, store_url: str, extra: str = "") -> tuple[Path, int]:
    """One simulated line, 10-minute claim leases (a lease running out must never be what resumes the work)."""
    config, _smtp, http_port = sim_config(
        tmp_path, sink_port, store_url=store_url, devices=(("sim0", "5551000"),),
        extra=f'[outbox]\nretry_delay = "{RETRY_DELAY_S}s"\n\n{extra}')
    config.write_text(config.read_text().replace('claim_lease = "20s"', 'claim_lease = "10m"'))
    layout = tmp_path / "layout.toml"
    layout.write_text(layout.read_text().replace("no_answer_timeout_s = 8", "no_answer_timeout_s = 30")
                      + f'\n[[remote]]\nnumber = "{LATE}"\nident = "LATE {LATE}"\nanswer_after_rings = 5\n')
    return config, http_port


async def _submit(config: Path, document: Path, number: str) -> None:
    await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "gateway", "submit", "--config", str(config),
                                             str(document), "--to", number], capture_output=True, check=True)


async def logged(server: ServerProcess, text: str, timeout: float) -> None:
    """Wait until the server's log shows ``text`` (its log lines are written as they happen)."""
    deadline = time.monotonic() + timeout
    while text not in server.output():
        if time.monotonic() > deadline or (server.proc is not None and server.proc.poll() is not None):
            raise AssertionError(f"no {text!r} in the log\n{server.output()[-4000:]}")
        await asyncio.sleep(0.02)


async def died_at_crash_point(server: ServerProcess, point: str, timeout: float) -> None:
    """Wait for the process to SIGKILL itself at ``point``."""
    assert server.proc is not None
    code = await asyncio.to_thread(server.proc.wait, timeout)
    assert code == -9 and f"crash_point {point}: SIGKILL" in server.output(), server.output()[-4000:]


Stage = Callable[[ServerProcess, Path], Awaitable[None]]


async def _killed_send_resumes(tmp_path: Path, store_url: str, number: str, pages: list[np.ndarray], stage: Stage,
                               env: dict[str, str] | None = None) -> OutgoingJob:
    """Submit one job, kill the server at ``stage``, restart it; the job completes with each page sent once.
    Returns the job as the kill left it."""
    document = tmp_path / "document.tif"
    write_fax_tiff(document, pages, fine=True)
    with smtp_sink() as (_sink, sink_port):
        config, http_port = matrix_config(tmp_path, sink_port, store_url, DEBUG_SESSIONS)
        first = ServerProcess(config, http_port, env=env).start()
        try:
            await _submit(config, document, number)
            await stage(first, config)
        finally:
            if first.proc is not None and first.proc.poll() is None:
                first.kill()
        [killed] = await all_jobs(config)
        assert killed.job_status == JobStatus.INPROGRESS  # nobody closed it: the process died
        # The far end (in the server's process) wrote what it received so far; the next run reuses the file names.
        shutil.copytree(tmp_path / "data" / "simnet", tmp_path / "first-run" / "simnet")
        with ServerProcess(config, http_port) as second:
            async def completed() -> bool:
                return (await all_jobs(config))[0].job_status == JobStatus.COMPLETED

            await wait_for(completed, 240, "the job to complete after the restart", second)
            assert second.terminate() == 0
        assert "queue.claims_taken_back" in second.output()
    [job] = await all_jobs(config)
    first_call, second_call = await job_attempts(config, job.id)
    assert (first_call.extended_status, first_call.reason) == (ExtendedStatus.LINE_UNAVAILABLE,
                                                               "the server stopped during the call")
    assert first_call.ended_at is not None and second_call.started_at - first_call.ended_at < RETRY_DELAY_S
    assert (second_call.extended_status, second_call.start_page) == (ExtendedStatus.CALL_COMPLETED, killed.pages_sent)
    assert (job.pages_sent, job.pages) == (len(pages), len(pages))
    # The far end got the pages confirmed before the kill in the first call and the others in the second: each once.
    sent = await job_pages(config, job)
    before = received_pages(tmp_path / "first-run", number)
    after = received_pages(tmp_path / "data", number)
    assert (len(before), len(after)) == (killed.pages_sent, len(pages) - killed.pages_sent)
    assert all(same_below_header(a, b) for a, b in zip(sent, before + after, strict=True))
    return killed


@pytest.mark.realtime
async def test_killed_while_dialing(store_url: str, tmp_path: Path) -> None:
    async def dialing(server: ServerProcess, _config: Path) -> None:
        await logged(server, "job.dialing", 60)  # the far end answers only ~3 s later (5 rings at 4x)

    killed = await _killed_send_resumes(tmp_path, store_url, LATE, marked_pages(2, seed=11), dialing)
    assert (killed.ext_status, killed.pages_sent) == (ExtendedStatus.DIALING, 0)


@pytest.mark.realtime
async def test_killed_in_the_middle_of_page_2_of_3(store_url: str, tmp_path: Path) -> None:
    async def mid_page_two(server: ServerProcess, config: Path) -> None:
        await logged(server, " INFO page 2: ", 120)  # its data starts now and lasts ~5 s (13 KB at 600 bytes/s, 4x)
        await asyncio.sleep(1.5)

    killed = await _killed_send_resumes(tmp_path, store_url, SLOW, dense_pages(3), mid_page_two)
    assert killed.pages_sent == 1


@pytest.mark.realtime
async def test_killed_between_pages(store_url: str, tmp_path: Path) -> None:
    async def page_one_recorded(server: ServerProcess, _config: Path) -> None:
        await died_at_crash_point(server, "queue.page_recorded", 120)

    killed = await _killed_send_resumes(tmp_path, store_url, FAST, marked_pages(3, seed=12), page_one_recorded,
                                        env={CRASH_AT_ENV: "queue.page_recorded"})
    assert killed.pages_sent == 1


async def commit_received_fax(config: Path, tiff: bytes) -> int:
    """A received fax as the inbound service commits it at the end of its call (then routing takes it)."""
    db = Database(load_config(config).database_url)
    try:
        async with db.transaction() as conn:
            return await incoming.create_received(
                conn, device_name="sim0", node_id="", received_at=time.time(), ended_at=time.time(), tiff=tiff,
                pages=2, status=JobStatus.ROUTING, extended_status=ExtendedStatus.CALL_COMPLETED,
                caller_id=FAST, remote_tsid="REMOTE 5550100")
    finally:
        await db.close()


async def routing_state(config: Path, job_id: int) -> tuple[JobStatus, list[str]]:
    """The received fax's status and the state of each of its deliveries."""
    db = Database(load_config(config).database_url)
    try:
        async with db.transaction() as conn:
            record = await incoming.get(conn, job_id)
            deliveries = await incoming.deliveries(conn, job_id)
    finally:
        await db.close()
    assert record is not None
    return JobStatus(record.job.status), [delivery.state for delivery in deliveries]


def _fax_tiff(tmp_path: Path) -> bytes:
    path = tmp_path / "received.tif"
    write_fax_tiff(path, fax_pages(2, seed=21))
    return path.read_bytes()


async def _routed_after_restart(config: Path, http_port: int, job_id: int) -> str:
    """Restart; the fax is routed at once (this node's claim taken back, not after the lease); returns the log."""
    with ServerProcess(config, http_port) as server:
        async def routed() -> bool:
            return (await routing_state(config, job_id))[0] == JobStatus.COMPLETED

        await wait_for(routed, RETRY_DELAY_S, "the fax routed after the restart", server)
        assert server.terminate() == 0
    return server.output()


INBOUND = '[inbound]\npoll_interval = "0.3s"\nclaim_lease = "10m"\n\n[[inbound.rules]]\nname = "all"\n'


@pytest.mark.realtime
async def test_killed_between_a_folder_delivery_and_its_record(store_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "routed"
    tiff = _fax_tiff(tmp_path)
    with smtp_sink() as (_sink, sink_port):
        config, http_port = matrix_config(tmp_path, sink_port, store_url,
                                          INBOUND + f'folder = {{ path = "{folder}", format = "tiff" }}\n')
        first = ServerProcess(config, http_port, env={CRASH_AT_ENV: "routing.delivered_unrecorded"}).start()
        try:
            job_id = await commit_received_fax(config, tiff)
            await died_at_crash_point(first, "routing.delivered_unrecorded", 60)
        finally:
            if first.proc is not None and first.proc.poll() is None:
                first.kill()
        assert [path.read_bytes() for path in folder.iterdir()] == [tiff]  # delivered ...
        assert await routing_state(config, job_id) == (JobStatus.ROUTING, [PENDING])  # ... but not recorded
        log = await _routed_after_restart(config, http_port, job_id)
    assert "routing.claims_taken_back" in log
    # The delivery ran again and found its own file: the fax is in the folder once, complete.
    assert [path.read_bytes() for path in folder.iterdir()] == [tiff]


class HoldingSink(Sink):
    """An SMTP server that holds its reply to the first message until released, then refuses it (the client is
    gone by then), and stores every later one."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not self.holding.is_set():
            self.holding.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
            return "451 4.3.0 not stored: the sender died before this reply"
        return await super().handle_DATA(server, session, envelope)


@contextmanager
def holding_sink() -> Iterator[tuple[HoldingSink, int]]:
    with serving(HoldingSink()) as (sink, port):
        try:
            yield sink, port
        finally:
            sink.release.set()


@pytest.mark.realtime
async def test_killed_during_an_email_delivery(store_url: str, tmp_path: Path) -> None:
    tiff = _fax_tiff(tmp_path)
    with holding_sink() as (sink, sink_port):
        config, http_port = matrix_config(tmp_path, sink_port, store_url,
                                          INBOUND + 'email = { to = ["desk@example.test"], format = "tiff" }\n')
        first = ServerProcess(config, http_port).start()
        try:
            job_id = await commit_received_fax(config, tiff)
            assert await asyncio.to_thread(sink.holding.wait, 60), first.output()[-4000:]  # the mail is on the wire
        finally:
            first.kill()
        sink.release.set()
        assert await routing_state(config, job_id) == (JobStatus.ROUTING, [PENDING])
        log = await _routed_after_restart(config, http_port, job_id)
    assert "routing.claims_taken_back" in log
    [message] = sink.messages  # sent again after the restart, stored once
    assert message["X-Faxgate-Incoming-Job"] == str(job_id)
    [attachment] = [part for part in message.iter_attachments()]
    path = tmp_path / "mailed.tif"
    path.write_bytes(attachment.get_content())
    assert [page.bitmap.tobytes() for page in read_fax_tiff(path)] == [page.tobytes() for page in fax_pages(2, 21)]
