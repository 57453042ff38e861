"""Server-wide sections: where data lives, the HTTP listener, logging, and the Windows outbox/inbox/archive settings."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from gateway.config.base import Section
from gateway.config.types import (
    ClockTime,
    Duration,
    FolderMode,
    Listen,
    Size,
    TimeZoneName,
    parse_clock_time,
    parse_duration,
)
from gateway.enums import LogLevel


class ServerSection(Section):
    """Identity and the data directory."""

    name: str = "faxgate"
    data_dir: Path = Path("faxgate-data")
    node_id: str = ""
    """Names this node among several sharing one database; empty means the id kept in data_dir/node-id (made at
    first start), so a node restarted after a crash takes back its own claimed jobs at once."""
    shutdown_grace: Duration = parse_duration("30s")
    """On SIGTERM/SIGINT, calls in progress get this long to finish their page in flight; stopping then takes
    at most about 15 s more (cut calls recorded, services stopped, store closed)."""


class StorageSection(Section):
    """The job store: SQLite in the data directory unless a database URL is given."""

    url: str = ""
    """Empty for SQLite under data_dir; "postgresql://user@host/db" for several nodes on one database."""
    pool_size: int = Field(default=5, ge=1, le=100)


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    return host in LOOPBACK_HOSTS or host.startswith("127.")


class HttpSection(Section):
    """The HTTP API and health endpoint: loopback by default; TLS whenever it listens where others can reach it."""

    listen: Listen = ("127.0.0.1", 8025)
    enabled: bool = True
    tls_cert: Path | None = None
    tls_key: Path | None = None
    """PEM certificate chain and key: the listener speaks HTTPS. Required when listen is not a loopback address."""
    allow_plaintext: bool = False
    """Serve plain HTTP on a non-loopback address anyway (tokens and passwords then cross the network in clear)."""

    @model_validator(mode="after")
    def _tls_when_reachable(self) -> HttpSection:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("give both http.tls_cert and http.tls_key, or neither")
        host = self.listen[0]
        if self.enabled and self.tls_cert is None and not is_loopback(host) and not self.allow_plaintext:
            raise ValueError(f"http.listen {host!r} is not a loopback address, so it needs http.tls_cert and "
                             "http.tls_key (or http.allow_plaintext = true to send tokens in clear)")
        return self

    @property
    def tls(self) -> bool:
        """Whether the listener speaks HTTPS."""
        return self.tls_cert is not None


LevelName = Literal["none", "min", "med", "max"]


class EventLoggingSection(Section):
    """Per-category thresholds, after IFaxEventLogging (InitEventsLevel, InboundEventsLevel, ...)."""

    init: LevelName = "max"
    inbound: LevelName = "med"
    outbound: LevelName = "med"
    general: LevelName = "med"

    def level(self, category: str) -> LogLevel:
        """The threshold of one category as the Windows enum."""
        return LogLevel[str(getattr(self, category)).upper()]


class LoggingSection(Section):
    """One line per event, as text for people or JSON for log shippers."""

    format: Literal["text", "json"] = "text"
    events: EventLoggingSection = EventLoggingSection()


class OutboxSection(Section):
    """IFaxOutgoingQueue: retries, retry delay, discount window, age limit, branding, pause and block."""

    retries: int = Field(default=3, ge=0, le=100)
    retry_delay: Duration = parse_duration("10m")
    discount_start: ClockTime = parse_clock_time("20:00")
    discount_end: ClockTime = parse_clock_time("07:00")
    age_limit: Duration = parse_duration("0s")
    """How long an unsent or failed job is kept (Windows AgeLimit, HylaFAX DirtyDays); 0 keeps it forever."""
    branding: bool = True
    branding_format: str = "{date} {time}|From: {tsid}|To: {recipient}|Page {page} of {pages}"
    """The page header line (HylaFAX TagLineFormat): "|" separates columns; {date} {time} {tsid} {sender}
    {recipient} {page} {pages}. Page content is kept below its band, never under it."""
    use_device_tsid: bool = True
    paused: bool = False
    blocked: bool = False
    max_pages: int = Field(default=200, ge=1)
    max_recipients: int = Field(default=50, ge=1)
    timezone: TimeZoneName = "UTC"

    @field_validator("branding_format")
    @classmethod
    def _formats(cls, value: str) -> str:
        from gateway.render.header import check_header_format  # Pillow and numpy only when the key is given

        check_header_format(value)
        return value


class InboxSection(Section):
    """IFaxIncomingQueue: whether calls are answered at all."""

    blocked: bool = False


class ArchiveFolderSection(Section):
    """IFaxOutgoingArchive / IFaxIncomingArchive."""

    enabled: bool = True
    folder: Path | None = None
    """Empty for a folder under data_dir."""
    folder_mode: FolderMode = 0o700
    """Mode of the folders faxgate creates here (files get it without x): "0750" shares them with a group on purpose."""
    age_limit: Duration = parse_duration("0s")
    quota_warning: bool = True
    high_watermark: Size = 1024 * 1024 * 1024
    low_watermark: Size = 768 * 1024 * 1024


class ArchiveSection(Section):
    """Archives of sent and received faxes."""

    outgoing: ArchiveFolderSection = ArchiveFolderSection()
    incoming: ArchiveFolderSection = ArchiveFolderSection()


class ReceiptsSection(Section):
    """IFaxReceiptOptions: the smarthost that carries receipts and routed faxes."""

    enabled: bool = True
    maildir: Path | None = None
    """Deliver receipts, bounces and faxes routed by e-mail into this Maildir instead of the smarthost (a relative
    path is taken from the configuration file's folder). The embedded defaults use faxgate-data/mail."""
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    sender: str = "faxgate@localhost"
    security: Literal["none", "starttls", "tls"] = "none"
    allow_cleartext_password: bool = False
    """Let a password cross a connection with security = "none" (only for a smarthost on this host or a safe wire)."""
    username: str = ""
    password: str = ""
    """Write "${ENV_NAME}" to take it from the environment."""

    @field_validator("password")
    @classmethod
    def _not_in_clear(cls, value: str, info: ValidationInfo) -> str:
        if value and info.data.get("security") == "none" and not info.data.get("allow_cleartext_password"):
            raise ValueError('would be sent in clear text with security = "none": use "starttls" or "tls", '
                             "or set allow_cleartext_password = true if the connection never leaves a trusted wire")
        return value
    attach_fax: bool = False
    group_broadcast: bool = False
    use_for_inbound_routing: bool = True
