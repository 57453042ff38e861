"""How a CLI command reaches faxgate: a running server through the API client, or the store itself with --offline.

The server is --server (or FAXGATE_SERVER), else the [http] listener of the config; the token is --token-file,
else FAXGATE_TOKEN, else the local administrator token `faxgate serve` keeps in its data folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
import httpx

from gateway.cli import config_from_option, config_option, with_db

if TYPE_CHECKING:
    from gateway.client import AsyncFaxServer
    from gateway.config import FaxgateConfig
    from gateway.storage import Database

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104 - mapped to loopback, never bound


class FaxApiRefusal(click.ClickException):
    """The server said no: the CLI prints its reason (and the missing right) and exits 1."""


@dataclass
class Target:
    """Where one command does its work: the server's API, or the store directly (offline)."""

    config_path: Path | None
    server: str | None
    token_file: Path | None
    ca_file: Path | None
    offline: bool
    offline_use: str
    _config: FaxgateConfig | None = field(default=None, repr=False)

    @property
    def config(self) -> FaxgateConfig:
        """The configuration (file or embedded defaults), loaded once; exits 1 naming every problem."""
        if self._config is None:
            self._config = config_from_option(self.config_path)
        return self._config

    def url(self) -> str:
        """--server, or the config's HTTP listener as seen from this machine."""
        if self.server:
            return self.server.rstrip("/")
        http = self.config.http
        host, port = http.listen
        host = WILDCARDS.get(host, host)
        shown = f"[{host}]" if ":" in host else host
        return f"{'https' if http.tls else 'http'}://{shown}:{port}"

    def token(self) -> str | None:
        """--token-file, FAXGATE_TOKEN, or the local administrator token (when this user may read it)."""
        if self.token_file is not None:
            try:
                return self.token_file.read_text(encoding="ascii").strip()
            except OSError as exc:
                raise click.ClickException(f"cannot read the token file {self.token_file}: {exc.strerror}") from None
        if os.environ.get("FAXGATE_TOKEN"):
            return os.environ["FAXGATE_TOKEN"].strip()
        from gateway.api.localadmin import read_admin_token

        return read_admin_token(self.config.server.data_dir)

    def verify(self) -> ssl.SSLContext | bool:
        """Trust --ca-file for an https server; on the server's own machine (no --server) also the certificate its
        config serves, so the CLI needs no flag there; else the system CAs."""
        if self.ca_file is not None:
            return ssl.create_default_context(cafile=str(self.ca_file))
        cert = None if self.server else self.config.http.tls_cert
        if cert is not None:
            context = ssl.create_default_context()
            with contextlib.suppress(OSError, ssl.SSLError):
                context.load_verify_locations(cafile=str(cert))
                context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # the served leaf itself is the anchor
            return context
        return True

    def with_db(self, work: Callable[[Database], Awaitable[T]]) -> T:
        """Offline: the work on the store directly."""
        return with_db(self.config, work)

    def call(self, work: Callable[[AsyncFaxServer], Awaitable[T]]) -> T:
        """The work on a connection to the server; a refusal or an unreachable server is one clear line, exit 1."""
        from gateway.client import AsyncFaxServer, FaxApiError

        url = self.url()

        async def run() -> T:
            async with await AsyncFaxServer.connect(url, self.token(), verify=self.verify()) as server:
                return await work(server)

        try:
            return asyncio.run(run())
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            if isinstance(exc.__cause__, ssl.SSLError) or "CERTIFICATE" in str(exc):
                raise click.ClickException(f"TLS with {url} failed ({exc}); pass --ca-file with the CA that "
                                           "signed the server's certificate") from None
            hint = f"; use --offline for {self.offline_use}" if self.offline_use else ""
            raise click.ClickException(f"server not reachable at {url}{hint}") from None
        except httpx.TransportError as exc:
            raise click.ClickException(f"talking to {url} failed: {exc or type(exc).__name__}") from None
        except FaxApiError as exc:
            if exc.status == 401:
                raise FaxApiRefusal(f"{url} refused the credentials ({exc.detail}); set FAXGATE_TOKEN or "
                                    "--token-file, or run as the service user on the server") from None
            raise FaxApiRefusal(exc.detail) from None


def server_options(offline_use: str | None) -> Callable[[F], F]:
    """--config, --server, --token-file, --ca-file and --offline, handed to the command as ``target``; no
    --offline when ``offline_use`` is None (what the command shows lives only in the running server)."""

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def wrapper(*args: Any, config_path: Path | None, server: str | None, token_file: Path | None,
                    ca_file: Path | None, offline: bool = False, **kwargs: Any) -> Any:
            target = Target(config_path, server, token_file, ca_file, offline, offline_use or "")
            source = click.get_current_context().get_parameter_source("server")
            if offline and server and source == click.core.ParameterSource.COMMANDLINE:
                raise click.UsageError("--offline works on the store; it takes no --server")
            return command(*args, target=target, **kwargs)

        options = [
            config_option,
            click.option("--server", envvar="FAXGATE_SERVER", default=None, metavar="URL",
                         help="The faxgate server (default: the config's [http] listener on this machine)."),
            click.option("--token-file", type=click.Path(path_type=Path, dir_okay=False), default=None,
                         help="File holding an API token (default: $FAXGATE_TOKEN, else the local administrator "
                              "token in the data folder)."),
            click.option("--ca-file", envvar="FAXGATE_CA_FILE", type=click.Path(path_type=Path, dir_okay=False),
                         default=None, help="PEM CA that signed an https server's certificate."),
        ]
        if offline_use is not None:
            options.append(click.option("--offline", is_flag=True,
                                        help=f"Work on the store directly, for {offline_use}."))
        decorated: Callable[..., Any] = wrapper
        for option in reversed(options):
            decorated = option(decorated)
        return decorated  # type: ignore[return-value]

    return decorate
