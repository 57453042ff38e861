"""Server events over HTTP: the SSE stream and the WebSocket with masks, resume, rights, and FXSSVC_ENDED at stop.

The server runs in this process on a real socket (uvicorn); the clients are real HTTP and WebSocket clients.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import httpx
import pytest
import websockets

from gateway.enums import AccessRights, ServerEvents
from gateway.passwords import hash_password
from gateway.storage import tokens
from tests.api.events_support import EventsServer, events_server, sse
from tests.api.support import ALL_RIGHTS

KEEPALIVE = '[events]\nkeepalive = "0.2s"\n'


@pytest.fixture
async def api(tmp_path: Path, store_url: str) -> EventsServer:  # type: ignore[misc]
    async with events_server(tmp_path, store_url, KEEPALIVE) as running:
        yield running


async def test_sse_carries_the_masked_types_in_the_wire_format(api: EventsServer) -> None:
    token = await api.token("ops", ALL_RIGHTS)
    async with sse(api.url, token, {"types": "OUT_QUEUE,CONFIG"}) as stream:
        queued = await api.record(ServerEvents.OUT_QUEUE, "job.added", job_id=7, principal="ops", status=1)
        await api.record(ServerEvents.IN_QUEUE, "incoming.added", job_id=3)
        changed = await api.record(ServerEvents.CONFIG, "config.changed", area="outbox")
        api.server.events.publish(ServerEvents.DEVICE_STATUS, "device.changed", device="sim0", device_id=1)
        frames = await stream.take(2)
        assert await stream.comment() == ": keep-alive"
        marker = await api.record(ServerEvents.OUT_QUEUE, "job.changed", job_id=7, principal="ops", status=2)
        frames += await stream.take(1)
    assert [(f.id, f.event) for f in frames] == [(queued, "OUT_QUEUE"), (changed, "CONFIG"), (marker, "OUT_QUEUE")]
    first = frames[0].data
    assert set(first) == {"id", "topic", "kind", "at", "node", "payload"}
    assert first["id"] == queued and first["topic"] == "OUT_QUEUE" and first["kind"] == "job.added"
    assert first["node"] == api.server.node_id
    assert first["payload"] == {"job_id": 7, "principal": "ops", "status": 1}
    assert frames[1].data["payload"] == {"area": "outbox"}


async def test_reconnecting_with_last_event_id_gets_every_missed_event_once(api: EventsServer) -> None:
    token = await api.token("ops", ALL_RIGHTS)
    async with sse(api.url, token, {"types": "OUT_QUEUE"}) as stream:
        for job in (1, 2):
            await api.record(ServerEvents.OUT_QUEUE, "job.changed", job_id=job, principal="ops")
        seen = await stream.take(2)
    last = seen[-1].id
    missed = [await api.record(ServerEvents.OUT_QUEUE, "job.changed", job_id=job, principal="ops")
              for job in range(3, 8)]
    await api.record(ServerEvents.CONFIG, "config.changed", area="outbox")  # outside the mask
    async with sse(api.url, token, {"types": "OUT_QUEUE"}, {"Last-Event-ID": str(last)}) as stream:
        replayed = await stream.take(5)
        live = await api.record(ServerEvents.OUT_QUEUE, "job.changed", job_id=8, principal="ops")
        after = await stream.take(1)
    assert [f.id for f in replayed] == missed
    assert [f.data["payload"]["job_id"] for f in replayed] == [3, 4, 5, 6, 7]
    assert [f.id for f in after] == [live]
    async with sse(api.url, token, {"types": "OUT_QUEUE", "after": str(missed[1])}) as stream:
        again = await stream.take(4)
    assert [f.id for f in again] == [*missed[2:], live]


async def test_resume_while_events_keep_coming_loses_and_repeats_nothing(api: EventsServer) -> None:
    token = await api.token("ops", ALL_RIGHTS)

    async def produce() -> list[int]:
        made = []
        for job in range(40):
            made.append(await api.record(ServerEvents.OUT_QUEUE, "job.changed", job_id=job, principal="ops"))
            await asyncio.sleep(0)
        return made

    producer = asyncio.create_task(produce())
    received: list[int] = []
    last: int | None = None
    while len(received) < 40:
        headers = {"Last-Event-ID": str(last)} if last is not None else {}
        async with sse(api.url, token, {"types": "OUT_QUEUE", "after": "0"} if last is None else {"types": "OUT_QUEUE"},
                       headers) as stream:
            for frame in await stream.take(min(7, 40 - len(received))):
                received.append(frame.id)
                last = frame.id
    made = await producer
    assert received == made


async def test_websocket_sends_the_same_json_with_mask_and_resume(api: EventsServer) -> None:
    token = await api.token("ops", ALL_RIGHTS)
    before = await api.record(ServerEvents.IN_QUEUE, "incoming.added", job_id=1)
    stored = await api.record(ServerEvents.IN_QUEUE, "incoming.changed", job_id=1, status=2)
    url = api.url.replace("http://", "ws://") + f"/api/v1/events/ws?types=IN_QUEUE,INCOMING_CALL&after={before}"
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as socket:
        replayed = json.loads(await socket.recv())
        await api.record(ServerEvents.OUT_QUEUE, "job.added", job_id=9, principal="ops")
        call = await api.record(ServerEvents.INCOMING_CALL, "call.ringing", call_id=5, device="sim0", caller_id="555")
        live = json.loads(await socket.recv())
    assert replayed["id"] == stored and replayed["topic"] == "IN_QUEUE"
    assert replayed["payload"] == {"job_id": 1, "status": 2}
    assert live["id"] == call and live["topic"] == "INCOMING_CALL"
    assert live["payload"] == {"call_id": 5, "device": "sim0", "caller_id": "555"}
    assert set(live) == {"id", "topic", "kind", "at", "node", "payload"}


async def test_submit_low_sees_only_its_own_jobs(api: EventsServer) -> None:
    alice = await api.token("alice", AccessRights.SUBMIT_LOW)
    watcher = await api.token("watcher", AccessRights.SUBMIT_LOW | AccessRights.QUERY_JOBS)
    async with sse(api.url, alice) as own, sse(api.url, watcher) as everything:
        mine = await api.record(ServerEvents.OUT_QUEUE, "job.added", job_id=1, principal="token alice")
        theirs = await api.record(ServerEvents.OUT_QUEUE, "job.added", job_id=2, principal="token bob")
        await api.record(ServerEvents.OUT_QUEUE, "queue.changed")  # no owner: not shown to submitters
        await api.record(ServerEvents.CONFIG, "config.changed", area="outbox")
        await api.record(ServerEvents.DEVICE_STATUS, "device.changed", device="sim0", device_id=1)
        marker = await api.record(ServerEvents.OUT_QUEUE, "job.changed", job_id=1, principal="token alice")
        alice_saw = await own.take(2)
        watcher_saw = await everything.take(4)
    assert [f.id for f in alice_saw] == [mine, marker]
    assert [f.id for f in watcher_saw][:2] == [mine, theirs]
    assert {f.event for f in watcher_saw} == {"OUT_QUEUE"}


@pytest.mark.parametrize(("types", "right"), [
    ("CONFIG", "query_config"), ("ACTIVITY", "query_config"), ("DEVICE_STATUS", "query_config"),
    ("QUEUE_STATE", "query_config"), ("INCOMING_CALL", "query_config"), ("OUT_QUEUE,IN_QUEUE", "query_in_archive"),
    ("IN_ARCHIVE", "query_in_archive"), ("OUT_ARCHIVE", "query_out_archive"),
])
async def test_a_type_the_principal_may_not_see_is_refused_naming_the_right(api: EventsServer, types: str,
                                                                             right: str) -> None:
    token = await api.token("alice", AccessRights.SUBMIT_LOW)
    async with httpx.AsyncClient(base_url=api.url + "/api/v1", headers={"Authorization": f"Bearer {token}"}) as client:
        reply = await client.get("/events", params={"types": types})
    assert reply.status_code == 403
    assert reply.json()["missing_right"] == right
    assert right.upper() in reply.json()["detail"]
    url = api.url.replace("http://", "ws://") + f"/api/v1/events/ws?types={types}"
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"}):
            pass
    assert refused.value.response.status_code == 403
    assert json.loads(refused.value.response.body)["missing_right"] == right


async def test_without_query_config_the_default_stream_has_no_config_activity_or_device_events(
        api: EventsServer) -> None:
    token = await api.token("archivist", AccessRights.QUERY_IN_ARCHIVE | AccessRights.QUERY_JOBS)
    async with sse(api.url, token) as stream:
        for topic in (ServerEvents.CONFIG, ServerEvents.ACTIVITY, ServerEvents.DEVICE_STATUS,
                      ServerEvents.QUEUE_STATE, ServerEvents.INCOMING_CALL, ServerEvents.OUT_ARCHIVE):
            await api.record(topic, "changed")
        shown = [await api.record(ServerEvents.IN_ARCHIVE, "archive.added", job_id=4),
                 await api.record(ServerEvents.OUT_QUEUE, "job.added", job_id=5, principal="someone")]
        frames = await stream.take(2)
    assert [(f.id, f.event) for f in frames] == [(shown[0], "IN_ARCHIVE"), (shown[1], "OUT_QUEUE")]
    async with httpx.AsyncClient(base_url=api.url + "/api/v1", headers={"Authorization": f"Bearer {token}"}) as client:
        assert (await client.get("/events", params={"types": "ACTIVITY"})).json()["missing_right"] == "query_config"
        nobody = await api.token("config-only", AccessRights.QUERY_CONFIG)
        reply = await client.get("/events", params={"types": "OUT_QUEUE"},
                                 headers={"Authorization": f"Bearer {nobody}"})
        assert (reply.status_code, reply.json()["missing_right"]) == (403, "query_jobs")
        reply = await client.get("/events", params={"types": "OUT_QUEUE,PAPER_JAM"})
        assert reply.status_code == 400 and "PAPER_JAM" in reply.json()["detail"]
        reply = await client.get("/events", headers={"Authorization": "Bearer nonsense"})
        assert reply.status_code == 401
        reply = await client.get("/events", headers={"Last-Event-ID": "yesterday"})
        assert reply.status_code == 400


async def test_fxssvc_ended_reaches_sse_and_websocket_before_they_close(api: EventsServer) -> None:
    token = await api.token("ops", ALL_RIGHTS)
    url = api.url.replace("http://", "ws://") + "/api/v1/events/ws?types=OUT_QUEUE"
    async with sse(api.url, token, {"types": "OUT_QUEUE"}) as stream, \
            websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as socket:
        job = await api.record(ServerEvents.OUT_QUEUE, "job.added", job_id=1, principal="ops")
        assert json.loads(await socket.recv())["id"] == job
        assert (await stream.take(1))[0].id == job
        stopping = asyncio.create_task(api.stop())
        ended = await stream.next()
        after = await stream.next()
        message = json.loads(await socket.recv())
        with pytest.raises(websockets.ConnectionClosedOK) as closed:
            await socket.recv()
        await stopping
    assert ended is not None and ended.event == "FXSSVC_ENDED" and ended.data["node"] == api.server.node_id
    assert after is None, "the stream ends after FXSSVC_ENDED"
    assert message["topic"] == "FXSSVC_ENDED" and message["id"] == ended.id
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001


async def test_a_revoked_token_ends_its_open_streams(api: EventsServer) -> None:
    token = await api.token("temp", ALL_RIGHTS)
    kept = await api.token("kept", ALL_RIGHTS)
    url = api.url.replace("http://", "ws://") + "/api/v1/events/ws"
    async with sse(api.url, token) as stream, sse(api.url, kept) as other, \
            websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as socket:
        async with api.server.db.transaction() as conn:
            assert await tokens.revoke_token(conn, "temp")
        ended = await stream.next()
        with pytest.raises(websockets.ConnectionClosedError) as closed:
            await socket.recv()
        still = await api.record(ServerEvents.CONFIG, "config.changed", area="outbox")
        assert (await other.take(1))[0].id == still
    assert ended is None
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_a_configured_user_listens_over_http_basic(tmp_path: Path) -> None:
    users = (f'[[security.users]]\nname = "ada"\npassword_hash = "{hash_password("lovelace")}"\n'
             'rights = ["submit_normal", "query_config"]\n')
    async with events_server(tmp_path, "", KEEPALIVE + users) as api:
        login = "Basic " + base64.b64encode(b"ada:lovelace").decode()
        url = api.url.replace("http://", "ws://") + "/api/v1/events/ws?types=DEVICE_STATUS"
        async with httpx.AsyncClient(base_url=api.url + "/api/v1", timeout=30) as client, \
                client.stream("GET", "/events", params={"types": "DEVICE_STATUS"},
                              headers={"Authorization": login}) as reply, \
                websockets.connect(url, additional_headers={"Authorization": login}) as socket:
            assert reply.status_code == 200
            lines = reply.aiter_lines()
            assert await anext(lines) == ": connected"
            device = await api.record(ServerEvents.DEVICE_STATUS, "device.changed", device="sim0", device_id=1)
            assert json.loads(await socket.recv())["id"] == device
            while not (line := await anext(lines)).startswith("id:"):
                assert line in ("", ": keep-alive")
            assert line == f"id: {device}"
        async with httpx.AsyncClient(base_url=api.url + "/api/v1", timeout=30) as client:
            wrong = "Basic " + base64.b64encode(b"ada:babbage").decode()
            assert (await client.get("/events", headers={"Authorization": wrong})).status_code == 401
            refused = await client.get("/events", params={"types": "IN_ARCHIVE"}, headers={"Authorization": login})
            assert refused.json()["missing_right"] == "query_in_archive"


@pytest.mark.postgres
async def test_a_client_on_node_b_sees_node_a_events_in_order(tmp_path: Path, pg_database: str) -> None:
    async with events_server(tmp_path / "a", pg_database, KEEPALIVE) as node_a, \
            events_server(tmp_path / "b", pg_database, KEEPALIVE) as node_b:
        token = await node_b.token("ops", ALL_RIGHTS)
        async with sse(node_b.url, token, {"types": "OUT_QUEUE,IN_QUEUE"}) as stream:
            made = [await node_a.record(ServerEvents.OUT_QUEUE, "job.added", job_id=1, principal="token ops"),
                    await node_a.record(ServerEvents.IN_QUEUE, "incoming.added", job_id=2),
                    await node_b.record(ServerEvents.OUT_QUEUE, "job.changed", job_id=1, principal="token ops")]
            frames = await stream.take(3)
    assert [f.id for f in frames] == made
    assert [f.data["node"] for f in frames] == [node_a.server.node_id, node_a.server.node_id, node_b.server.node_id]
    assert node_a.server.node_id != node_b.server.node_id
