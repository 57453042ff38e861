"""Server events POSTed to configured URLs ([[events.webhooks]]), for systems that hold no connection open.

Each subscription posts one event at a time, in id order, and moves its stored cursor only when the receiver
answers 2xx; a failure is retried after retry_min, doubling up to retry_max, for as long as it takes. So every
event arrives at least once and in order, also across a crash or restart; X-Faxgate-Event-Id (and
Idempotency-Key) carry the event id for deduplication. The body is the event's JSON as the event stream sends it,
signed as routing webhooks are: X-Faxgate-Signature = "sha256=" + HMAC-SHA256(secret, timestamp + "." + body).
At shutdown the server records FXSSVC_ENDED first, then gives each subscription this node delivers up to
SHUTDOWN_DELIVERY_S to post what is stored so far (that event last) before it stops; whatever a slow or
unreachable receiver did not take by then goes out after the next start (or from another node).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable

import httpx

from gateway.api.events import message
from gateway.config.events import EventWebhookSection
from gateway.events import EventBus, ServerEvent
from gateway.logs import log_event, logger
from gateway.storage import Database
from gateway.storage import events as event_log
from gateway.storage import webhook_cursors as cursors
from routing.methods.webhook import retryable, sign

log = logger("general")
LEASE_S = 60.0
"""How long a node's claim on a subscription lasts without renewal (it renews before every post)."""
SHUTDOWN_DELIVERY_S = 5.0
"""At shutdown, how long the subscriptions get to deliver the node's last events (FXSSVC_ENDED) before stopping."""
Sleep = Callable[[float], Awaitable[None]]


def subscription_name(hook: EventWebhookSection) -> str:
    """The name that keeps a subscription's cursor: the configured one, or one made from the URL."""
    return hook.name or "url-" + hashlib.sha256(hook.url.encode()).hexdigest()[:16]


class EventWebhooks:
    """One delivery task per configured subscription."""

    name = "webhooks"

    def __init__(self, hooks: list[EventWebhookSection], db: Database, events: EventBus, node_id: str,
                 sleep: Sleep = asyncio.sleep) -> None:
        self.deliverers = [Deliverer(hook, db, events, node_id, sleep) for hook in hooks]
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start posting, each from where it stopped (a new subscription: after the newest event now)."""
        for deliverer in self.deliverers:
            deliverer.first_claim = await deliverer._claim()
        self._tasks = [asyncio.create_task(deliverer.run(), name=f"webhook {deliverer.name}")
                       for deliverer in self.deliverers]

    async def drain(self, timeout: float = SHUTDOWN_DELIVERY_S) -> bool:
        """Wait until every subscription this node delivers has posted the events stored so far, for at most
        ``timeout`` seconds in all; False when one had not in time (the rest goes out after the next start)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for deliverer, task in zip(self.deliverers, self._tasks, strict=True):
            target = await deliverer.newest_due()
            while deliverer.holding and deliverer.acknowledged < target and not task.done():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    log_event(log, logging.WARNING, "webhook.shutdown_undelivered", subscription=deliverer.name,
                              delivered_through=deliverer.acknowledged, newest=target, waited_s=timeout)
                    return False
                deliverer.progress.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(deliverer.progress.wait(), remaining)
        return True

    async def stop(self) -> None:
        """Stop posting: a post in flight is finished and acknowledged first, so a clean stop repeats nothing."""
        for deliverer, task in zip(self.deliverers, self._tasks, strict=True):
            deliverer.stopping = True
            if not deliverer.posting:
                task.cancel()
        for deliverer, task in zip(self.deliverers, self._tasks, strict=True):
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, deliverer.hook.timeout.total_seconds() + 5)
        for deliverer in self.deliverers:
            with contextlib.suppress(Exception):
                await deliverer.release()


