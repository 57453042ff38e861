"""The fax server process: opens the store, starts each service in order, and stops them in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import uvicorn

from gateway.api.app import create_app
from gateway.api.events import StreamRegistry, registry
from gateway.api.localadmin import admin_token_path, ensure_admin_token
from gateway.config import FaxgateConfig
from gateway.config.runtime import RuntimeConfig
from gateway.context import ServiceContext
from gateway.events import EventBus
from gateway.eventsources import ActivityWatch, announce_end, announce_start
from gateway.filemodes import PRIVATE_UMASK, private_data_dir
from gateway.intake.sources import intake_sources
from gateway.logs import apply_logging, log_event, logger
from gateway.queue.clock import SystemClock
from gateway.queue.pool import DevicePool
from gateway.queue.service import QueueService
from gateway.storage import Database
from gateway.textsafe import safe_filename_part
from gateway.webhooks import SHUTDOWN_DELIVERY_S, EventWebhooks
from modem.providers import discover_device_providers
from routing.answer import InboundService
from routing.registry import MethodRegistry
from routing.router import RoutingService

log = logger("init")
STOP_MARGIN_S = 15.0
"""Beyond server.shutdown_grace, the time stopping may take: record cut calls, stop the rest, close the store."""
MIN_SERVICE_STOP_S = 2.0
"""Each service gets at least this long to stop, even when an earlier one used up the time."""
HTTP_CLOSE_S = 3
"""Open HTTP requests (event streams) get this long to end before they are closed."""
NODE_ID_FILE = "node-id"


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
        self.streams: StreamRegistry | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Bind first (so the port is known and errors surface now), then serve."""
        host, port = self.fax_server.config.http.listen
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit it: uvicorn writes headers and body apart, and with Nagle the body of every
        # answer on a kept-alive connection waited for the client's delayed ACK (40 ms a request).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
        self.address = sock.getsockname()[:2]
        section = self.fax_server.config.http
        app = create_app(self.fax_server)
        self.streams = registry(app)
        config = uvicorn.Config(app, log_config=None, lifespan="off", access_log=False,
                                timeout_graceful_shutdown=HTTP_CLOSE_S,
                                ssl_certfile=str(section.tls_cert) if section.tls_cert else None,
                                ssl_keyfile=str(section.tls_key) if section.tls_key else None)
        self._uvicorn = _EmbeddedUvicorn(config)
        self._task = asyncio.create_task(self._uvicorn.serve(sockets=[sock]))
        while not self._uvicorn.started and not self._task.done():
            await asyncio.sleep(0.01)
        if self._task.done():
            self._task.result()

    def ending(self) -> None:
        """The server is stopping: event streams end after this node's FXSSVC_ENDED, which comes next."""
        if self.streams is not None:
            self.streams.ending = True

    async def stop(self) -> None:
        """Let event streams send FXSSVC_ENDED and end, then let open requests finish."""
        if self._uvicorn is not None and self._task is not None:
            if self.streams is not None and self.streams.ending:
                await self.streams.wait_closed(HTTP_CLOSE_S)
            self._uvicorn.should_exit = True
            await self._task


