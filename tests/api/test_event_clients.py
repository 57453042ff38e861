"""The Python client's listen_to_server_events (async and blocking), its reconnection, and `faxgate events`."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from gateway.client import AsyncFaxServer, FaxApiError, FaxServer
from gateway.enums import AccessRights, ServerEvents
from gateway.events import ServerEvent
from tests.api.events_support import events_server
from tests.api.support import ALL_RIGHTS
from tests.support.net import free_port


async def test_async_client_replays_then_follows_and_resumes_across_a_restart(tmp_path: Path) -> None:
    port = free_port()
    async with events_server(tmp_path, http_port=port) as api:
        token = await api.token("ops", ALL_RIGHTS)
        before = await api.record(ServerEvents.OUT_QUEUE, "job.added", job_id=1, principal="token ops")
        stored = await api.record(ServerEvents.OUT_QUEUE, "job.changed", job_id=1, principal="token ops")
        client = await AsyncFaxServer.connect(api.url, token)
        stream = client.listen_to_server_events(ServerEvents.OUT_QUEUE, after_id=before)
        first = await anext(stream)
        live = await api.record(ServerEvents.OUT_QUEUE, "job.changed", job_id=1, principal="token ops", status=4)
        await api.record(ServerEvents.CONFIG, "config.changed", area="outbox")
        second = await anext(stream)
        reading = asyncio.ensure_future(anext(stream))
        await api.stop()
        ended = await reading
    async with events_server(tmp_path, http_port=port) as api:  # the same store: the events survive
        missed = [await api.record(ServerEvents.OUT_QUEUE, "job.changed", job_id=2, principal="token ops")
                  for _ in range(3)]
        after_restart = [await anext(stream) for _ in range(3)]
        await stream.aclose()
        await client.disconnect()
    assert isinstance(first, ServerEvent) and first.id == stored and first.topic == ServerEvents.OUT_QUEUE
    assert first.payload == {"job_id": 1, "principal": "token ops"} and first.kind == "job.changed"
    assert second.id == live and second.payload["status"] == 4
    assert ended.topic == ServerEvents.FXSSVC_ENDED
    assert [event.id for event in after_restart] == missed


async def test_async_client_refusal_names_the_right(tmp_path: Path) -> None:
    async with events_server(tmp_path) as api:
        token = await api.token("alice", AccessRights.SUBMIT_LOW)
        async with await AsyncFaxServer.connect(api.url, token) as client:
            with pytest.raises(FaxApiError) as refused:
                await anext(client.listen_to_server_events(ServerEvents.DEVICE_STATUS))
    assert refused.value.status == 403 and refused.value.missing_right == "query_config"


async def test_blocking_client_iterates_events(tmp_path: Path) -> None:
    async with events_server(tmp_path) as api:
        token = await api.token("ops", ALL_RIGHTS)
        made = [await api.record(ServerEvents.IN_QUEUE, "incoming.added", job_id=job) for job in range(3)]

        def read() -> list[ServerEvent]:
            with FaxServer.connect(api.url, token) as server:
                events = server.listen_to_server_events(ServerEvents.IN_QUEUE, after_id=0)
                found = [next(events) for _ in range(3)]
                events.close()
                return found

        found = await asyncio.to_thread(read)
    assert [event.id for event in found] == made
    assert [event.payload["job_id"] for event in found] == [0, 1, 2]


async def test_faxgate_events_prints_json_lines(tmp_path: Path) -> None:
    async with events_server(tmp_path) as api:
        token = await api.token("ops", ALL_RIGHTS)
        made = [await api.record(ServerEvents.CONFIG, "config.changed", area=area) for area in ("outbox", "inbox")]
        await api.record(ServerEvents.IN_QUEUE, "incoming.added", job_id=1)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "events", "--server", api.url, "--types", "CONFIG,ACTIVITY",
            "--after", "0", "--count", "3", env={**os.environ, "FAXGATE_TOKEN": token},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        assert process.stdout is not None
        lines = [json.loads(await process.stdout.readline()) for _ in range(2)]
        live = await api.record(ServerEvents.ACTIVITY, "activity.changed", queued_messages=1)
        lines.append(json.loads(await process.stdout.readline()))
        assert await process.wait() == 0, (await process.stderr.read()).decode() if process.stderr else ""
        refused = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "events", "--server", api.url, "--types", "DEVICE_STATUS",
            "--token", await api.token("alice", AccessRights.SUBMIT_LOW), stderr=asyncio.subprocess.PIPE)
        _, error = await refused.communicate()
    assert [line["id"] for line in lines] == [*made, live]
    assert [line["topic"] for line in lines] == ["CONFIG", "CONFIG", "ACTIVITY"]
    assert lines[0]["payload"] == {"area": "outbox"}
    assert refused.returncode == 1 and b"query_config" in error
