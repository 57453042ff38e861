"""`faxgate events`: the server's event stream as JSON lines, through the API client (the server must be running)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gateway.cli import config_from_option, config_option
from gateway.enums import ServerEvents


def _server_url(server: str | None, config_path: Path | None) -> str:
    """--server, else the [http] listener of the configuration."""
    if server:
        return server
    host, port = config_from_option(config_path).http.listen
    host = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 - all interfaces: reach it locally
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@click.command()
@config_option
@click.option("--server", envvar="FAXGATE_SERVER", help="API base URL (default: the [http] listener of --config).")
@click.option("--token", envvar="FAXGATE_TOKEN", required=True, help="An API token (`faxgate token create`).")
@click.option("--types", default=None, help="Comma-separated event types (OUT_QUEUE,DEVICE_STATUS,...); "
              "default: every type the token may see.")
@click.option("--after", type=click.IntRange(min=0), default=None, help="Replay the stored events after this id.")
@click.option("--count", type=click.IntRange(min=1), default=None, help="Stop after this many events.")
def events(config_path: Path | None, server: str | None, token: str, types: str | None, after: int | None,
           count: int | None) -> None:
    """Print server events as they happen, one JSON object a line (ListenToServerEvents)."""
    import httpx

    from gateway.api.events import message
    from gateway.client import FaxApiError, FaxServer
    from gateway.config.events import topics_from_names

    mask: ServerEvents | None = None
    if types:
        try:
            mask = topics_from_names([name for name in types.split(",") if name.strip()])
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--types") from None
    url = _server_url(server, config_path)
    try:
        with FaxServer.connect(url, token) as fax_server:
            for seen, event in enumerate(fax_server.listen_to_server_events(mask, after), start=1):
                click.echo(message(event))
                sys.stdout.flush()
                if count is not None and seen >= count:
                    return
    except FaxApiError as exc:
        raise click.ClickException(exc.detail + (f" (missing right: {exc.missing_right})"
                                                 if exc.missing_right else "")) from None
    except (OSError, httpx.TransportError) as exc:
        raise click.ClickException(f"cannot reach {url}: {exc}") from None
