"""Who is submitting: SMTP AUTH users (PLAIN/LOGIN, only under TLS), trusted networks with sender allow-lists.

Every principal carries Windows access rights and the number classes it may dial beyond the defaults.
"""

from __future__ import annotations

import asyncio
import binascii
import hashlib
import ipaddress
from base64 import b64decode
from dataclasses import dataclass
from typing import Literal

from aiosmtpd.smtp import MISSING, SMTP, Session

from gateway.config.security import SecuritySection, TrustedNetworkSection, UserSection, rights_from_names
from gateway.enums import AccessRights
from gateway.passwords import UNUSABLE_HASH, check_password

PrincipalKind = Literal["user", "network", "token"]
NETWORK_PREFIX = "network "
TOKEN_PRINCIPAL_PREFIX = "token "  # noqa: S105 - a principal name prefix, not a secret
VERIFIED_CACHE_SIZE = 1024


@dataclass(frozen=True, slots=True)
class Principal:
    """A submitter: an authenticated user or a trusted network, with what it may do."""

    name: str
    """The user name, "network 127.0.0.1/32" or "token NAME" (an API token); stored as submissions.principal."""
    kind: PrincipalKind
    rights: AccessRights
    destinations: frozenset[str]
    """Number classes this principal may dial although [numbers].blocked closes them."""
    email: str = ""
    display_name: str = ""
    """How the cover page names this sender when a mail brings no display name of its own."""
    senders: tuple[str, ...] = ()
    """A user's own addresses and "@domain"s (security.users.senders, else its email): all it may send as."""

    def may_send_as(self, address: str) -> bool:
        """A user only as an address it owns (none when it owns none); a network as its allow-list says."""
        if self.kind == "user" and not self.senders:
            return False
        return _sender_allowed(address, list(self.senders))

    @property
    def may_submit(self) -> bool:
        """True if it holds any submit right."""
        return bool(self.rights & (AccessRights.SUBMIT_LOW | AccessRights.SUBMIT_NORMAL | AccessRights.SUBMIT_HIGH))


def _user_principal(user: UserSection) -> Principal:
    senders = tuple(user.senders) or ((user.email,) if user.email else ())
    return Principal(user.name, "user", rights_from_names(user.rights), frozenset(user.destinations), user.email,
                     user.display_name, senders)


def _network_principal(network: TrustedNetworkSection) -> Principal:
    return Principal(NETWORK_PREFIX + network.network, "network", rights_from_names(network.rights),
                     frozenset(network.destinations), senders=tuple(network.allowed_senders))


def token_principal(name: str, rights: AccessRights) -> Principal:
    """An API token as a principal: its rights and no number classes beyond the defaults."""
    return Principal(TOKEN_PRINCIPAL_PREFIX + name, "token", rights, frozenset())


def principal_by_name(security: SecuritySection, name: str) -> Principal | None:
    """The principal stored on a submission, as the configuration describes it now (None if it was removed)."""
    for user in security.users:
        if user.name == name:
            return _user_principal(user)
    for network in security.trusted_networks:
        if NETWORK_PREFIX + network.network == name:
            return _network_principal(network)
    return None


def _sender_allowed(sender: str, allowed: list[str]) -> bool:
    """Empty allows anyone; "@example.com" allows a domain; anything else is one address (case-insensitive)."""
    if not allowed:
        return True
    sender = sender.lower()
    domain = "@" + sender.rpartition("@")[2]
    return any(entry.lower() in (sender, domain) for entry in allowed)


class Authority:
    """Answers "who is this?" for one configuration; password checks run off the event loop."""

    def __init__(self, security: SecuritySection) -> None:
        self.users = {user.name: user for user in security.users}
        self.networks = [(ipaddress.ip_network(net.network, strict=False), net) for net in security.trusted_networks]
        self._verified: set[tuple[str, bytes]] = set()
        """Logins already proven, so a client that logs in for every mail costs one scrypt, not one each."""

    async def login(self, name: str, password: str) -> Principal | None:
        """The user's principal when the password matches its scrypt hash, else None."""
        user = self.users.get(name)
        if user is None or not user.password_hash:
            await asyncio.to_thread(check_password, password, UNUSABLE_HASH)  # same time as a wrong password
            return None
        key = (name, hashlib.sha256(f"{user.password_hash}\0{password}".encode()).digest())
        if key not in self._verified:
            if not await asyncio.to_thread(check_password, password, user.password_hash):
                return None  # failures are never cached: each guess costs a full scrypt
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                self._verified.clear()
            self._verified.add(key)
        return _user_principal(user)

    def from_network(self, peer: str, sender: str) -> tuple[Principal | None, str]:
        """The trusted network `peer` is in and allows `sender` from; else None and why not (for the reply)."""
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return None, ""
        matched = [net for network, net in self.networks if address in network]
        for net in matched:
            if _sender_allowed(sender, net.allowed_senders):
                return _network_principal(net), ""
        if matched:
            return None, "this sender may not submit faxes from this network without authenticating"
        return None, ""


async def read_credentials(server: SMTP, args: list[str]) -> tuple[str, str] | None:
    """Run the PLAIN or LOGIN exchange (RFC 4616 / draft-murchison-sasl-login); None after a protocol error reply."""
    mechanism = args[0].upper()
    initial = args[1] if len(args) > 1 else None
    if mechanism == "PLAIN":
        blob = await _decoded(server, initial, "")
        if blob is None:
            return None
        parts = blob.split(b"\x00")
        if len(parts) != 3:
            await server.push("501 5.5.2 Cannot split the PLAIN credentials")
            return None
        login, password = parts[1], parts[2]
    elif mechanism == "LOGIN":
        login_blob = await _decoded(server, initial, "Username:")
        if login_blob is None:
            return None
        password_blob = await _decoded(server, None, "Password:")
        if password_blob is None:
            return None
        login, password = login_blob, password_blob
    else:
        await server.push("504 5.5.4 Unrecognized authentication type")
        return None
    try:
        return login.decode("utf-8"), password.decode("utf-8")
    except UnicodeDecodeError:
        return "", ""


async def _decoded(server: SMTP, initial: str | None, challenge: str) -> bytes | None:
    """The client's base64 answer (sent with the command or after a 334 challenge), decoded."""
    if initial is None:
        answer = await server.challenge_auth(challenge)
        return None if answer is MISSING else bytes(answer)
    if initial == "=":
        return b""
    try:
        return b64decode(initial.encode(), validate=True)
    except (binascii.Error, ValueError):
        await server.push("501 5.5.2 Cannot decode base64")
        return None


def session_principal(session: Session) -> Principal | None:
    """The principal an earlier AUTH stored on the session."""
    data = getattr(session, "auth_data", None)
    return data if session.authenticated and isinstance(data, Principal) else None

