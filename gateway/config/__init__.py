"""faxgate's configuration: one TOML file, validated into one typed model, every mistake named by key path."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from gateway.config.base import Section
from gateway.config.devices import DeviceSection, SimulationSection
from gateway.config.events import EventsSection
from gateway.config.mailboxes import IntakeSection, MailboxSection
from gateway.config.numbers import NumbersSection
from gateway.config.outbound import OutboundSection
from gateway.config.render import RenderSection
from gateway.config.routing import InboundSection
from gateway.config.sections import (
    ArchiveSection,
    HttpSection,
    InboxSection,
    LoggingSection,
    OutboxSection,
    ReceiptsSection,
    ServerSection,
    StorageSection,
)
from gateway.config.security import SecuritySection
from gateway.config.smtp import SmtpSection

__all__ = ["ConfigError", "FaxgateConfig", "default_config", "load_config", "parse_config"]

_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_SECRET_WORDS = ("password", "secret", "token", "credential", "api_key", "url")


class ConfigError(Exception):
    """Every problem found in a configuration, each as "key.path: reason"."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class FaxgateConfig(Section):
    """The whole configuration; section names follow the Windows Fax Service where the concept is the same."""

    server: ServerSection = ServerSection()
    storage: StorageSection = StorageSection()
    events: EventsSection = EventsSection()
    http: HttpSection = HttpSection()
    smtp: SmtpSection = SmtpSection()
    intake: IntakeSection = IntakeSection()
    mailboxes: list[MailboxSection] = Field(default_factory=list)
    security: SecuritySection = SecuritySection()
    numbers: NumbersSection = NumbersSection()
    logging: LoggingSection = LoggingSection()
    outbox: OutboxSection = OutboxSection()
    outbound: OutboundSection = OutboundSection()
    inbox: InboxSection = InboxSection()
    inbound: InboundSection = InboundSection()
    archive: ArchiveSection = ArchiveSection()
    receipts: ReceiptsSection = ReceiptsSection()
    render: RenderSection = RenderSection()
    devices: list[DeviceSection] = Field(default_factory=list)
    simulation: SimulationSection = SimulationSection()

    def device_ids(self) -> dict[str, int]:
        """Numeric device ids (1, 2, ... in configuration order); 0 is reserved for global extension data."""
        return {device.name: index for index, device in enumerate(self.devices, start=1)}

    @property
    def database_url(self) -> str:
        """The SQLAlchemy async URL of the store."""
        url = self.storage.url
        if not url:
            return f"sqlite+aiosqlite:///{(self.server.data_dir / 'faxgate.db').resolve()}"
        if url.startswith(("postgresql://", "postgres://")):
            return "postgresql+asyncpg://" + url.split("://", 1)[1]
        if url.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + url.split(":///", 1)[1]
        return url


def default_config(data_dir: Path | None = None) -> FaxgateConfig:
    """The embedded defaults: SQLite in ./faxgate-data, local ports, two lines on the simulated network."""
    config = FaxgateConfig(
        simulation=SimulationSection(enabled=True),
        devices=[
            DeviceSection(name="sim0", provider="simulated", number="5550200", tsid="+1 555 0200",
                          csid="+1 555 0200"),
            DeviceSection(name="sim1", provider="simulated", number="5550201", tsid="+1 555 0201",
                          csid="+1 555 0201"),
        ],
    )
    if data_dir is not None:
        config.server.data_dir = data_dir
    config.receipts.maildir = config.server.data_dir / "mail"
    return config


def _expand_env(value: Any, path: str, problems: list[str]) -> Any:
    """Replace "${NAME}" strings by the environment variable NAME, so secrets stay out of the file."""
    if isinstance(value, dict):
        return {key: _expand_env(item, f"{path}.{key}" if path else key, problems) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand_env(item, f"{path}[{index}]", problems) for index, item in enumerate(value)]
    if isinstance(value, str) and (match := _ENV_REF.match(value)):
        name = match.group(1)
        if name not in os.environ:
            problems.append(f"{path}: environment variable {name} is not set")
            return ""
        return os.environ[name]
    return value


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _secret_name(key: object) -> bool:
    """Keys whose values are never printed: passwords, hashes, webhook secrets, tokens, and URLs (they carry logins)."""
    return isinstance(key, str) and not key.startswith("allow_") and any(word in key.lower() for word in _SECRET_WORDS)


def _holds_secret(value: Any) -> bool:
    """True if a TOML value is a table (or list of tables) with a secret key anywhere inside."""
    if isinstance(value, dict):
        return any(_secret_name(key) or _holds_secret(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_secret(item) for item in value)
    return False


def _describe(error: dict[str, Any]) -> str:
    message = str(error["msg"])
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    message = message.removeprefix("Value error, ")
    value = error.get("input")
    if any(_secret_name(key) for key in error["loc"]) or _holds_secret(value):
        if str(value) and str(value) in message:
            message = "not a valid value"
        elif kind == "value_error":
            return message
        return f"{message} (the {type(value).__name__} given is not shown: it may be a secret)"
    if kind in {"int_parsing", "bool_parsing", "float_parsing", "string_type", "literal_error",
                "greater_than_equal", "less_than_equal", "string_pattern_mismatch"}:
        message = f"{message}, got {value!r}"
    return message


def parse_config(data: dict[str, Any]) -> FaxgateConfig:
    """Validate a parsed TOML document; raise ConfigError listing every problem."""
    problems: list[str] = []
    expanded = _expand_env(data, "", problems)
    try:
        config = FaxgateConfig.model_validate(expanded)
    except ValidationError as exc:
        problems.extend(f"{_location(err['loc'])}: {_describe(dict(err))}" for err in exc.errors())
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    names = [device.name for device in config.devices]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError([f"devices: device name {duplicates[0]!r} is used twice"])
    _check_mailboxes(config)
    return config


def _check_mailboxes(config: FaxgateConfig) -> None:
    """Mailbox names are unique and each owner and mapped sender is a configured user."""
    problems: list[str] = []
    users = {user.name for user in config.security.users}
    seen: set[str] = set()
    for index, mailbox in enumerate(config.mailboxes):
        if mailbox.name in seen:
            problems.append(f"mailboxes[{index}].name: mailbox name {mailbox.name!r} is used twice")
        seen.add(mailbox.name)
        owner = [("owner", mailbox.owner)] if mailbox.owner else []
        for where, user in [*owner, *((f"senders.{k}", v) for k, v in mailbox.senders.items())]:
            if user not in users:
                problems.append(f"mailboxes[{index}].{where}: {user!r} is not a user in [[security.users]]")
    if problems:
        raise ConfigError(problems)


def load_config(path: Path) -> FaxgateConfig:
    """Read and validate a TOML file; relative paths in it are taken from the file's folder."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the file ({exc.strerror})"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text (byte {exc.start} cannot be read)"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML ({exc})"]) from None
    config = parse_config(data)
    if not config.server.data_dir.is_absolute():
        config.server.data_dir = (path.parent / config.server.data_dir).resolve()
    if config.receipts.maildir is not None and not config.receipts.maildir.is_absolute():
        config.receipts.maildir = (path.parent / config.receipts.maildir).resolve()
    return config
