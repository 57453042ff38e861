"""Two `faxgate serve` nodes on one PostgreSQL database: configuration changed through node A's API is what node B
does, without restarting B (retries, discount window, a device's CSID and send switch, a routing method switched off
on one device), and it is still in force after both restart."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.enums import AccessRights
from tests.api.support import make_token, pdf_document
from tests.api.test_config_api import poll
from tests.queue.simserver import sim_config
from tests.support.server import ServerProcess

ADMIN = AccessRights(0x7FF)


def client(port: int, token: str) -> httpx.Client:
    return httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", headers={"Authorization": f"Bearer {token}"},
                        timeout=30)


def submit(api: httpx.Client, document: Path, number: str, **form: str) -> str:
    reply = api.post("/outgoing/submit", data={"recipients": json.dumps([{"number": number}]), **form},
                     files=[("files", ("letter.pdf", document.read_bytes(), "application/pdf"))])
    assert reply.status_code == 202, reply.text
    return str(reply.json()["submission_id"])


def final_job(api: httpx.Client, submission: str, server: ServerProcess) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        jobs = api.get("/outgoing/jobs", params={"submission": submission}).json()["jobs"]
        return jobs[0] if jobs and jobs[0]["final_time"] is not None else None

    found: dict[str, Any] = poll(done, f"submission {submission} final", server, timeout=240)
    return found


@pytest.mark.realtime
@pytest.mark.postgres
def test_a_change_on_node_a_is_in_force_on_node_b_without_restart_and_after_restarts(
        tmp_path: Path, pg_database: str) -> None:
    routed = tmp_path / "routed"
    rule = f'[[inbound.rules]]\nname = "everything"\nfolder = {{ path = "{routed}" }}\n'
    nodes = []
    for name in ("a", "b"):
        devices = ((f"sim{name}0", "5551000"), (f"sim{name}1", "5551001"))
        nodes.append(sim_config(tmp_path / name, 9, store_url=pg_database, devices=devices, speed=4.0,
                                node_id=f"node-{name}", extra=rule))
    (config_a, _, port_a), (config_b, _, port_b) = nodes
    token = make_token(config_a, "admin", ADMIN)
    document = pdf_document(tmp_path / "letter.pdf")
    window = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
    with ServerProcess(config_b, port_b) as node_b:
        with ServerProcess(config_a, port_a) as node_a, client(port_a, token) as api_a:
            poll(lambda: api_a.get("/devices/simb1/settings").status_code == 200, "node b's devices known", node_a)
            reply = api_a.put("/config/outgoing-queue", json={
                "retries": 6, "discount_rate_start": window.strftime("%H:%M"),
                "discount_rate_end": (window + timedelta(hours=1)).strftime("%H:%M"),
                "retry_rules": {"no_answer": {"delay_s": 1, "max": 0}}})
            assert reply.status_code == 200, reply.text
            reply = api_a.put("/devices/simb1/settings", json={"csid": "SET ON NODE A", "send_enabled": False})
            assert reply.status_code == 200, reply.text
            assert reply.json()["node_id"] == "node-b"
            reply = api_a.put("/devices/simb1/routing-methods/folder", json={"enabled": False})
            assert reply.status_code == 200, reply.text
        # Node A is gone: node B, never restarted, does the work with what A stored.

        with client(port_b, token) as api_b:
            def applied() -> bool:
                """Node B applies A's three changes at its next version poll; each may land in a different one."""
                queue = api_b.get("/config/outgoing-queue").json()
                methods = api_b.get("/devices/simb1/settings").json()["routing_methods"]
                return bool(queue["retries"] == 6 and queue["retry_rules"]["no_answer"]["max"] == 0
                            and {m["name"]: m["enabled"] for m in methods}["folder"] is False)

            poll(applied, "node b applying the queue, device and routing changes", node_b, timeout=30)
            device = api_b.get("/devices/simb1/settings").json()
            assert (device["csid"], device["send_enabled"]) == ("SET ON NODE A", False)
            assert {m["name"]: m["enabled"] for m in device["routing_methods"]}["folder"] is False

            # Retries: a number that never answers gets one call (no_answer max 0), not the file's two.
            gave_up = final_job(api_b, submit(api_b, document, "5550102"), node_b)
            assert gave_up["status_names"] == ["RETRIES_EXCEEDED"]
            attempts = api_b.get(f"/outgoing/jobs/{gave_up['id']}").json()["attempts"]
            assert [a["result"] for a in attempts] == ["no_answer"] and attempts[0]["device_name"] == "simb0"

            # The discount window: a discount-rate job waits for the window set on node A.
            waiting = submit(api_b, document, "5550100", schedule="discount_period")

            def queued() -> list[dict[str, Any]]:
                reply = api_b.get("/outgoing/jobs", params={"submission": waiting})
                jobs: list[dict[str, Any]] = reply.json()["jobs"]
                return jobs

            job = poll(queued, "the discount job queued", node_b)[0]
            assert job["next_attempt_time"] == window.timestamp()
            assert api_b.post(f"/outgoing/jobs/{job['id']}/cancel").status_code == 200

            # The CSID and send switch of simb1, and the folder method off on simb1: a fax to simb1 is sent by
            # simb0, answered with the new CSID, and not put in the folder.
            sent = final_job(api_b, submit(api_b, document, "5551001"), node_b)
            assert (sent["status_names"], sent["device_name"], sent["csid"]) == (
                ["COMPLETED"], "simb0", "SET ON NODE A")

            def routed_fax() -> dict[str, Any] | None:
                faxes = [fax for fax in api_b.get("/incoming/jobs").json()["jobs"] if fax["device_name"] == "simb1"]
                return faxes[0] if faxes and "COMPLETED" in faxes[0]["status_names"] else None

            fax = poll(routed_fax, "the fax on simb1 routed", node_b)
            assert fax["csid"] == "SET ON NODE A"
            assert fax["routing_status"] == "kept in the inbox: no method to run"
            assert not routed.exists() or not any(routed.iterdir())

    # Both nodes restart: the stored values are in force again from the start.
    with ServerProcess(config_a, port_a) as node_a, ServerProcess(config_b, port_b), \
            client(port_a, token) as api_a, client(port_b, token) as api_b:
        for api in (api_a, api_b):
            queue = api.get("/config/outgoing-queue").json()
            assert (queue["retries"], queue["retry_rules"]["no_answer"]["max"]) == (6, 0)
            assert queue["discount_rate_start"] == window.strftime("%H:%M")
            device = api.get("/devices/simb1/settings").json()
            assert (device["csid"], device["send_enabled"]) == ("SET ON NODE A", False)
        # Node A switches the folder method back on; the next fax to 5551001 (simb1, or sima1 if node A's line
        # takes the job) is routed to the folder.
        assert api_a.put("/devices/simb1/routing-methods/folder", json={"enabled": True}).status_code == 200
        poll(lambda: all(m["enabled"] for m in api_b.get("/devices/simb1/settings").json()["routing_methods"]),
             "node b re-enabling the folder method", node_a, timeout=30)
        started = time.time()
        final_job(api_b, submit(api_b, document, "5551001"), node_a)
        poll(lambda: routed.exists() and any(routed.iterdir()), "the fax in the routed folder", node_a)
        assert all(path.stat().st_mtime >= started - 1 for path in routed.iterdir())
    run = subprocess.run([sys.executable, "-m", "gateway", "config", "effective", "--config", str(config_b), "--json",
                          "--offline"],
                         capture_output=True, text=True, timeout=120, check=True)
    values = {item["path"]: item for item in json.loads(run.stdout)["values"]}
    assert (values["outbox.retries"]["value"], values["outbox.retries"]["source"]) == (6, "store")
    assert values["devices[simb1].csid"]["source"] == "store"
    assert values["devices[simb0].csid"]["source"] == "default"
