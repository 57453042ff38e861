"""Issue 17's scenario on two real `faxgate serve` nodes sharing one PostgreSQL store: a client of node B, through
the Python client's listen_to_server_events, sees in order the OUT_QUEUE and FEI_ events of a fax submitted on node
A and sent by node A's line, and the INCOMING_CALL, IN_QUEUE, FEI_ROUTING and IN_ARCHIVE events of a fax node A
received, with the payload fields of the Windows callbacks (FAX_EVENT, FaxJobStatus, OnNewCall)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.client import AsyncFaxServer
from gateway.enums import EventId, JobStatus, JobType, ServerEvents
from gateway.events import ServerEvent
from gateway.storage.events import NO_JOB
from tests.api.support import ALL_RIGHTS, token_in_store
from tests.api.test_events_serve import submit
from tests.queue.simserver import sim_config
from tests.support.server import ServerProcess

REMOTE, REMOTE_IDENT = "5550100", "+1 555 0100"
"""The demo layout's answering machine: it sends faxes in and takes them, with this station id."""
LINE, LINE_NUMBER, LINE_ID = "sima0", "5551000", 1
MASK = ServerEvents.OUT_QUEUE | ServerEvents.INCOMING_CALL | ServerEvents.IN_QUEUE | ServerEvents.IN_ARCHIVE


def _name(event: ServerEvent) -> str:
    return str(event.payload["fei"]) if event.kind == "fei" else event.kind


def _fei(event: ServerEvent, code: EventId) -> bool:
    return event.kind == "fei" and event.payload["fei_id"] == int(code)


async def _until(seen: list[ServerEvent], done: Callable[[], bool], what: str, *nodes: ServerProcess) -> None:
    """Wait (real time: fax calls at 4x speed) until the events seen so far satisfy ``done``."""
    for _ in range(2400):
        if done():
            return
        await asyncio.sleep(0.1)
    logs = "\n".join(node.output()[-3000:] for node in nodes)
    raise AssertionError(f"timed out waiting for {what}; seen {[_name(e) for e in seen]}\n{logs}")


