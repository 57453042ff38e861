"""Server events from a real `faxgate serve`: a submitted fax's OUT_QUEUE event on the stream, FXSSVC_ENDED at
SIGTERM before the stream closes, a webhook event that survives SIGKILL of the node (delivered after restart), and
FXSSVC_ENDED posted to a webhook before the node exits at SIGTERM (or after the next start if the receiver is down).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from gateway.enums import ServerEvents
from gateway.storage import Database
from tests.api.events_support import sse
from tests.api.support import ALL_RIGHTS, pdf_document, token_in_store
from tests.api.test_event_webhooks import SECRET, Receiver
from tests.queue.simserver import sim_config
from tests.support.server import ServerProcess


async def submit(url: str, token: str, folder: Path, number: str = "5551001") -> str:
    """A one-page fax to one number through the API; its submission id."""
    document = pdf_document(folder / "letter.pdf")
    async with httpx.AsyncClient(base_url=url + "/api/v1", headers={"Authorization": f"Bearer {token}"},
                                 timeout=60) as client:
        reply = await client.post("/outgoing/submit", data={"recipients": json.dumps([{"number": number}])},
                                  files=[("files", ("letter.pdf", document.read_bytes(), "application/pdf"))])
    assert reply.status_code in (200, 201, 202), reply.text
    submission: str = reply.json()["submission_id"]
    return submission


async def test_stream_of_a_running_server_then_fxssvc_ended_at_sigterm(tmp_path: Path) -> None:
    config, _, port = sim_config(tmp_path, 9, extra="[outbox]\npaused = true\n")
    token = await token_in_store(config, "ops", ALL_RIGHTS)
    with ServerProcess(config, port) as server:
        url = f"http://127.0.0.1:{port}"
        async with sse(url, token, {"types": "OUT_QUEUE"}) as stream:
            submission = await submit(url, token, tmp_path)
            added = await stream.next()
            assert added is not None and added.event == "OUT_QUEUE" and added.data["kind"] == "job.added"
            assert added.data["payload"]["submission_id"] == submission
            stopping = asyncio.get_running_loop().run_in_executor(None, server.terminate)
            ended = await stream.next()
            while ended is not None and ended.event == "OUT_QUEUE":  # the job's own later events (FEI_JOB_QUEUED...)
                ended = await stream.next()
            closed = await stream.next()
            assert await stopping == 0
    assert ended is not None and ended.event == "FXSSVC_ENDED" and ended.id > added.id
    assert closed is None


async def test_webhook_event_committed_before_sigkill_is_delivered_after_restart(tmp_path: Path) -> None:
    receiver = Receiver()
    hook = (f'[[events.webhooks]]\nname = "tickets"\nurl = "{receiver.url}"\ntypes = ["OUT_QUEUE"]\n'
            f'secret = "{SECRET}"\nretry_min = "0.1s"\nretry_max = "0.5s"\n')
    config, _, port = sim_config(tmp_path, 9, extra="[outbox]\npaused = true\n\n" + hook)
    token = await token_in_store(config, "ops", ALL_RIGHTS)
    url = f"http://127.0.0.1:{port}"
    with ServerProcess(config, port) as server:
        async with sse(url, token, {"types": "OUT_QUEUE"}) as stream:
            submission = await submit(url, token, tmp_path)
            added = await stream.next()  # committed: the store has it; the receiver is down
        server.kill()
    await receiver.start()
    try:
        with ServerProcess(config, port):
            assert added is not None
            got = await receiver.wait_for_id(added.id)
            async with sse(url, token, {"types": "OUT_QUEUE"}) as stream:
                await submit(url, token, tmp_path)
                again = await stream.next()
            assert again is not None
            got = await receiver.wait_for_id(again.id)
    finally:
        await receiver.stop()
    ids = [delivery.event["id"] for delivery in got]
    assert ids == sorted(set(ids)) and ids[0] == added.id  # in order, once each, starting at the one the kill held
    assert got[0].event["payload"]["submission_id"] == submission
    assert all(delivery.signed(SECRET) for delivery in got)
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'data' / 'faxgate.db'}")
    try:
        async with db.transaction() as conn:
            stored = [row[0] for row in (await conn.exec_driver_sql(
                f"SELECT id FROM events WHERE topic = {int(ServerEvents.OUT_QUEUE)} AND id <= {again.id} ORDER BY id"))]
    finally:
        await db.close()
    assert ids[:len(stored)] == stored  # every OUT_QUEUE event up to the last one waited for, none skipped


def _hook(receiver: Receiver, types: str) -> str:
    return (f'[[events.webhooks]]\nname = "ops"\nurl = "{receiver.url}"\ntypes = [{types}]\n'
            f'secret = "{SECRET}"\nretry_min = "0.1s"\nretry_max = "0.5s"\n')


async def test_webhook_gets_fxssvc_ended_before_the_node_exits_at_sigterm(tmp_path: Path) -> None:
    receiver = Receiver()
    await receiver.start()
    config, _, port = sim_config(tmp_path, 9, extra="[outbox]\npaused = true\n\n" + _hook(receiver, '"FXSSVC_ENDED"'))
    try:
        with ServerProcess(config, port) as server:
            node = server.health()["node"]
            assert receiver.got == []  # nothing of this type yet: what comes is the shutdown's
            code = await asyncio.get_running_loop().run_in_executor(None, server.terminate)
            log = server.output()
    finally:
        await receiver.stop()
    assert code == 0, log
    got = [(d.event["topic"], d.event["kind"]) for d in receiver.got]
    assert got == [("FXSSVC_ENDED", "server.stopped"), ("FXSSVC_ENDED", "fei")]  # before the process exited
    last = receiver.got[-1].event
    assert last["payload"]["fei"] == "FEI_FAXSVC_ENDED" and last["payload"]["fei_id"] == 20
    assert last["node"] == node
    assert all(delivery.signed(SECRET) for delivery in receiver.got)
    assert "webhook.shutdown_undelivered" not in log


async def test_fxssvc_ended_a_down_receiver_missed_at_shutdown_goes_out_after_the_next_start(tmp_path: Path) -> None:
    receiver = Receiver()  # not listening yet
    config, _, port = sim_config(tmp_path, 9, extra="[outbox]\npaused = true\n\n" + _hook(receiver, '"FXSSVC_ENDED"'))
    with ServerProcess(config, port) as server:
        code = await asyncio.get_running_loop().run_in_executor(None, server.terminate)
        log = server.output()
    assert code == 0, log
    assert "webhook.shutdown_undelivered" in log  # waited SHUTDOWN_DELIVERY_S, then stopped anyway
    await receiver.start()
    try:
        with ServerProcess(config, port):
            got = await receiver.wait_for(2)
    finally:
        await receiver.stop()
    assert [(d.event["topic"], d.event["kind"]) for d in got[:2]] == [("FXSSVC_ENDED", "server.stopped"),
                                                                       ("FXSSVC_ENDED", "fei")]
