"""Event webhooks: a receiver that is down for a while gets every event once, in order, signed; restarts resume."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.config import ConfigError, parse_config
from gateway.config.events import EventWebhookSection
from gateway.enums import ServerEvents
from gateway.storage import Database
from gateway.storage import webhook_cursors as cursors
from gateway.webhooks import EventWebhooks, subscription_name
from tests.api.events_support import EventsServer, events_server
from tests.support.net import free_port

SECRET = "correct horse battery staple"


@dataclass
class Delivery:
    """One POST as the receiver got it."""

    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, object]:
        loaded: dict[str, object] = json.loads(self.body)
        return loaded

    def signed(self, secret: str) -> bool:
        """Checked as a receiver would, with nothing from faxgate."""
        stamp = self.headers["x-faxgate-timestamp"]
        mac = hmac.new(secret.encode(), stamp.encode() + b"." + self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers["x-faxgate-signature"], "sha256=" + mac)


@dataclass
class Receiver:
    """A ticketing system's endpoint: a real HTTP server that can be down (not listening) and up again."""

    port: int = field(default_factory=free_port)
    got: list[Delivery] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _take(self, request: Request) -> Response:
        self.got.append(Delivery({k.lower(): v for k, v in request.headers.items()}, await request.body()))
        self.arrived.set()
        return Response(status_code=204)

    async def start(self) -> None:
        app = Starlette(routes=[Route("/hook", self._take, methods=["POST"])])
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None,
                                                     lifespan="off", access_log=False))
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
            self._server = None

    async def wait_for_id(self, event_id: int) -> list[Delivery]:
        """Wait until the event ``event_id`` was delivered."""
        while event_id not in [delivery.event["id"] for delivery in self.got]:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 120)
        return self.got

    async def wait_for(self, count: int) -> list[Delivery]:
        """Wait until ``count`` deliveries arrived."""
        while len(self.got) < count:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 120)
        return self.got


def hook_config(receiver: Receiver, retry_min: str = "0.05s", retry_max: str = "0.4s") -> str:
    return (f'[[events.webhooks]]\nname = "tickets"\nurl = "{receiver.url}"\ntypes = ["OUT_QUEUE", "IN_QUEUE"]\n'
            f'secret = "{SECRET}"\nretry_min = "{retry_min}"\nretry_max = "{retry_max}"\n')


async def until_failures(api: EventsServer, count: int) -> None:
    while api.webhooks.deliverers[0].failures < count:
        await asyncio.sleep(0.02)


async def record_jobs(api: EventsServer, jobs: range) -> list[int]:
    made = []
    for job in jobs:
        made.append(await api.record(ServerEvents.OUT_QUEUE, "job.changed", job_id=job, principal="token ops"))
        await api.record(ServerEvents.CONFIG, "config.changed", area="outbox")  # not subscribed
    return made


async def test_receiver_down_over_several_retries_then_up_gets_every_event_once_in_order(
        tmp_path: Path, store_url: str) -> None:
    receiver = Receiver()
    async with events_server(tmp_path, store_url, hook_config(receiver)) as api:
        assert api.webhooks is not None
        made = await record_jobs(api, range(5))
        made.append(await api.record(ServerEvents.IN_QUEUE, "incoming.added", job_id=77))
        await until_failures(api, 5)  # the first event was tried and refused (connection refused) five times
        await receiver.start()
        made += await record_jobs(api, range(5, 8))
        got = await receiver.wait_for(len(made))
        while api.webhooks.deliverers[0].delivered < len(made):  # the cursor moves right after each 2xx
            await asyncio.sleep(0.02)
        async with api.server.db.transaction() as conn:
            cursor = await cursors.read_cursor(conn, "tickets")
    await receiver.stop()
    assert [delivery.event["id"] for delivery in got] == made
    assert [delivery.headers["x-faxgate-event-id"] for delivery in got] == [str(event) for event in made]
    assert all(delivery.signed(SECRET) for delivery in got)
    assert not any(delivery.signed("another secret") for delivery in got)
    assert got[5].event["topic"] == "IN_QUEUE" and got[5].event["payload"] == {"job_id": 77}
    assert got[0].event["payload"] == {"job_id": 0, "principal": "token ops"}
    assert got[0].headers["content-type"] == "application/json"
    assert cursor is not None and cursor.after == made[-1]