class FaxServer:
    """Everything one `faxgate serve` process runs."""

    def __init__(self, config: FaxgateConfig, *, from_file: bool = True) -> None:
        self.config = config
        self.node_id = config.server.node_id or stored_node_id(config.server.data_dir)
        self.runtime = RuntimeConfig(config, from_file=from_file, node_id=self.node_id)
        """The file's values with the stored (API) ones over them; ``config`` is its live configuration."""
        self.db = Database(config.database_url, pool_size=config.storage.pool_size)
        self.events = EventBus()
        self.activity: ActivityWatch | None = None
        self.services: list[Service] = []
        self._stopping = asyncio.Event()
        self._umask: int | None = None
        """The process umask before start(), given back by stop()."""
        self.admin_token_made: str | None = None
        """The local administrator token when this start made it (first start, or it was revoked), to print once."""
        self.hurry = asyncio.Event()
        """Set by a second stop request: calls are cut at once instead of finishing their page (still recorded)."""

    def build_services(self) -> list[Service]:
        """The services, in start order; each later issue adds its own here."""
        services: list[Service] = []
        services.extend(intake_sources(self.config, self.db, self.node_id))
        if self.config.http.enabled:
            services.append(HttpService(self))
        context = ServiceContext(self.config, self.db, self.events, SystemClock(), self.node_id)
        providers = discover_device_providers()
        providers.apply_registrations(self.runtime.registrations("provider"))
        services.append(pool := DevicePool(context, providers))
        services.append(QueueService(context, pool, self.hurry))
        registry = MethodRegistry(self.config.inbound, self.runtime.device_methods)
        services.append(RoutingService(self.config, self.db, self.events, self.node_id, registry=registry,
                                       registrations=self.runtime.registrations("routing")))
        services.append(InboundService(self.config, self.db, pool.devices, self.events, self.node_id))
        for service in services:
            reconfigure = getattr(service, "reconfigure", None)
            if callable(reconfigure):
                self.runtime.on_change(reconfigure)
        if self.config.events.webhooks:
            services.append(EventWebhooks(self.config.events.webhooks, self.db, self.events, self.node_id))
        return services

    def _logging_changed(self, areas: set[str]) -> None:
        if "logging" in areas:
            apply_logging(self.config.logging)

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
        await self.events.start(self.db, self.node_id, self.config.events.poll_interval.total_seconds())
        await self.runtime.load(self.db)  # stored values first, so every service starts with what is in force
        self.runtime.on_change(self._logging_changed)
        self._logging_changed({"logging"} if self.runtime.overrides("logging") else set())
        if self.config.http.enabled:
            async with self.db.transaction() as conn:
                self.admin_token_made = await ensure_admin_token(conn, self.config.server.data_dir, self.node_id)
                if self.admin_token_made:
                    log_event(log, logging.INFO, "server.admin_token_created",
                              path=str(admin_token_path(self.config.server.data_dir)))
        self.activity = ActivityWatch(self.db, self.events)
        self.activity.start()
        await announce_start(self.events, self.db, self.config, self.node_id)
        self.services = self.build_services()
        started: list[Service] = []
        try:
            for service in self.services:
                await service.start()
                started.append(service)
        except BaseException:
            await self._stop_services(started, last_words=True)
            await self._close_store()
            raise
        self.runtime.start(self.db, self.events)
        log_event(log, logging.INFO, "server.started", node=self.node_id, **self.listening())

    async def stop(self) -> None:
        """Stop every service in reverse order (HTTP last, after FXSSVC_ENDED), then close the store, within
        shutdown_grace + STOP_MARGIN_S.

        A service that fails or overruns is logged (with its traceback) and the next one still stops;
        the store is closed whatever happened.
        """
        try:
            await self.runtime.stop()
            await self._stop_services(self.services, last_words=True)
        finally:
            await self._close_store()
        log_event(log, logging.INFO, "server.stopped", node=self.node_id)

    async def _stop_services(self, services: list[Service], last_words: bool = False) -> None:
        """Stop services in reverse start order; with ``last_words`` FXSSVC_ENDED goes out just before the HTTP
        service stops (so its event streams carry it) or after the last service, and the event webhooks stop
        only after it, once they delivered it (or SHUTDOWN_DELIVERY_S passed)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.server.shutdown_grace.total_seconds() + STOP_MARGIN_S
        hooks = [service for service in services if isinstance(service, EventWebhooks)] if last_words else []

        async def stop(service: Service) -> None:
            budget = max(deadline - loop.time(), MIN_SERVICE_STOP_S)
            try:
                await asyncio.wait_for(service.stop(), budget)
            except TimeoutError:
                log_event(log, logging.ERROR, "service.stop_timeout", service=service.name, waited_s=round(budget, 1))
            except Exception:
                log.exception("service.stop_failed", extra={"fields": {"service": service.name}})

        async def say_last_words() -> None:
            await self._last_words()
            for hook in hooks:
                with contextlib.suppress(Exception):
                    await hook.drain(SHUTDOWN_DELIVERY_S)
                await stop(hook)

        for service in reversed(services):
            if service in hooks:
                continue  # they deliver FXSSVC_ENDED first
            if last_words and isinstance(service, HttpService):
                service.ending()  # its event streams end after FXSSVC_ENDED, which comes next
                await say_last_words()
                last_words = False
            await stop(service)
        if last_words:
            await say_last_words()

    async def _last_words(self) -> None:
        """FXSSVC_ENDED and FEI_FAXSVC_ENDED, handed to every subscriber as the last events of this node."""
        if self.activity is not None:
            await self.activity.stop()
        announce_end(self.events, self.node_id)
        try:
            await asyncio.wait_for(self.events.flush(), MIN_SERVICE_STOP_S)
        except TimeoutError:
            log_event(log, logging.WARNING, "server.last_events_late", waited_s=MIN_SERVICE_STOP_S)
        except Exception:
            log.exception("server.last_events_failed")

    async def _close_store(self) -> None:
        """Hand out the last events, close the store, then give the process its umask back."""
        if self.activity is not None:
            await self.activity.stop()
        await self.events.stop()
        try:
            await self.db.close()
        except Exception:
            log.exception("server.store_close_failed")
        if self._umask is not None:
            os.umask(self._umask)
            self._umask = None

    def request_stop(self, signum: int | None = None) -> None:
        """Ask the server to stop (a signal or a test); asked again while stopping, cut calls short at once."""
        cause = signal.Signals(signum).name if signum is not None else "request"
        if not self._stopping.is_set():
            grace = self.config.server.shutdown_grace.total_seconds()
            log_event(log, logging.INFO, "server.stopping", node=self.node_id, cause=cause, grace_s=grace,
                      bound_s=grace + STOP_MARGIN_S)
            self._stopping.set()
        else:
            log_event(log, logging.WARNING, "server.stop_hurried", node=self.node_id, cause=cause,
                      effect="calls are cut now; their jobs are still recorded before exit")
            self.hurry.set()

    def handle_signals(self) -> None:
        """SIGINT/SIGTERM ask this server to stop; `faxgate serve` calls it before start() too, so a signal that
        arrives while the server is still starting stops it cleanly instead of killing it."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.request_stop, signum)

    async def run(self) -> None:
        """Wait for SIGINT/SIGTERM or request_stop() on a started server, then stop cleanly."""
        loop = asyncio.get_running_loop()
        self.handle_signals()
        try:
            await self._stopping.wait()
        finally:
            try:
                await self.stop()  # the handlers stay: a second signal is logged and hurries, never kills
            finally:
                for signum in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(signum)


def stored_node_id(data_dir: Path) -> str:
    """This node's id, kept in the data folder so a restarted node (after a crash too) knows its own claims."""
    path = data_dir / NODE_ID_FILE
    if not path.exists():
        private_data_dir(data_dir)
        made = f"{safe_filename_part(socket.gethostname(), 40, 'node')}-{secrets.token_hex(4)}"
        temporary = path.with_name(f".{NODE_ID_FILE}.{os.getpid()}")
        with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="ascii") as out:
            out.write(made + "\n")
        try:
            os.link(temporary, path)  # complete or absent, and a second process starting now keeps the first id
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return safe_filename_part(path.read_text(encoding="ascii", errors="replace").strip(), 64, "node")
