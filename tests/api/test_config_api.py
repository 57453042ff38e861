"""The configuration, device, routing and outgoing-archive endpoints against a real `faxgate serve` on the simulated
network: who may call each, what it answers, what it refuses, and that a change is what the server then does
(a manual-answer device answers when AnswerCall is sent; a sent fax is in the outgoing archive)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.enums import AccessRights
from gateway.queue.documents import load_pymupdf
from tests.api.support import ALL_RIGHTS, make_token, pdf_document
from tests.queue.simserver import sim_config
from tests.support.server import ServerProcess

FOLDER_GUID = "{92041a90-9af2-11d0-abf7-00c04fd91a4e}"


@dataclass
class Api:
    """The running server, its config and an administrator token."""

    server: ServerProcess
    config: Path
    url: str
    folder: Path
    admin: str

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.admin}"}
        return httpx.Client(base_url=self.url + "/api/v1", headers=headers, timeout=30)

    def token(self, name: str, rights: AccessRights) -> str:
        return make_token(self.config, name, rights)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    folder = tmp_path_factory.mktemp("config-api")
    config, _, http_port = sim_config(folder, 9, speed=2.0)
    layout = folder / "layout.toml"  # the caller waits long enough for AnswerCall (manual mode waits 30 s)
    layout.write_text(layout.read_text().replace("no_answer_timeout_s = 8", "no_answer_timeout_s = 60"))
    text = config.read_text()  # sim1 starts not answering: the AnswerCall test switches it to manual at runtime
    config.write_text(text.replace('name = "sim1"\n', 'name = "sim1"\nreceive_mode = "no_answer"\n'))
    admin = make_token(config, "admin", ALL_RIGHTS)
    with ServerProcess(config, http_port) as server:
        yield Api(server, config, f"http://127.0.0.1:{http_port}", folder, admin)


def poll(check: Callable[[], Any], what: str, server: ServerProcess, timeout: float = 120) -> Any:
    """Call ``check`` every 0.1 s until it returns something true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}\n{server.output()[-3000:]}")


# (method, path, JSON body, the right it needs)
CASES: list[tuple[str, str, object, AccessRights]] = [
    ("GET", "/config/outgoing-queue", None, AccessRights.QUERY_CONFIG),
    ("PUT", "/config/outgoing-queue", {}, AccessRights.MANAGE_CONFIG),
    ("GET", "/config/outgoing-archive", None, AccessRights.QUERY_CONFIG),
    ("PUT", "/config/outgoing-archive", {}, AccessRights.MANAGE_CONFIG),
    ("GET", "/config/incoming-archive", None, AccessRights.QUERY_CONFIG),
    ("PUT", "/config/incoming-archive", {}, AccessRights.MANAGE_CONFIG),
    ("GET", "/config/receipts", None, AccessRights.QUERY_CONFIG),
    ("PUT", "/config/receipts", {}, AccessRights.MANAGE_CONFIG),
    ("GET", "/config/logging", None, AccessRights.QUERY_CONFIG),
    ("PUT", "/config/logging", {}, AccessRights.MANAGE_CONFIG),
    ("GET", "/config/effective", None, AccessRights.QUERY_CONFIG),
    ("DELETE", "/config/stored?area=logging", None, AccessRights.MANAGE_CONFIG),
    ("GET", "/devices/sim0/settings", None, AccessRights.QUERY_CONFIG),
    ("PUT", "/devices/sim0/settings", {}, AccessRights.MANAGE_CONFIG),
    ("PUT", "/devices/sim0/routing-methods/folder", {"enabled": True}, AccessRights.MANAGE_CONFIG),
    ("POST", "/devices/sim0/answer", None, AccessRights.QUERY_IN_ARCHIVE),
    ("GET", "/device-providers", None, AccessRights.QUERY_CONFIG),
    ("POST", "/device-providers", {"name": "x", "target": "a.b:c"}, AccessRights.MANAGE_CONFIG),
    ("DELETE", "/device-providers/x", None, AccessRights.MANAGE_CONFIG),
    ("GET", "/inbound-routing/extensions", None, AccessRights.QUERY_CONFIG),
    ("POST", "/inbound-routing/extensions", {"name": "x", "target": "a.b:c"}, AccessRights.MANAGE_CONFIG),
    ("DELETE", "/inbound-routing/extensions/x", None, AccessRights.MANAGE_CONFIG),
    ("GET", "/inbound-routing/methods", None, AccessRights.QUERY_CONFIG),
    ("PUT", "/inbound-routing/methods/order", {"methods": ["folder"]}, AccessRights.MANAGE_CONFIG),
    ("GET", "/outbound-routing/groups", None, AccessRights.QUERY_CONFIG),
    ("PUT", "/outbound-routing/groups", [], AccessRights.MANAGE_CONFIG),
    ("GET", "/outbound-routing/rules", None, AccessRights.QUERY_CONFIG),
    ("PUT", "/outbound-routing/rules", [], AccessRights.MANAGE_CONFIG),
    ("GET", "/outgoing-archive/messages", None, AccessRights.QUERY_OUT_ARCHIVE),
    ("GET", "/outgoing-archive/messages/1", None, AccessRights.QUERY_OUT_ARCHIVE),
    ("GET", "/outgoing-archive/messages/1/tiff", None, AccessRights.QUERY_OUT_ARCHIVE),
    ("GET", "/outgoing-archive/messages/1/pdf", None, AccessRights.QUERY_OUT_ARCHIVE),
    ("GET", "/outgoing-archive/messages/1/receipt", None, AccessRights.QUERY_OUT_ARCHIVE),
    ("DELETE", "/outgoing-archive/messages/1", None, AccessRights.MANAGE_OUT_ARCHIVE),
]


