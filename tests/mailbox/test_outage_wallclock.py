"""Outages at wall-clock time under `faxgate serve` (marked `wallclock`: about two and a half minutes, the three
outages at once): Dovecot down for two minutes, the fake Graph answering 500 for one minute, and the fake
Exchange refusing an expired OAuth token with 401. `faxgate sources` shows each mailbox RETRYING with its reason
and failures while it lasts, each recovers without a restart, and every mail that arrived is faxed exactly once."""

from __future__ import annotations

import asyncio
import functools
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from gateway.config import load_config
from gateway.storage import Database
from gateway.storage.submissions import list_submissions
from tests.mailbox.conftest import fax_mail, sources
from tests.mailbox.servers import FAX_PASSWORD, FAX_USER, folder_ids, put
from tests.queue.simserver import wait_for
from tests.support.dovecot import Dovecot
from tests.support.fake_ews import FakeExchange
from tests.support.fake_graph import FakeGraph
from tests.support.server import ServerProcess, write_config

pytestmark = pytest.mark.wallclock
DOVECOT_DOWN_S = 120.0
GRAPH_FAILING_S = 60.0


@pytest.fixture
def fakes(ca: trustme.CA) -> Iterator[tuple[FakeExchange, FakeGraph]]:
    exchange = FakeExchange(ca, user=FAX_USER, password=FAX_PASSWORD, bearer="not-issued-yet").serve()
    graph = FakeGraph(ca, user=FAX_USER).serve()
    yield exchange, graph
    exchange.close()
    graph.close()


async def test_outages_show_in_sources_and_recover_without_restart(tmp_path: Path, dovecot: Dovecot, ca: trustme.CA,
                                                                   fakes: tuple[FakeExchange, FakeGraph]) -> None:
    exchange, graph = fakes
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    common = 'owner = "alice"\npoll_interval = "2s"\nretry_max = "5s"\n'
    path = tmp_path / "faxgate.toml"
    _smtp, http_port = write_config(path, tmp_path / "data", extra=f"""
[security]
[[security.users]]
name = "alice"
email = "alice@example.com"
rights = ["submit_normal"]

[[mailboxes]]
name = "imap"
host = "127.0.0.1"
port = {dovecot.port}
tls = "none"
username = "{FAX_USER}"
password = "{FAX_PASSWORD}"
{common}
[[mailboxes]]
name = "ews"
backend = "ews"
endpoint = "{exchange.endpoint}"
auth = "oauth2"
client_id = "app-id"
client_secret = "{FAX_PASSWORD}"
tenant_id = "tenant"
token_url = "{exchange.token_url}"
username = "{FAX_USER}"
ca_file = "{ca_file}"
{common}
[[mailboxes]]
name = "graph"
backend = "graph"
endpoint = "{graph.endpoint}"
authority = "{graph.authority}"
client_id = "{graph.client_id}"
client_secret = "{graph.client_secret}"
address = "{graph.user}"
ca_file = "{ca_file}"
{common}""")
    with ServerProcess(path, http_port) as server:
        def states() -> dict[str, str]:
            return {str(row["name"]): str(row["state"]) for row in server.health()["intake"]}

        def processed(name: str) -> list[str]:
            if name == "imap":
                return folder_ids(dovecot, "Processed")
            fake = exchange if name == "ews" else graph
            return sorted(item.message_id for item in fake.in_folder("Processed"))

        async def settled(name: str, wanted: list[str]) -> bool:
            return states()[f"mailbox:{name}"] == "ready" and processed(name) == wanted

        before = {name: [f"<{name}-before@example.com>"] for name in ("imap", "ews", "graph")}
        put(dovecot, fax_mail(message_id=before["imap"][0]))
        exchange.deliver(fax_mail(message_id=before["ews"][0]))
        graph.deliver(fax_mail(message_id=before["graph"][0]))
        for name, wanted in before.items():
            await wait_for(functools.partial(settled, name, wanted), 60, f"{name} ready with its first mail", server)

        started = time.monotonic()
        dovecot.stop()
        graph.failing = 500
        exchange.bearer = "tok-expired"  # the token faxgate holds is no longer taken: 401 until it gets a new one
        exchange.deliver(fax_mail(message_id="<ews-during@example.com>"))
        graph.deliver(fax_mail(message_id="<graph-during@example.com>"))

        async def retrying(name: str, count: int) -> bool:
            row = (await asyncio.to_thread(sources, path))[f"mailbox:{name}"]
            return row["state"] == "retrying" and int(row["failures"]) >= count

        await wait_for(lambda: retrying("imap", 3), 60, "IMAP retrying three times", server)
        await wait_for(lambda: retrying("graph", 3), 60, "Graph retrying three times", server)
        shown = await asyncio.to_thread(sources, path)
        imap, failing_graph = shown["mailbox:imap"], shown["mailbox:graph"]
        assert "IMAP" in imap["reason"] and imap["retry_at"] is not None and imap["backend"] == "imap"
        assert "500" in failing_graph["reason"] and failing_graph["retry_at"] is not None
        assert list(shown) == ["mailbox:imap", "mailbox:ews", "mailbox:graph"]  # every source, in config order
        health = {row["name"]: row["state"] for row in server.health()["intake"]}  # /health agrees
        assert health["mailbox:imap"] == "retrying" and health["mailbox:graph"] == "retrying"

        ews_wanted = sorted([*before["ews"], "<ews-during@example.com>"])
        await wait_for(lambda: settled("ews", ews_wanted), 60, "EWS with a fresh token", server)

        await asyncio.sleep(max(0.0, started + GRAPH_FAILING_S - time.monotonic()))
        assert states()["mailbox:graph"] == "retrying" and processed("graph") == before["graph"]
        graph.failing = 0
        graph_wanted = sorted([*before["graph"], "<graph-during@example.com>"])
        await wait_for(lambda: settled("graph", graph_wanted), 60, "Graph after a minute of 500s", server)

        await asyncio.sleep(max(0.0, started + DOVECOT_DOWN_S - time.monotonic()))
        assert states()["mailbox:imap"] == "retrying"
        dovecot.start()
        put(dovecot, fax_mail(message_id="<imap-after@example.com>"))
        imap_wanted = sorted([*before["imap"], "<imap-after@example.com>"])
        await wait_for(lambda: settled("imap", imap_wanted), 60, "IMAP after two minutes down", server)
        assert all(int(row["failures"]) == 0 for row in (await asyncio.to_thread(sources, path)).values())
        server.terminate()
        log = server.output()

    for name, reason in (("imap", "IMAP"), ("ews", "refused the credentials"), ("graph", "500")):
        changes = re.findall(rf"mailbox\.state.*?mailbox={name} state=(\w+) was=(\w+) reason=(.*?) failures",
                             log)
        assert [change[:2] for change in changes] == [("ready", "initializing"), ("retrying", "ready"),
                                                      ("ready", "retrying"), ("stopped", "ready")], changes
        assert reason in changes[1][2]  # one line when it began (with why), one when it ended: not one per poll
    assert len(exchange.token_requests) >= 2 and {r.authorization for r in exchange.requests[-3:]} == {
        f"Bearer {exchange.bearer}"}
    db = Database(load_config(path).database_url)
    async with db.transaction() as conn:
        submitted = await list_submissions(conn)
    await db.close()
    assert len(submitted) == 6  # two mails per mailbox, each once