async def test_receiver_down_two_minutes_with_backoff_doubling_to_its_cap(tmp_path: Path) -> None:
    receiver = Receiver()
    clock = {"now": 0.0}
    waits: list[float] = []

    async def virtual_sleep(seconds: float) -> None:
        """Time passes only here: the outage lasts 120 virtual seconds, then the receiver comes up."""
        waits.append(seconds)
        clock["now"] += seconds
        if clock["now"] >= 120 and receiver._server is None:
            await receiver.start()

    async with events_server(tmp_path) as api:
        hook = EventWebhookSection(name="ehr", url=receiver.url, types=["OUT_QUEUE"], secret=SECRET,
                                   retry_min="1s", retry_max="30s")  # type: ignore[arg-type]
        service = EventWebhooks([hook], api.server.db, api.server.events, api.server.node_id, virtual_sleep)
        await service.start()
        try:
            made = await record_jobs(api, range(4))
            got = await receiver.wait_for(4)
        finally:
            await service.stop()
            await receiver.stop()
    assert waits == [1, 2, 4, 8, 16, 30, 30, 30]
    assert [delivery.event["id"] for delivery in got] == made
    assert all(delivery.signed(SECRET) for delivery in got)


@pytest.mark.wallclock
async def test_receiver_down_two_minutes_of_real_time_then_up_gets_every_event_once_in_order(tmp_path: Path) -> None:
    """The issue's outage at real time: events keep coming while the receiver is down for 120 s; then it is up."""
    receiver = Receiver()
    loop = asyncio.get_running_loop()
    async with events_server(tmp_path, extra=hook_config(receiver, retry_min="1s", retry_max="15s")) as api:
        assert api.webhooks is not None
        made: list[int] = []
        down_since = loop.time()
        while loop.time() - down_since < 120.0:
            made += await record_jobs(api, range(len(made), len(made) + 1))
            await asyncio.sleep(10.0)
        failures = api.webhooks.deliverers[0].failures
        await receiver.start()
        made += await record_jobs(api, range(len(made), len(made) + 2))
        got = await receiver.wait_for(len(made))
        await asyncio.sleep(1.0)  # nothing more, nothing twice
    await receiver.stop()
    assert failures >= 6  # refused all along (backoff 1, 2, 4, 8, 15, 15 ... s), not given up
    assert [delivery.event["id"] for delivery in got] == made
    assert all(delivery.signed(SECRET) for delivery in got)


async def test_a_restart_resumes_after_the_last_acknowledged_event(tmp_path: Path) -> None:
    receiver = Receiver()
    await receiver.start()
    try:
        async with events_server(tmp_path, "", hook_config(receiver)) as api:
            made = await record_jobs(api, range(3))
            await receiver.wait_for(3)
        async with events_server(tmp_path) as api:  # no webhooks on this run: the events wait in the store
            made += await record_jobs(api, range(3, 7))
        async with events_server(tmp_path, "", hook_config(receiver)) as api:
            made += await record_jobs(api, range(7, 9))
            got = await receiver.wait_for(9)
    finally:
        await receiver.stop()
    assert [delivery.event["id"] for delivery in got] == made


async def test_one_node_at_a_time_delivers_a_subscription(store_url: str, tmp_path: Path) -> None:
    db = Database(parse_config({"storage": {"url": store_url}}).database_url)
    await db.migrate()
    try:
        async with db.transaction() as conn:
            assert await cursors.claim(conn, "tickets", "node-a", 1000.0, 60.0, start=41) == 41
        async with db.transaction() as conn:
            assert await cursors.claim(conn, "tickets", "node-b", 1010.0, 60.0, start=99) is None
            assert not await cursors.advance(conn, "tickets", "node-b", 50, 1010.0, 60.0)
            assert await cursors.advance(conn, "tickets", "node-a", 45, 1010.0, 60.0)
        async with db.transaction() as conn:
            assert await cursors.claim(conn, "tickets", "node-b", 1071.0, 60.0, start=99) == 45  # a's lease ran out
            await cursors.release(conn, "tickets", "node-b")
        async with db.transaction() as conn:
            assert await cursors.claim(conn, "tickets", "node-a", 1072.0, 60.0, start=99) == 45
    finally:
        await db.close()


def test_webhook_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigError) as bad:
        parse_config({"events": {"webhooks": [
            {"url": "https://tickets.example/hook", "types": ["OUT_QUEUE", "PAPER_JAM"]},
            {"types": ["IN_QUEUE"]},
            {"url": "https://ehr.example/hook", "types": ["IN_QUEUE"], "retry_min": "1m", "retry_max": "10s"},
        ]}})
    problems = bad.value.problems
    assert any(p.startswith("events.webhooks[0].types: unknown event type 'PAPER_JAM'") for p in problems)
    assert "events.webhooks[1].url: required key is missing" in problems
    assert any(p.startswith("events.webhooks[2]: retry_min") for p in problems)
    hook = parse_config({"events": {"webhooks": [{"url": "https://a.example/x", "types": ["out_queue"]}]}})
    assert hook.events.webhooks[0].mask == ServerEvents.OUT_QUEUE
    assert subscription_name(hook.events.webhooks[0]).startswith("url-")