def test_each_endpoint_refuses_a_principal_without_its_right_and_names_it(api: Api) -> None:
    tokens = {right: api.token(f"without-{right.name}", ALL_RIGHTS & ~right) for right in {c[3] for c in CASES}}
    for method, path, body, right in CASES:
        with api.client(tokens[right]) as client:
            reply = client.request(method, path, json=body)
        assert reply.status_code == 403, (method, path, reply.text)
        assert reply.json()["missing_right"] == str(right.name).lower(), (method, path)
        assert str(right.name) in reply.json()["detail"]
        with httpx.Client(base_url=api.url + "/api/v1", timeout=30) as anonymous:
            assert anonymous.request(method, path, json=body).status_code == 401, (method, path)


def test_the_openapi_document_describes_the_new_endpoints(api: Api) -> None:
    document = httpx.get(api.url + "/api/v1/openapi.json", timeout=30).json()
    for _method, path, _body, _right in CASES:
        template = path.split("?")[0].replace("/sim0/", "/{device}/").replace("/x", "/{name}")
        template = template.replace("/folder", "/{method}").replace("/1", "/{message_id}")
        assert "/api/v1" + template in document["paths"], template
    schemas = document["components"]["schemas"]
    assert {"OutgoingQueueConfig", "ArchiveConfig", "ReceiptOptions", "LoggingOptions", "DeviceSettings",
            "OutboundRule", "RoutingMethodInfo", "ArchivedJobPage"} <= set(schemas)
    assert schemas["DeviceSettingsChange"]["properties"]["receive_mode"]["anyOf"][0]["enum"] == [
        "no_answer", "auto", "manual"]


def test_outgoing_queue_configuration_is_read_changed_and_refused_when_invalid(api: Api) -> None:
    with api.client() as client:
        before = client.get("/config/outgoing-queue").json()
        assert (before["retries"], before["retry_delay_s"], before["discount_rate_start"]) == (3, 600.0, "20:00")
        assert before["retry_rules"]["busy"] == {"delay_s": 2.0, "max": 5}
        changed = client.put("/config/outgoing-queue", json={
            "retries": 7, "retry_delay_s": 45, "discount_rate_start": "22:15", "discount_rate_end": "05:00",
            "age_limit_s": 86400 * 3, "branding": False, "retry_rules": {"busy": {"delay_s": 30, "max": 2}}})
        assert changed.status_code == 200, changed.text
        after = client.get("/config/outgoing-queue").json()
        assert after == changed.json()
        assert (after["retries"], after["retry_delay_s"], after["discount_rate_start"], after["age_limit_s"],
                after["branding"]) == (7, 45.0, "22:15", 259200.0, False)
        assert after["retry_rules"]["busy"] == {"delay_s": 30.0, "max": 2}
        assert after["retry_rules"]["no_answer"] == before["retry_rules"]["no_answer"]
        assert after["retry_rules"]["other"] == {"delay_s": 45.0, "max": 7}  # Windows Retries / RetryDelay
        assert client.put("/config/outgoing-queue", json={"retries": 1000}).status_code == 422
        assert client.put("/config/outgoing-queue", json={"discount_rate_start": "25:00"}).status_code == 422
        assert client.put("/config/outgoing-queue", json={"timezone": "Mars/Olympus"}).status_code == 422
        assert client.put("/config/outgoing-queue", json={"max_pages": "20"}).status_code == 422  # strict JSON
        assert client.put("/config/outgoing-queue", json={"branding_format": "{nope}"}).status_code == 422
        effective = {item["path"]: item for item in client.get("/config/effective").json()["values"]}
        assert effective["outbox.retries"]["source"] == "store"
        assert effective["outbox.retries"]["updated_by"] == "token admin"
        assert effective["outbox.max_pages"]["source"] == "default"
        assert effective["http.listen"]["source"] == "file"
        assert client.delete("/config/stored", params={"area": "outbox", "key": ["branding"]}).status_code == 204
        assert client.get("/config/outgoing-queue").json()["branding"] is True
        assert client.put("/config/outgoing-queue", json={"max_pages": 20.0}).json()["max_pages"] == 20  # integer
        assert client.delete("/config/stored", params={"area": "outbox", "key": ["max_pages"]}).status_code == 204


