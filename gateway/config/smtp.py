"""The SMTP listener: where it listens, which domains are fax domains, limits and TLS."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from gateway.config.base import Section
from gateway.config.types import Listen, Size


class SmtpSection(Section):
    """Mail intake; addresses are NUMBER@<fax domain>."""

    enabled: bool = True
    listen: Listen = ("127.0.0.1", 2525)
    hostname: str = "faxgate.localhost"
    fax_domains: list[str] = Field(default_factory=lambda: ["fax.localhost"])
    default_country: str = "US"
    max_message_size: Size = 25 * 1024 * 1024
    tls_cert: Path | None = None
    tls_key: Path | None = None
    implicit_tls_listen: Listen | None = None
