"""The three mailbox servers behind one small interface, and a fixture parametrized over them: a real Dovecot
(IMAP), the fake Exchange (EWS) and the fake Graph, each with a person's view of its folders."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Protocol

import pytest
import trustme

from tests.support.dovecot import Dovecot
from tests.support.fake_ews import FakeExchange
from tests.support.fake_graph import FakeGraph

FAX_USER, FAX_PASSWORD = "fax@example.com", "mailbox-secret"


def folder_ids(server: Dovecot, folder: str) -> list[str]:
    """Message-IDs in a Dovecot folder, as a person's mail client sees them."""
    client = server.client(FAX_USER)
    try:
        if not client.folder_exists(folder):
            return []
        client.select_folder(folder)
        found = client.fetch(client.search(["ALL"]), ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
        return sorted(message_from_bytes(data[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"])["Message-ID"]
                      for data in found.values())
    finally:
        client.logout()


def put(server: Dovecot, raw: bytes, folder: str = "INBOX") -> None:
    """A mail arriving in a Dovecot folder."""
    client = server.client(FAX_USER)
    client.append(folder, raw)
    client.logout()


class Mailbox(Protocol):
    """What the test needs from either mailbox server."""

    def table(self) -> str: ...
    def put(self, raw: bytes) -> None: ...
    def message_ids(self, folder: str) -> list[str]: ...
    def received_pdfs(self, folder: str) -> list[bytes]: ...


class ImapMailbox:
    def __init__(self, server: Dovecot) -> None:
        self.server = server

    def table(self) -> str:
        return (f'host = "127.0.0.1"\nport = {self.server.port}\ntls = "none"\nusername = "{FAX_USER}"\n'
                f'password = "{FAX_PASSWORD}"\n')

    def put(self, raw: bytes) -> None:
        put(self.server, raw)

    def message_ids(self, folder: str) -> list[str]:
        return folder_ids(self.server, folder)

    def received_pdfs(self, folder: str) -> list[bytes]:
        client = self.server.client(FAX_USER)
        try:
            if not client.folder_exists(folder):
                return []
            client.select_folder(folder)
            found = client.fetch(client.search(["ALL"]), ["BODY.PEEK[]"]).values()
        finally:
            client.logout()
        pdfs = []
        for data in found:
            mail = message_from_bytes(data[b"BODY[]"], policy=policy.default)
            pdfs += [part.get_content() for part in mail.iter_attachments()  # type: ignore[attr-defined]
                     if part.get_content_type() == "application/pdf"]
        return pdfs


class EwsMailbox:
    def __init__(self, exchange: FakeExchange, ca_file: Path) -> None:
        self.exchange = exchange
        self.ca_file = ca_file

    def table(self) -> str:
        return (f'backend = "ews"\nendpoint = "{self.exchange.endpoint}"\nusername = "{self.exchange.user}"\n'
                f'password = "{self.exchange.password}"\nca_file = "{self.ca_file}"\n')

    def put(self, raw: bytes) -> None:
        self.exchange.deliver(raw)

    def message_ids(self, folder: str) -> list[str]:
        return sorted(item.message_id for item in self.exchange.in_folder(folder))

    def received_pdfs(self, folder: str) -> list[bytes]:
        return [data for item in self.exchange.in_folder(folder) for _name, kind, data in item.attachments
                if kind == "application/pdf"]


class GraphMailbox:
    def __init__(self, graph: FakeGraph, ca_file: Path) -> None:
        self.graph = graph
        self.ca_file = ca_file

    def table(self) -> str:
        return (f'backend = "graph"\nendpoint = "{self.graph.endpoint}"\nauthority = "{self.graph.authority}"\n'
                f'client_id = "{self.graph.client_id}"\nclient_secret = "{self.graph.client_secret}"\n'
                f'address = "{self.graph.user}"\nca_file = "{self.ca_file}"\n')

    def put(self, raw: bytes) -> None:
        self.graph.deliver(raw)

    def message_ids(self, folder: str) -> list[str]:
        return sorted(message.message_id for message in self.graph.in_folder(folder))

    def received_pdfs(self, folder: str) -> list[bytes]:
        return [base64.b64decode(attachment["contentBytes"]) for message in self.graph.in_folder(folder)
                for attachment in message.json_body.get("attachments", [])
                if attachment["contentType"] == "application/pdf"]


@pytest.fixture(params=["imap", "ews", "graph"])
def mailbox(request: pytest.FixtureRequest, ca: trustme.CA, tmp_path: Path) -> Iterator[Mailbox]:
    if request.param == "imap":
        server = Dovecot({FAX_USER: FAX_PASSWORD}, ca).start()
        try:
            yield ImapMailbox(server)
        finally:
            server.close()
        return
    ca_file = tmp_path / "test-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    if request.param == "graph":
        graph = FakeGraph(ca, user=FAX_USER).serve()
        try:
            yield GraphMailbox(graph, ca_file)
        finally:
            graph.close()
        return
    exchange = FakeExchange(ca, user=FAX_USER, password=FAX_PASSWORD).serve()
    try:
        yield EwsMailbox(exchange, ca_file)
    finally:
        exchange.close()