def test_archive_receipt_and_logging_options(api: Api, tmp_path: Path) -> None:
    with api.client() as client:
        for which in ("outgoing-archive", "incoming-archive"):
            reply = client.put(f"/config/{which}", json={
                "archive_folder": str(tmp_path / which), "age_limit_s": 3600, "high_quota_water_mark": 5000000,
                "low_quota_water_mark": 1000, "folder_mode": "0750"})
            assert reply.status_code == 200, reply.text
            assert client.get(f"/config/{which}").json() == {
                "use_archive": True, "archive_folder": str(tmp_path / which), "folder_mode": "0750",
                "size_quota_warning": True, "high_quota_water_mark": 5000000, "low_quota_water_mark": 1000,
                "age_limit_s": 3600.0}
            assert client.put(f"/config/{which}", json={"archive_folder": "relative/path"}).status_code == 422
            assert client.put(f"/config/{which}", json={"archive_folder": ""}).json()["archive_folder"] == ""
            assert client.put(f"/config/{which}", json={"folder_mode": "0070"}).status_code == 422  # owner rwx
        refused = client.put("/config/receipts", json={"smtp_password": "secret", "security": "none"})
        assert refused.status_code == 409 and "clear text" in refused.json()["detail"]
        assert client.put("/config/receipts", json={"attach_fax": 1}).status_code == 422
        receipts = client.put("/config/receipts", json={"smtp_password": "hunter2-pw", "security": "starttls",
                                                        "smtp_user": "fax", "attach_fax": True}).json()
        assert (receipts["has_password"], receipts["security"], receipts["smtp_user"], receipts["attach_fax"]) == (
            True, "starttls", "fax", True)
        assert "hunter2" not in json.dumps(client.get("/config/receipts").json())
        assert "hunter2" not in client.get("/config/effective").text
        logging = client.put("/config/logging", json={"outbound_events_level": "max", "format": "json"}).json()
        assert (logging["outbound_events_level"], logging["inbound_events_level"], logging["format"]) == (
            "max", "med", "json")
        assert client.put("/config/logging", json={"format": "xml"}).status_code == 422
        assert client.delete("/config/stored", params={"area": "logging"}).status_code == 204
        assert client.get("/config/logging").json()["format"] == "text"


def test_outbound_groups_and_rules(api: Api) -> None:
    with api.client() as client:
        groups = client.put("/outbound-routing/groups", json=[{"name": "first", "devices": ["sim1", "sim0"]}])
        assert groups.status_code == 200 and groups.json() == [{"name": "first", "devices": ["sim1", "sim0"]}]
        rules = client.put("/outbound-routing/rules", json=[{"country_code": 44, "group": "first"},
                                                             {"country_code": 49, "area_code": 30, "device": "sim0"}])
        assert rules.status_code == 200, rules.text
        assert client.get("/outbound-routing/rules").json() == [
            {"country_code": 44, "area_code": 0, "group": "first", "device": ""},
            {"country_code": 49, "area_code": 30, "group": "", "device": "sim0"}]
        refused = client.put("/outbound-routing/rules", json=[{"country_code": 33, "group": "nowhere"}])
        assert refused.status_code == 404 and "no outbound routing group 'nowhere'" in refused.json()["detail"]
        twice = client.put("/outbound-routing/rules", json=[{"country_code": 33, "device": "sim0"},
                                                            {"country_code": 33.0, "group": "first"}])
        assert twice.status_code == 409 and "country 33, area 0" in twice.json()["detail"]
        assert client.put("/outbound-routing/rules", json=[{"country_code": 33}]).status_code == 422
        in_use = client.put("/outbound-routing/groups", json=[])
        assert in_use.status_code == 409 and "names group 'first'" in in_use.json()["detail"]
        assert client.put("/outbound-routing/groups", json=[{"name": "<all devices>"}]).status_code == 409
        assert client.put("/outbound-routing/groups", json=[{"name": "a"}, {"name": "A"}]).status_code == 409
        assert client.put("/outbound-routing/rules", json=[]).json() == []
        assert client.put("/outbound-routing/groups", json=[]).json() == []


