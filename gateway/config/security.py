"""Principals and what they may do: Windows access rights plus the numbers each may dial."""

from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator

from gateway.config.base import Section
from gateway.config.numbers import check_number_classes
from gateway.enums import AccessRights

RIGHT_NAMES = {right.name.lower(): right for right in AccessRights if right.name}


def rights_from_names(names: list[str]) -> AccessRights:
    """Fold right names ("submit_normal", "query_jobs", ...) into the Windows bit mask."""
    mask = AccessRights(0)
    for name in names:
        mask |= RIGHT_NAMES[name]
    return mask


def _check_rights(names: list[str]) -> list[str]:
    unknown = [name for name in names if name not in RIGHT_NAMES]
    if unknown:
        raise ValueError(f"unknown access right {unknown[0]!r}; known: {', '.join(sorted(RIGHT_NAMES))}")
    return names


class UserSection(Section):
    """A principal that authenticates (SMTP AUTH, API) with a hashed password."""

    name: str
    password_hash: str = ""
    """From `faxgate hash-password`; never the password itself."""
    email: str = ""
    senders: list[str] = Field(default_factory=list)
    """Envelope senders or "@domain"s this user may send as (Postfix's smtpd_sender_login_maps); empty: `email`."""
    display_name: str = ""
    """Shown in the cover page's From row when the mail itself brings no display name ("Dr. Ada Lovelace")."""
    rights: list[str] = Field(default_factory=lambda: ["submit_normal"])
    destinations: list[str] = Field(default_factory=list)
    """Number classes closed by [numbers].blocked that this user may dial anyway, e.g. ["international"]."""
    _check = field_validator("rights")(_check_rights)
    _check_destinations = field_validator("destinations")(check_number_classes)


class TrustedNetworkSection(Section):
    """Clients that may submit without authenticating, such as a mail server on the same host."""

    network: str
    rights: list[str] = Field(default_factory=lambda: ["submit_normal"])
    allowed_senders: list[str] = Field(default_factory=list)
    """Envelope senders or @domains accepted from this network; empty accepts any sender."""
    destinations: list[str] = Field(default_factory=list)
    """Number classes closed by [numbers].blocked that senders from this network may dial anyway."""
    _check = field_validator("rights")(_check_rights)
    _check_destinations = field_validator("destinations")(check_number_classes)

    @field_validator("network")
    @classmethod
    def _valid_network(cls, value: str) -> str:
        ipaddress.ip_network(value, strict=False)
        return value


class SecuritySection(Section):
    """Who may submit faxes and with what rights."""

    users: list[UserSection] = Field(default_factory=list)
    trusted_networks: list[TrustedNetworkSection] = Field(
        default_factory=lambda: [
            TrustedNetworkSection(network="127.0.0.1/32"),
            TrustedNetworkSection(network="::1/128"),
        ]
    )