async def _simline_call(config: Path) -> None:
    """`faxgate simline call`: the remote machine calls node A's line with two demo pages."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "simline", "call", "--config", str(config), "--from", REMOTE,
        "--to", LINE_NUMBER, "--pages", "2", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode == 0, (out + err).decode()


@pytest.mark.realtime
@pytest.mark.postgres
async def test_a_client_of_node_b_sees_node_a_send_and_receive_in_order_with_the_windows_fields(
        tmp_path: Path, pg_database: str) -> None:
    rule = f'[[inbound.rules]]\nname = "everything"\nfolder = {{ path = "{tmp_path / "routed"}" }}\n'
    config_a, _, port_a = sim_config(tmp_path / "a", 9, store_url=pg_database, devices=((LINE, LINE_NUMBER),),
                                     node_id="node-a", extra=rule)
    config_b, _, port_b = sim_config(tmp_path / "b", 9, store_url=pg_database, devices=(), node_id="node-b",
                                     extra=rule)  # node B has no line: it neither sends nor answers
    token = await token_in_store(config_a, "ops", ALL_RIGHTS)
    seen: list[ServerEvent] = []
    with ServerProcess(config_b, port_b) as node_b, ServerProcess(config_a, port_a) as node_a:
        client = await AsyncFaxServer.connect(f"http://127.0.0.1:{port_b}", token)
        stream = client.listen_to_server_events(MASK, after_id=0)  # node B's stream; from the first event on

        async def follow() -> None:
            async for event in stream:
                seen.append(event)

        reader = asyncio.create_task(follow())
        try:
            # 1. A fax submitted on node A, sent by node A's only line (node B has none).
            submission = await submit(f"http://127.0.0.1:{port_a}", token, tmp_path, REMOTE)
            await _until(seen, lambda: any(e.kind == "job.added" and e.payload.get("submission_id") == submission
                                           for e in seen), "the job added", node_a, node_b)
            job_id = next(e.payload["job_id"] for e in seen if e.kind == "job.added"
                          and e.payload.get("submission_id") == submission)
            await _until(seen, lambda: any(e.topic == ServerEvents.OUT_QUEUE and _fei(e, EventId.DELETED)
                                           and e.payload["job_id"] == job_id for e in seen),
                         "the sent job's FEI_DELETED", node_a, node_b)
            # 2. Then a remote machine calls node A's line: two pages in, routed (kept in the inbox), archived.
            await _simline_call(config_a)
            await _until(seen, lambda: any(e.topic == ServerEvents.IN_ARCHIVE for e in seen),
                         "the received fax in the incoming archive", node_a, node_b)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            await stream.aclose()
            await client.disconnect()

    assert [event.id for event in seen] == sorted({event.id for event in seen})  # in order, each once

    # The outgoing job, as OnOutgoingJobAdded/Changed/Removed and FAX_EVENTs: every event about it, in order.
    sent = [e for e in seen if e.topic == ServerEvents.OUT_QUEUE and e.payload.get("job_id") == job_id]
    feis = [_name(e) for e in sent if e.kind == "fei"]
    assert feis == ["FEI_JOB_QUEUED", "FEI_HANDLED", "FEI_DIALING", "FEI_SENDING", "FEI_COMPLETED", "FEI_DELETED"]
    assert _name(sent[0]) == "job.added" and [_name(e) for e in sent[-2:]] == ["job.removed", "FEI_DELETED"]
    handed = next(index for index, e in enumerate(sent) if _fei(e, EventId.HANDLED))
    # Either node's worker may render the submission and queue the job; from the hand-over on, all is node A's line.
    assert {e.node for e in sent[handed:]} == {"node-a"}, [(e.node, _name(e)) for e in sent]
    for event in sent:
        if event.kind == "fei":  # FAX_EVENT: time stamp, device id, event id, job id
            assert event.payload["fei_id"] == int(EventId[event.payload["fei"].removeprefix("FEI_")])
            assert event.payload["timestamp"] > 0 and event.payload["job_id"] == job_id
    on_line = [e for e in sent if e.kind == "fei" and e.payload["fei"] in (
        "FEI_HANDLED", "FEI_DIALING", "FEI_SENDING", "FEI_COMPLETED")]
    assert {(e.payload["device_id"], e.payload["device"]) for e in on_line} == {(LINE_ID, LINE)}
    statuses = [JobStatus(e.payload["status"]).base for e in sent if e.kind in ("job.added", "job.changed")]
    assert statuses[0] == JobStatus.PENDING and statuses[-1] == JobStatus.COMPLETED
    assert JobStatus.INPROGRESS in statuses
    assert statuses.index(JobStatus.INPROGRESS) < statuses.index(JobStatus.COMPLETED)
    done: dict[str, Any] = next(e.payload for e in sent if e.kind == "job.changed"
                                and e.payload["status"] == int(JobStatus.COMPLETED))
    assert (done["submission_id"], done["recipient_number"], done["device"]) == (submission, REMOTE, LINE)
    assert (done["pages"], done["pages_sent"], done["csid"]) == (1, 1, REMOTE_IDENT)  # the far end's CSID
    assert done["extended_status_name"] == "CALL_COMPLETED" and done["job_type"] == int(JobType.SEND)
    assert done["transmission_start"] <= done["transmission_end"]
    assert "tsid" in done and "retries" in done and "available_operations" in done

    # The incoming call (OnNewCall and its FAX_EVENTs), then the received fax in the queue and the archive.
    ringing = next(e for e in seen if e.kind == "call.ringing")
    call_id = ringing.payload["call_id"]
    assert (ringing.payload["device_id"], ringing.payload["device"], ringing.payload["caller_id"]) == (
        LINE_ID, LINE, REMOTE)
    call = [e for e in seen if e.topic == ServerEvents.INCOMING_CALL and e.payload.get("call_id") == call_id]
    assert [_name(e) for e in call] == ["call.ringing", "call.answered", "FEI_ANSWERED", "FEI_RECEIVING",
                                        "FEI_RECEIVING", "call.ended"]
    assert [e.payload["page"] for e in call if _fei(e, EventId.RECEIVING)] == [1, 2]  # one per page
    assert all(e.payload["device_id"] == LINE_ID and e.payload["job_id"] == NO_JOB for e in call if e.kind == "fei")
    ended = call[-1].payload
    fax_id = ended["job_id"]
    assert (ended["pages"], ended["caller_id"]) == (2, REMOTE)
    received = [e for e in seen if e.topic in (ServerEvents.IN_QUEUE, ServerEvents.IN_ARCHIVE)
                and e.payload.get("job_id") == fax_id]
    names = [_name(e) for e in received]
    assert names[:2] == ["job.added", "FEI_COMPLETED"] and names[-3:] == ["job.removed", "FEI_DELETED",
                                                                         "message.added"]
    assert "FEI_ROUTING" in names and names.index("FEI_ROUTING") > 1
    added = received[0].payload  # OnIncomingJobAdded's FaxJobStatus
    assert (added["status"], added["pages"], added["device"], added["caller_id"]) == (
        int(JobStatus.ROUTING), 2, LINE, REMOTE)
    assert (added["tsid"], added["csid"], added["job_type"]) == (REMOTE_IDENT, "faxgate", int(JobType.ROUTING))
    assert received[1].payload["device_id"] == LINE_ID  # FEI_COMPLETED, from the node that has the line
    routing = next(e for e in received if _fei(e, EventId.ROUTING))
    # Device ids are numbered per node's configuration: the routing node knows the line's id if it hosts it.
    assert routing.payload["device_id"] == (LINE_ID if routing.node == "node-a" else 0)
    archived = received[-1]
    assert archived.topic == ServerEvents.IN_ARCHIVE and archived.payload["message_id"] == str(fax_id)
    assert {e.node for e in call} == {"node-a"} and received[0].node == "node-a"
    # The whole story in one order: the sent fax's events end before the call rings; the call ends before routing.
    assert sent[-1].id < ringing.id < received[0].id < routing.id < archived.id
