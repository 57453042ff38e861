"""An IMAP outage under `faxgate serve`: /health shows the mailbox RETRYING with the reason while Dovecot is down,
the log says so once (not once per failed poll), and after Dovecot is back the mail that arrived is faxed once,
without a restart; `faxgate sources` shows the same through the API."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from gateway.config import load_config
from gateway.storage import Database
from gateway.storage.submissions import list_submissions
from tests.mailbox.conftest import fax_mail, sources
from tests.mailbox.servers import FAX_PASSWORD, FAX_USER, folder_ids, put
from tests.queue.simserver import wait_for
from tests.support.dovecot import Dovecot
from tests.support.server import ServerProcess, write_config


async def test_outage_shows_in_health_and_recovers_without_restart(tmp_path: Path, dovecot: Dovecot) -> None:
    path = tmp_path / "faxgate.toml"
    _smtp, http_port = write_config(path, tmp_path / "data", extra=f"""
[security]
[[security.users]]
name = "alice"
email = "alice@example.com"
rights = ["submit_normal"]

[[mailboxes]]
name = "faxbox"
host = "127.0.0.1"
port = {dovecot.port}
tls = "none"
username = "{FAX_USER}"
password = "{FAX_PASSWORD}"
owner = "alice"
poll_interval = "1s"
retry_max = "1s"
""")
    with ServerProcess(path, http_port) as server:
        def state() -> dict[str, object]:
            [mailbox] = server.health()["intake"]
            return dict(mailbox)

        async def is_state(wanted: str) -> bool:
            return state()["state"] == wanted

        await wait_for(lambda: is_state("ready"), 60, "the mailbox ready", server)
        dovecot.stop()
        await wait_for(lambda: is_state("retrying"), 60, "the mailbox retrying", server)
        down = state()
        assert "IMAP" in str(down["reason"]) and server.health()["status"] == "ok"
        [shown] = (await asyncio.to_thread(sources, path)).values()  # `faxgate sources`, through the API
        assert (shown["name"], shown["state"], shown["backend"], shown["folder"]) == ("mailbox:faxbox", "retrying",
                                                                                        "imap", "INBOX")
        assert "IMAP" in shown["reason"] and shown["failures"] >= 1 and shown["retry_at"] is not None

        async def failed_again() -> bool:
            return int(str(state()["failures"])) >= 3

        await wait_for(failed_again, 60, "three failed polls", server)
        dovecot.start()
        put(dovecot, fax_mail(message_id="<after-outage@example.com>"))

        async def taken() -> bool:
            return await is_state("ready") and folder_ids(dovecot, "Processed") == ["<after-outage@example.com>"]

        await wait_for(taken, 60, "the mail taken after the outage", server)
        server.terminate()
        log = server.output()

    changes = re.findall(r"mailbox\.state.*?state=(\w+) was=(\w+)", log)
    assert changes == [("ready", "initializing"), ("retrying", "ready"), ("ready", "retrying"), ("stopped", "ready")]
    db = Database(load_config(path).database_url)
    async with db.transaction() as conn:
        assert len(await list_submissions(conn)) == 1
    await db.close()
