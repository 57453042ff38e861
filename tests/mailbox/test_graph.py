"""The Graph backend: real msal and httpx against a local fake Graph and token endpoint over HTTPS with a test CA:
client credentials, delta queries (nextLink paging, then only changes by deltaLink), MIME by $value, move,
create with a file attachment, 429 with Retry-After, 401 after the token expired, and the source on it."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import trustme

from gateway.config import parse_config
from gateway.config.mailboxes import MailboxSection
from gateway.mailbox.backend import MailboxUnavailable
from gateway.mailbox.graph import GraphBackend
from gateway.mailbox.source import MailboxSource
from gateway.storage import Database
from gateway.storage.mailbox import read_sync_state
from gateway.storage.submissions import list_submissions
from tests.intake.conftest import Sink
from tests.mailbox.conftest import fax_mail, pdf_bytes
from tests.support.fake_graph import FakeGraph


@pytest.fixture
def graph(ca: trustme.CA) -> Iterator[FakeGraph]:
    fake = FakeGraph(ca).serve()
    yield fake
    fake.close()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "graph-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def graph_entry(graph: FakeGraph, ca_file: Path, **overrides: Any) -> dict[str, Any]:
    return {"name": "m365", "backend": "graph", "endpoint": graph.endpoint, "authority": graph.authority,
            "client_id": graph.client_id, "client_secret": graph.client_secret, "address": graph.user,
            "ca_file": str(ca_file), "owner": "alice", "poll_interval": "1h", **overrides}


def backend(graph: FakeGraph, ca_file: Path, **overrides: Any) -> GraphBackend:
    return GraphBackend(MailboxSection.model_validate(graph_entry(graph, ca_file, **overrides)))


def test_delta_fetch_move_find_and_create(graph: FakeGraph, ca_file: Path) -> None:
    for number in range(3):
        graph.deliver(fax_mail(message_id=f"<m{number}@example.com>"))
    api = backend(graph, ca_file)
    api.ensure_folder("Processed")
    first = api.list_items("INBOX")
    assert len(first) == 3
    assert len(graph.graph_calls("GET", r"/messages/delta$")) == 2  # three mails in pages of two: one nextLink
    raw = api.fetch_mime("INBOX", first[0])
    assert raw is not None and b"<m0@example.com>" in raw
    assert api.move("INBOX", first[0], "Processed") is True
    assert api.move("INBOX", first[0], "Processed") is False  # gone: no error
    graph.deliver(fax_mail(message_id="<m9@example.com>"))
    calls_before = len(graph.calls)
    second = api.list_items("INBOX")
    assert second[:2] == first[1:] and len(second) == 3
    [delta] = graph.graph_calls("GET", r"/messages/delta$")[-1:]
    assert graph.calls.index(delta) >= calls_before and "$deltatoken" in delta.query  # only the changes
    assert api.find("Processed", "<m0@example.com>") is not None
    assert api.find("Processed", "<nothing@example.com>") is None

    pdf = pdf_bytes("Received")
    api.create_item("Faxes/Received", fax_mail(subject="Fax from ACME", message_id="<fax-3@fax.test>", pdf=pdf))
    [created] = graph.in_folder("Faxes/Received")
    body = created.json_body
    assert (body["subject"], body["internetMessageId"]) == ("Fax from ACME", "<fax-3@fax.test>")
    [attachment] = body["attachments"]
    assert attachment["@odata.type"] == "#microsoft.graph.fileAttachment"
    assert (attachment["name"], attachment["contentType"]) == ("invoice.pdf", "application/pdf")
    assert base64.b64decode(attachment["contentBytes"]) == pdf
    assert body["singleValueExtendedProperties"] == [{"id": "Integer 0x0E07", "value": "1"}]  # not a draft

    [token] = graph.token_requests
    assert (token["grant_type"], token["client_id"], token["scope"]) == (
        "client_credentials", "app-id", "https://graph.microsoft.com/.default")
    assert {call.authorization for call in graph.calls} == {"Bearer graph-token-1"}
    [move] = graph.graph_calls("POST", r"/messages/[^/]+/move$")[:1]
    processed = graph.folder_named("Processed")
    assert processed is not None and json.loads(move.body) == {"destinationId": processed.id}


def test_a_delta_link_graph_no_longer_takes_starts_the_folder_over(graph: FakeGraph, ca_file: Path) -> None:
    graph.deliver(fax_mail())
    api = backend(graph, ca_file)
    listed = api.list_items("INBOX")
    graph.forget_delta_links()  # 410 syncStateNotFound for the stored one
    assert api.list_items("INBOX") == listed
    refused, again = graph.graph_calls("GET", r"/messages/delta$")[1:]
    assert "$deltatoken" in refused.query and "$deltatoken" not in again.query  # the whole folder, once more
    assert "$deltatoken" in api.sync_state()["INBOX"]["delta"]


def test_throttling_gives_the_retry_after(graph: FakeGraph, ca_file: Path) -> None:
    api = backend(graph, ca_file)
    api.list_items("INBOX")
    graph.throttle = [30]
    with pytest.raises(MailboxUnavailable, match="429") as raised:
        api.list_items("INBOX")
    assert raised.value.retry_after == 30.0


def test_a_401_after_the_token_expired_gets_a_new_token(graph: FakeGraph, ca_file: Path) -> None:
    api = backend(graph, ca_file)
    api.list_items("INBOX")
    graph.expire_tokens()
    with pytest.raises(MailboxUnavailable, match="401"):
        api.list_items("INBOX")
    graph.deliver(fax_mail())
    assert len(api.list_items("INBOX")) == 1
    assert len(graph.token_requests) == 2 and graph.calls[-1].authorization == "Bearer graph-token-2"


def test_tls_is_verified(graph: FakeGraph, tmp_path: Path) -> None:
    other = trustme.CA()
    wrong = tmp_path / "other-ca.pem"
    other.cert_pem.write_to_path(str(wrong))
    with pytest.raises(MailboxUnavailable):
        backend(graph, wrong).list_items("INBOX")
    assert graph.calls == []


def test_wrong_secret_is_unavailable(graph: FakeGraph, ca_file: Path) -> None:
    with pytest.raises(MailboxUnavailable, match="invalid_client"):
        backend(graph, ca_file, client_secret="wrong").list_items("INBOX")


async def test_source_on_graph_submits_moves_and_rides_out_throttling(tmp_path: Path, graph: FakeGraph,
                                                                      ca_file: Path, db: Database,
                                                                      sink: Sink) -> None:
    config = parse_config({
        "server": {"data_dir": str(tmp_path / "data")},
        "security": {"users": [{"name": "alice", "email": "alice@example.com", "rights": ["submit_normal"]}]},
        "receipts": {"smtp_host": "127.0.0.1", "smtp_port": sink.port, "sender": "faxgate@fax.test"},
        "mailboxes": [graph_entry(graph, ca_file)],
    })
    graph.deliver(fax_mail(message_id="<g-1@example.com>", pdf=pdf_bytes("Graph")))
    source = MailboxSource(config, db, config.mailboxes[0])
    await source.poll()
    assert source.state == "ready", source.reason
    async with db.transaction() as conn:
        [submission] = await list_submissions(conn)
    assert (submission.source, submission.principal) == ("graph", "alice")
    assert [m.message_id for m in graph.in_folder("Processed")] == ["<g-1@example.com>"]

    graph.throttle = [120]
    before = time.time()
    await source.poll()
    assert source.state == "retrying" and "throttled" in source.reason
    assert source.retry_at is not None and source.retry_at >= before + 120  # the server's Retry-After, not 2 s
    graph.fail_with = [500]
    await source.poll()
    assert source.state == "retrying" and source.failures == 2
    graph.deliver(fax_mail(message_id="<g-2@example.com>"))
    await source.poll()
    assert source.state == "ready"
    async with db.transaction() as conn:
        assert len(await list_submissions(conn)) == 2
    assert sorted(m.message_id for m in graph.in_folder("Processed")) == ["<g-1@example.com>", "<g-2@example.com>"]
    await source.stop()


async def test_a_restarted_source_resumes_the_stored_delta_link(tmp_path: Path, graph: FakeGraph, ca_file: Path,
                                                                db: Database, sink: Sink) -> None:
    """The deltaLink and the mails still in the folder are kept in the store: a new source (a restart) asks Graph
    only for the changes since, and still finishes the mail whose move the outage interrupted, faxing it once."""
    config = parse_config({
        "server": {"data_dir": str(tmp_path / "data")},
        "security": {"users": [{"name": "alice", "email": "alice@example.com", "rights": ["submit_normal"]}]},
        "receipts": {"smtp_host": "127.0.0.1", "smtp_port": sink.port, "sender": "faxgate@fax.test"},
        "mailboxes": [graph_entry(graph, ca_file)],
    })
    for number in (1, 2):
        graph.deliver(fax_mail(message_id=f"<r-{number}@example.com>"))
    graph.fail_matching = [(r"/move$", 503)]  # the first move fails: r-1 is recorded but stays in the inbox
    first = MailboxSource(config, db, config.mailboxes[0])
    await first.poll()
    assert first.state == "retrying"
    await first.stop()
    async with db.transaction() as conn:
        stored = await read_sync_state(conn, "m365")
    link = stored["INBOX"]["delta"]
    assert "$deltatoken" in link and len(stored["INBOX"]["known"]) == 2

    graph.deliver(fax_mail(message_id="<r-3@example.com>"))
    before = len(graph.calls)
    restarted = MailboxSource(config, db, config.mailboxes[0])
    await restarted.poll()
    assert restarted.state == "ready", restarted.reason
    deltas = [call for call in graph.calls[before:] if call.path.endswith("/messages/delta")]
    assert deltas and deltas[0].query["$deltatoken"] == parse_qs(urlsplit(link).query)["$deltatoken"]
    assert all("$deltatoken" in call.query for call in deltas)  # never the whole folder again
    async with db.transaction() as conn:
        assert len(await list_submissions(conn)) == 3  # r-1 once, though it was listed by both sources
    assert sorted(m.message_id for m in graph.in_folder("Processed")) == [f"<r-{n}@example.com>" for n in (1, 2, 3)]
    assert graph.in_folder("INBOX") == []
    await restarted.stop()
