"""[events]: how server events reach clients that hold no connection (webhooks) and how open streams are kept up."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, field_validator, model_validator

from gateway.config.base import Section
from gateway.config.types import Duration, parse_duration
from gateway.enums import ServerEvents

EVENT_TYPE_NAMES = [topic.name for topic in ServerEvents if topic and topic.name]
"""FAX_SERVER_EVENTS_TYPE_ENUM names without FAX_EVENT_TYPE_, as the API and webhooks spell them."""


def topics_from_names(names: list[str]) -> ServerEvents:
    """A mask from type names ("OUT_QUEUE"); ValueError naming the first unknown one."""
    mask = ServerEvents.NONE
    for name in names:
        key = name.strip().upper().removeprefix("FAX_EVENT_TYPE_")
        if key not in EVENT_TYPE_NAMES:
            raise ValueError(f"unknown event type {name!r}; known: {', '.join(EVENT_TYPE_NAMES)}")
        mask |= ServerEvents[key]
    return mask


class EventWebhookSection(Section):
    """One subscription: every event of ``types`` is POSTed to ``url`` as JSON, in order, at least once."""

    name: str = Field(default="", pattern=r"^[A-Za-z0-9_.:-]{0,40}$")
    """Keeps the subscription's place in the event log; empty: made from the URL (a new URL starts afresh)."""
    url: str = Field(pattern=r"^https?://")
    types: list[str] = Field(min_length=1)
    secret: str = ""
    """HMAC-SHA256 key of X-Faxgate-Signature; write "${ENV_NAME}" to take it from the environment."""
    timeout: Duration = parse_duration("10s")
    retry_min: Duration = parse_duration("1s")
    retry_max: Duration = parse_duration("5m")
    """Failed posts are retried after retry_min, doubling up to retry_max, until the receiver takes the event."""

    @field_validator("types")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        topics_from_names(value)
        return [name.strip().upper().removeprefix("FAX_EVENT_TYPE_") for name in value]

    @model_validator(mode="after")
    def _ordered(self) -> EventWebhookSection:
        if self.retry_min <= timedelta(0) or self.retry_max < self.retry_min:
            raise ValueError("retry_min must be above 0 and retry_max at least retry_min")
        return self

    @property
    def mask(self) -> ServerEvents:
        """The subscribed types as a flag mask."""
        return topics_from_names(self.types)


class EventsSection(Section):
    """The server event log (ListenToServerEvents) and its delivery outside the process."""

    retention_days: float = Field(default=7, ge=0)
    """A client reconnecting with its last event id gets what it missed within this many days; 0 keeps all."""
    poll_interval: Duration = parse_duration("5s")
    """Each node also looks for new events this often (PostgreSQL NOTIFY wakes it at once; SQLite written by the
    command line waits for this)."""

    keepalive: Duration = parse_duration("15s")
    """An idle event stream gets a comment line this often, so proxies and clients know it is alive."""
    webhooks: list[EventWebhookSection] = Field(default_factory=list)

    @field_validator("webhooks")
    @classmethod
    def _unique(cls, value: list[EventWebhookSection]) -> list[EventWebhookSection]:
        names = [hook.name for hook in value if hook.name]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"webhook name {duplicates[0]!r} is used twice")
        return value
