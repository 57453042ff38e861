"""Mailboxes faxgate polls for mail to fax and delivers received faxes into: IMAP, EWS (on-premises Exchange) and
Microsoft Graph (Exchange Online)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from gateway.config.base import Section
from gateway.config.types import Duration, parse_duration

MailboxBackendName = Literal["imap", "ews", "graph"]


class MailboxSection(Section):
    """One mailbox: where it is, how to log in, which folders, and who the mail in it is sent as."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    """How logs, status and the inbound `mailbox` method name this mailbox."""
    backend: MailboxBackendName = "imap"
    host: str = ""
    """IMAP: the server's name."""
    port: int = Field(default=993, ge=1, le=65535)
    tls: Literal["implicit", "starttls", "none"] = "implicit"
    """IMAP: "implicit" (port 993), "starttls", or "none" (only for a server on the same host)."""
    endpoint: str = Field(default="", pattern=r"^(https?://.+)?$")
    """EWS: the service URL, such as "https://mail.example.com/EWS/Exchange.asmx" (no autodiscover).
    Graph: the API root; empty: "https://graph.microsoft.com/v1.0"."""
    auth: Literal["basic", "ntlm", "oauth2"] = "basic"
    """EWS: Basic or NTLM with username/password, or OAuth2 client credentials (client_id, client_secret,
    tenant_id)."""
    address: str = ""
    """EWS and Graph: the mailbox's primary SMTP address (EWS: empty means `username`)."""
    client_id: str = ""
    client_secret: str = ""
    tenant_id: str = ""
    token_url: str = ""
    """EWS OAuth2: the token endpoint; empty: Microsoft's for tenant_id."""
    authority: str = ""
    """Graph: the MSAL authority; empty: "https://login.microsoftonline.com/<tenant_id>"."""
    ca_file: Path | None = None
    """PEM bundle to verify the server with instead of the system's; verification is never turned off."""
    username: str = ""
    password: str = ""
    """Write "${ENV_NAME}" to take it from the environment."""
    intake: bool = True
    """Poll `folder` for mail to fax; false for a mailbox used only to deliver received faxes into."""
    folder: str = "INBOX"
    processed_folder: str = "Processed"
    """Where a mail goes once its fax is submitted (created when missing)."""
    failed_folder: str = "Failed"
    """Where a refused mail goes, after the sender has been told why (created when missing)."""
    poll_interval: Duration = parse_duration("60s")
    """How often `folder` is read; with IDLE a new mail is read at once and this is the longest gap."""
    idle: bool = True
    """Wait with IMAP IDLE between polls where the server offers it."""
    owner: str = ""
    """Required for intake: the security.users name the mail is faxed as (rights, number classes, rate limit),
    unless `senders` maps the From address to another user."""
    senders: dict[str, str] = Field(default_factory=dict)
    """From address (or "@domain") -> security.users name, for a shared mailbox that several users mail."""
    allowed_senders: list[str] = Field(default_factory=list)
    """From addresses or "@domain"s whose mail is faxed; empty: any mail that reaches the mailbox."""
    timeout: Duration = parse_duration("30s")
    """Longest wait for the server on one command."""
    claim_lease: Duration = parse_duration("2m")
    """Nodes sharing a store may poll one mailbox: the node that records a mail moves it; another node finishes
    the move only after this long (after that node crashed). The same node, restarted, finishes it at once."""
    retry_max: Duration = parse_duration("5m")
    """Longest wait between reconnects while the server is down (doubling from 2 s)."""

    @model_validator(mode="after")
    def _distinct_folders(self) -> MailboxSection:
        if self.intake and len({self.folder, self.processed_folder, self.failed_folder}) < 3:
            raise ValueError("folder, processed_folder and failed_folder must be three different folders")
        if self.backend == "imap" and not (self.host and self.username):
            raise ValueError("an IMAP mailbox needs host and username")
        if self.backend == "ews" and not self.endpoint:
            raise ValueError("an EWS mailbox needs endpoint (the EWS URL)")
        if self.backend == "ews" and self.auth == "oauth2" and not (self.client_id and self.client_secret):
            raise ValueError("OAuth2 needs client_id and client_secret")
        if self.backend == "graph" and not (self.client_id and self.client_secret and self.address
                                            and (self.tenant_id or self.authority)):
            raise ValueError("a Graph mailbox needs client_id, client_secret, tenant_id (or authority) and address")
        if self.intake and not self.owner:
            raise ValueError("a mailbox that takes mail to fax needs an owner (a security.users name)")
        return self


class IntakeSection(Section):
    """Which intake sources run (entry point group faxgate.intake_sources); each runs only if configured."""

    sources: list[str] = Field(default_factory=lambda: ["smtp", "mailbox"])
