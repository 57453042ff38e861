"""The fax server process: opens the store, starts each service in order, and stops them in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Iterator
from typing import Protocol

import uvicorn

from gateway.api.app import create_app
from gateway.config import FaxgateConfig
from gateway.enums import ServerEvents
from gateway.events import EventBus
from gateway.filemodes import PRIVATE_UMASK, private_data_dir
from gateway.intake.smtp import SmtpListener
from gateway.logs import log_event, logger
from gateway.queue.pool import DevicePool
from gateway.queue.service import QueueService
from gateway.storage import Database
from routing.answer import InboundService
from routing.router import RoutingService

log = logger("init")


class Service(Protocol):
    """A long-running part of the server (a listener, a worker pool, a device manager)."""

    name: str

    async def start(self) -> None:
        """Begin work; return once ready."""
        ...

    async def stop(self) -> None:
        """Finish or safely put back the work in flight, then return."""
        ...


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn without its own signal handlers: faxgate owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave signals to the fax server."""
        yield


class HttpService:
    """The HTTP API on uvicorn, inside our loop."""

    name = "http"

    def __init__(self, server: FaxServer) -> None:
        self.fax_server = server
        self.address: tuple[str, int] | None = None
        self._uvicorn: _EmbeddedUvicorn | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Bind first (so the port is known and errors surface now), then serve."""
        host, port = self.fax_server.config.http.listen
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
        self.address = sock.getsockname()[:2]
        config = uvicorn.Config(create_app(self.fax_server), log_config=None, lifespan="off", access_log=False)
        self._uvicorn = _EmbeddedUvicorn(config)
        self._task = asyncio.create_task(self._uvicorn.serve(sockets=[sock]))
        while not self._uvicorn.started and not self._task.done():
            await asyncio.sleep(0.01)
        if self._task.done():
            self._task.result()

    async def stop(self) -> None:
        """Let open requests finish."""
        if self._uvicorn is not None and self._task is not None:
            self._uvicorn.should_exit = True
            await self._task


class FaxServer:
    """Everything one `faxgate serve` process runs."""

    def __init__(self, config: FaxgateConfig) -> None:
        self.config = config
        self.node_id = config.server.node_id or f"{socket.gethostname()}-{os.getpid()}"
        self.db = Database(config.database_url, pool_size=config.storage.pool_size)
        self.events = EventBus()
        self.services: list[Service] = []
        self._stopping = asyncio.Event()
        self._umask: int | None = None
        """The process umask before start(), given back by stop()."""

    def build_services(self) -> list[Service]:
        """The services, in start order; each later issue adds its own here."""
        services: list[Service] = []
        if self.config.smtp.enabled:
            services.append(SmtpListener(self.config, self.db))
        if self.config.http.enabled:
            services.append(HttpService(self))
        services.append(pool := DevicePool(self.config))
        self.fax_devices = pool.devices
        services.append(QueueService(self, pool))
        services.append(RoutingService(self.config, self.db, self.events, self.node_id))
        services.append(InboundService(self.config, self.db, getattr(self, "fax_devices", {}), self.events,
                                       self.node_id))
        return services

    def listening(self) -> dict[str, str]:
        """What this server listens on, by service name."""
        found: dict[str, str] = {}
        for service in self.services:
            address = getattr(service, "address", None)
            if address:
                found[service.name] = f"{address[0]}:{address[1]}"
        return found

    async def start(self) -> None:
        """Open the store (migrating it), then start every service."""
        self._umask = os.umask(PRIVATE_UMASK)
        private_data_dir(self.config.server.data_dir)
        await self.db.migrate()
        self.services = self.build_services()
        started: list[Service] = []
        try:
            for service in self.services:
                await service.start()
                started.append(service)
        except BaseException:
            for service in reversed(started):
                await service.stop()
            await self.db.close()
            os.umask(self._umask)
            raise
        self.events.publish(ServerEvents.QUEUE_STATE, "server.started", node=self.node_id)
        log_event(log, logging.INFO, "server.started", node=self.node_id, **self.listening())

    async def stop(self) -> None:
        """Stop services in reverse order within the grace period, then close the store."""
        grace = self.config.server.shutdown_grace.total_seconds()
        for service in reversed(self.services):
            try:
                await asyncio.wait_for(service.stop(), grace)
            except TimeoutError:
                log_event(log, logging.WARNING, "service.stop_timeout", service=service.name)
        self.events.publish(ServerEvents.FXSSVC_ENDED, "server.stopped", node=self.node_id)
        await self.db.close()
        if self._umask is not None:
            os.umask(self._umask)
        log_event(log, logging.INFO, "server.stopped", node=self.node_id)

    def request_stop(self) -> None:
        """Ask the server to stop (from a signal handler or a test)."""
        self._stopping.set()

    async def run(self) -> None:
        """Start, wait for SIGINT/SIGTERM or request_stop(), then stop cleanly."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.request_stop)
        try:
            await self._stopping.wait()
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
            await self.stop()