def test_inbound_methods_extensions_and_providers(api: Api) -> None:
    with api.client() as client:
        names = [m["name"] for m in client.get("/inbound-routing/methods").json()]
        assert sorted(names) == ["email", "folder", "mailbox", "webhook"]
        ordered = client.put("/inbound-routing/methods/order", json={"methods": ["webhook", FOLDER_GUID]}).json()
        assert [(m["name"], m["priority"]) for m in ordered][:2] == [("webhook", 1), ("folder", 2)]
        assert [m["name"] for m in client.get("/inbound-routing/methods").json()][:2] == ["webhook", "folder"]
        assert client.put("/inbound-routing/methods/order", json={"methods": ["nope"]}).status_code == 404
        extensions = {e["name"]: e for e in client.get("/inbound-routing/extensions").json()}
        assert extensions["folder"]["status"] == "success" and extensions["folder"]["registered"]
        reply = client.delete("/inbound-routing/extensions/webhook")
        assert (reply.status_code, reply.json()) == (202, {"name": "webhook", "registered": False,
                                                           "restart_required": True})
        extensions = {e["name"]: e for e in client.get("/inbound-routing/extensions").json()}
        assert extensions["webhook"]["registered"] is False and extensions["webhook"]["status"] == "success"
        added = client.post("/inbound-routing/extensions", json={"name": "archive_s3", "target": "mypkg.s3:Method"})
        assert added.status_code == 202
        assert {e["name"]: e for e in client.get("/inbound-routing/extensions").json()}["archive_s3"]["status"] == (
            "not_loaded")
        assert client.post("/inbound-routing/extensions", json={"name": "bad", "target": "no colon"}).status_code == 422
        providers = {p["name"]: p for p in client.get("/device-providers").json()}
        assert providers["simulated"]["status"] == "success" and providers["class1"]["registered"]
        assert client.delete("/device-providers/class1").status_code == 202
        assert {p["name"]: p for p in client.get("/device-providers").json()}["class1"]["registered"] is False
        # Registrations are for the next start: nothing changed in what runs now.
        assert client.post("/inbound-routing/extensions", json={"name": "webhook", "target": "routing.methods.webhook:"
                                                                "WebhookMethod"}).status_code == 202
        assert client.post("/device-providers", json={"name": "class1", "target": "modem.provider:Class1Provider"}
                           ).status_code == 202


def test_device_settings_and_errors(api: Api) -> None:
    with api.client() as client:
        settings = client.get("/devices/sim0/settings").json()
        assert (settings["name"], settings["receive_mode"], settings["send_enabled"], settings["ringing"]) == (
            "sim0", "auto", True, False)
        assert client.get("/devices/1/settings").json()["name"] == "sim0"  # by id, as GetDevices lists it
        assert client.get("/devices/nosuch/settings").status_code == 404
        assert client.put("/devices/sim0/settings", json={"receive_mode": "sometimes"}).status_code == 422
        assert client.put("/devices/sim0/settings", json={"rings_before_answer": 0}).status_code == 422
        assert client.put("/devices/sim0/settings", json={"csid": "Größe"}).status_code == 422  # T.30: ASCII
        assert client.put("/devices/sim0/settings", json={"csid": "x" * 21}).status_code == 422
        changed = client.put("/devices/sim0/settings", json={"description": "front desk", "tsid": "+1 555 1000"})
        assert (changed.json()["description"], changed.json()["tsid"]) == ("front desk", "+1 555 1000")
        off = client.put("/devices/sim0/routing-methods/folder", json={"enabled": False}).json()
        assert {m["name"]: m["enabled"] for m in off["routing_methods"]} == {
            "folder": False, "email": True, "webhook": True, "mailbox": True}
        methods = {m["name"]: m for m in client.get("/inbound-routing/methods").json()}
        assert methods["folder"]["devices"] == ["sim1"]
        assert client.put(f"/devices/sim0/routing-methods/{FOLDER_GUID}", json={"enabled": True}).status_code == 200
        assert client.put("/devices/sim0/routing-methods/nosuch", json={"enabled": True}).status_code == 404
        nothing = client.post("/devices/sim0/answer")
        assert nothing.status_code == 409 and "no call is ringing on sim0" in nothing.json()["detail"]


