"""AnswerCall across nodes: two `faxgate serve` nodes on one PostgreSQL database; node A runs a manual-answer line, a
simulated remote calls it, and AnswerCall sent to node B's API makes node A answer (through the store's event log,
not HTTP between nodes); the fax is received on A's line and routed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.client import FaxServer
from gateway.enums import AccessRights
from tests.api.support import make_token
from tests.api.test_config_api import poll
from tests.api.test_config_two_nodes import client
from tests.queue.simserver import sim_config
from tests.support.server import ServerProcess

ANSWERER = AccessRights.QUERY_IN_ARCHIVE | AccessRights.QUERY_CONFIG | AccessRights.MANAGE_CONFIG


@pytest.mark.realtime
@pytest.mark.postgres
def test_answercall_sent_to_node_b_makes_node_a_answer_its_ringing_line(tmp_path: Path, pg_database: str) -> None:
    routed = tmp_path / "routed"
    rule = f'[[inbound.rules]]\nname = "everything"\nfolder = {{ path = "{routed}" }}\n'
    config_a, _, port_a = sim_config(tmp_path / "a", 9, store_url=pg_database, devices=(("sima0", "5551000"),),
                                     node_id="node-a", extra=rule)
    config_b, _, port_b = sim_config(tmp_path / "b", 9, store_url=pg_database, devices=(("simb0", "5552000"),),
                                     node_id="node-b", extra=rule)
    config_a.write_text(config_a.read_text().replace('name = "sima0"\n', 'name = "sima0"\nreceive_mode = "manual"\n'))
    layout = tmp_path / "a" / "layout.toml"  # the remote machine waits long enough for AnswerCall
    layout.write_text(layout.read_text().replace("no_answer_timeout_s = 8", "no_answer_timeout_s = 60"))
    token = make_token(config_a, "answerer", ANSWERER)
    with ServerProcess(config_a, port_a) as node_a, ServerProcess(config_b, port_b) as node_b, \
            client(port_a, token) as api_a, client(port_b, token) as api_b:
        known = poll(lambda: api_b.get("/devices/sima0/settings").json().get("node_id"), "sima0 known on B", node_b)
        assert known == "node-a"
        quiet = api_b.post("/devices/sima0/answer")
        assert quiet.status_code == 409 and "no call is ringing on sima0 (node node-a)" in quiet.json()["detail"]

        placed = api_a.post("/simulation/calls", json={"caller": "5550100", "to": "5551000", "pages": 1})
        assert placed.status_code == 202, placed.text

        def ringing() -> bool:
            """The stored state node B checks (GetDevices lists the asking node's own lines, so A is asked)."""
            lines = {line["name"]: line for line in api_a.get("/devices").json()}
            return bool(lines["sima0"]["state"] == "ringing")

        poll(ringing, "sima0 ringing", node_a)
        with FaxServer.connect(f"http://127.0.0.1:{port_b}", token) as server_b:
            requested = server_b.answer_call("sima0")
        assert requested.model_dump() == {"device": "sima0", "node_id": "node-a"}

        def received() -> dict[str, Any] | None:
            faxes = [fax for fax in api_b.get("/incoming/jobs").json()["jobs"] if fax["device_name"] == "sima0"]
            return faxes[0] if faxes and "COMPLETED" in faxes[0]["status_names"] else None

        fax = poll(received, "the fax received on sima0", node_a)
        assert (fax["pages"], fax["caller_id"]) == (1, "5550100")
        poll(lambda: routed.is_dir() and any(routed.iterdir()), "the fax routed to the folder", node_a)
        assert "call.answer_requested" in node_a.output() and "from_node=node-b" in node_a.output()
        assert "call.answer_requested" not in node_b.output()