class Deliverer:
    """One subscription: claim it, then post its events one by one until stopped."""

    def __init__(self, hook: EventWebhookSection, db: Database, events: EventBus, node_id: str,
                 sleep: Sleep = asyncio.sleep) -> None:
        self.hook = hook
        self.name = subscription_name(hook)
        self.db = db
        self.events = events
        self.node_id = node_id
        self.sleep = sleep
        self.ttl = LEASE_S + hook.timeout.total_seconds()
        self.delivered = 0
        self.failures = 0
        self.first_claim: int | None = None
        self.stopping = False
        self.posting = False
        self.holding = False
        """This node holds the subscription's lease and is delivering it."""
        self.acknowledged = 0
        """The id of the last event the receiver took (while holding)."""
        self.progress = asyncio.Event()
        """Set whenever the receiver took an event."""

    async def run(self) -> None:
        """Deliver while this node holds the subscription; wait for the lease otherwise."""
        async with httpx.AsyncClient(timeout=self.hook.timeout.total_seconds(), follow_redirects=False) as client:
            after, self.first_claim = self.first_claim, None
            while True:
                if after is None:
                    after = await self._claim()
                if after is None:
                    await self.sleep(self.ttl / 2)
                    continue
                async with self.events.subscribe(self.hook.mask, after_id=after) as subscription:
                    self.holding, self.acknowledged = True, after
                    while True:
                        try:
                            event = await subscription.get(self.ttl / 3)
                        except TimeoutError:  # idle: keep the lease, or learn that another node has it
                            if await self._claim() is None:
                                break
                            continue
                        kept = await self._deliver(client, event)
                        if self.stopping:
                            return
                        if not kept:
                            break  # another node took the subscription over
                self.holding = False
                after = None

    async def newest_due(self) -> int:
        """The newest stored event of this subscription's types: what a drain waits for."""
        async with self.db.transaction() as conn:
            return await event_log.latest_id(conn, int(self.hook.mask))

    async def _claim(self) -> int | None:
        start = await self.events.latest_id()
        async with self.db.transaction() as conn:
            return await cursors.claim(conn, self.name, self.node_id, time.time(), self.ttl, start)

    async def _deliver(self, client: httpx.AsyncClient, event: ServerEvent) -> bool:
        """Post until the receiver takes the event, then move the cursor; False when the lease is gone."""
        delay = self.hook.retry_min.total_seconds()
        while True:
            if await self._claim() is None:
                return False
            self.posting = True
            try:
                outcome = await self._post(client, event)
                if outcome is None:
                    async with self.db.transaction() as conn:
                        kept = await cursors.advance(conn, self.name, self.node_id, event.id, time.time(), self.ttl)
                    self.delivered += 1
                    self.acknowledged = event.id
                    self.progress.set()
                    return kept
            finally:
                self.posting = False
            self.failures += 1
            if self.stopping:
                return False
            log_event(log, logging.WARNING, "webhook.retry", subscription=self.name, event_id=event.id,
                      reason=outcome, retry_in_s=round(delay, 1))
            await self.sleep(delay)
            delay = min(delay * 2, self.hook.retry_max.total_seconds())

    async def _post(self, client: httpx.AsyncClient, event: ServerEvent) -> str | None:
        """None when the receiver answered 2xx, else why not."""
        request = client.build_request("POST", self.hook.url, content=message(event).encode(),
                                       headers={"Content-Type": "application/json",
                                                "X-Faxgate-Event-Id": str(event.id),
                                                "X-Faxgate-Event-Type": str(event.topic.name)})
        sign(request, self.hook.secret, str(event.id))
        try:
            response = await client.send(request)
        except httpx.HTTPError as exc:
            return f"cannot reach the receiver ({type(exc).__name__})"
        if 200 <= response.status_code < 300:
            return None
        kind = "" if retryable(response.status_code) else " (refused; retried anyway so that no event is skipped)"
        return f"HTTP {response.status_code}{kind}"

    async def release(self) -> None:
        """Let another node take over at once."""
        async with self.db.transaction() as conn:
            await cursors.release(conn, self.name, self.node_id)
