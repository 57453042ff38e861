"""What `faxgate serve` prints for the console: its URL."""

from __future__ import annotations


def console_url(address: str) -> str:
    """The console's URL for an HTTP listen address ("0.0.0.0:8025" is reached on 127.0.0.1)."""
    host, _, port = address.rpartition(":")
    host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(host, f"[{host}]" if ":" in host else host)  # noqa: S104
    return f"http://{host}:{port}/console/"