def test_a_manual_answer_device_answers_on_answercall_and_the_sent_fax_is_archived(api: Api) -> None:
    document = pdf_document(api.folder / "letter.pdf")
    with api.client() as client:
        assert client.get("/devices/sim1/settings").json()["receive_mode"] == "no_answer"  # no receive loop yet
        changed = client.put("/devices/sim1/settings", json={
            "receive_mode": "manual", "send_enabled": False, "csid": "API CSID 1", "rings_before_answer": 1})
        assert changed.status_code == 200, changed.text
        submitted = client.post("/outgoing/submit", data={"recipients": json.dumps([{"number": "5551001"}])},
                                files=[("files", ("letter.pdf", document.read_bytes(), "application/pdf"))])
        assert submitted.status_code == 202, submitted.text
        poll(lambda: client.get("/devices/sim1/settings").json()["ringing"], "sim1 ringing", api.server)
        answered = client.post("/devices/sim1/answer")
        assert (answered.status_code, answered.json()) == (200, {"device": "sim1", "answered": True})

        def sent() -> dict[str, Any] | None:
            jobs = client.get("/outgoing/jobs", params={"submission": submitted.json()["submission_id"]}).json()
            done = [job for job in jobs["jobs"] if "COMPLETED" in job["status_names"]]
            return done[0] if done else None

        job = poll(sent, "the fax to sim1 sent", api.server)
        assert (job["device_name"], job["csid"]) == ("sim0", "API CSID 1")  # sim1 does not send; its new CSID
        received = poll(lambda: [fax for fax in client.get("/incoming/jobs").json()["jobs"]
                                 if fax["device_name"] == "sim1"], "the fax received on sim1", api.server)
        assert len(received) == 1 and received[0]["csid"] == "API CSID 1" and received[0]["pages"] == job["pages"]

        archive = poll(lambda: client.get("/outgoing-archive/messages").json()["messages"], "the archive", api.server)
        assert [message["id"] for message in archive] == [job["id"]]
        assert archive[0]["recipient"]["number"] == "5551001"
        assert client.get(f"/outgoing-archive/messages/{job['id']}").json()["id"] == job["id"]
        tiff = client.get(f"/outgoing-archive/messages/{job['id']}/tiff")
        assert tiff.headers["content-type"] == "image/tiff" and tiff.content[:4] in (b"II*\x00", b"MM\x00*")
        pdf = client.get(f"/outgoing-archive/messages/{job['id']}/pdf")
        assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
        receipt = client.get(f"/outgoing-archive/messages/{job['id']}/receipt")
        assert receipt.headers["content-disposition"] == f'attachment; filename="receipt-{job["id"]}.pdf"'
        words = load_pymupdf().open(stream=receipt.content, filetype="pdf")[0].get_text()
        assert "SENT" in words and "5551001" in words and "API CSID 1" in words and "Call completed" in words
        assert client.delete(f"/outgoing-archive/messages/{job['id']}").status_code == 204
        assert client.get(f"/outgoing-archive/messages/{job['id']}").status_code == 404
        assert client.delete(f"/outgoing-archive/messages/{job['id']}").status_code == 404


def test_config_effective_prints_each_value_with_its_source(api: Api) -> None:
    with api.client() as client:
        assert client.put("/devices/sim1/settings", json={"description": "fax room"}).status_code == 200
    run = subprocess.run([sys.executable, "-m", "gateway", "config", "effective", "--config", str(api.config),
                          "--json"], capture_output=True, text=True, timeout=120, check=True)
    values = {item["path"]: item for item in json.loads(run.stdout)["values"]}
    assert (values["devices[sim1].description"]["value"], values["devices[sim1].description"]["source"]) == (
        "fax room", "store")
    assert values["devices[sim1].number"]["source"] == "file"
    assert values["outbox.branding"]["source"] == "default"
    text = subprocess.run([sys.executable, "-m", "gateway", "config", "effective", "--config", str(api.config),
                           "--source", "store"], capture_output=True, text=True, timeout=120, check=True).stdout
    assert 'devices[sim1].description = "fax room"  [store, token admin, ' in text
    assert "[default]" not in text and "[file]" not in text
