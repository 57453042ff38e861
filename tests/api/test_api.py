"""Every API endpoint against a real `faxgate serve`: who may call it, what it answers, and what it refuses.

The outgoing queue starts paused, so submitted jobs wait and can be paused, resumed and canceled.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gateway.enums import AccessRights, JobStatus
from gateway.passwords import hash_password
from gateway.queue.documents import load_pymupdf
from tests.api.support import ALL_RIGHTS, SUBMIT_RIGHTS, make_token, pdf_document, store_received_fax
from tests.queue.simserver import sim_config
from tests.support.server import ServerProcess

GUID = "{6bbf7bfe-9af2-11d0-abf7-00c04fd91a4e}"


@dataclass
class Api:
    """The running server, its config, and what the tests need from its store."""

    server: ServerProcess
    config: Path
    url: str
    folder: Path
    received_id: int
    received_tiff: bytes

    def client(self, token: str | None = None, **kwargs: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url + "/api/v1", headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]

    def token(self, name: str, rights: AccessRights) -> str:
        return make_token(self.config, name, rights)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    folder = tmp_path_factory.mktemp("api")
    users = (f'[outbox]\npaused = true\nmax_recipients = 3\n\n[[security.users]]\nname = "ada"\n'
             f'password_hash = "{hash_password("lovelace")}"\nrights = ["submit_normal", "query_config"]\n')
    config, _, http_port = sim_config(folder, 9, extra=users)
    received_id, tiff = store_received_fax(config, folder)
    with ServerProcess(config, http_port) as server:
        yield Api(server, config, f"http://127.0.0.1:{http_port}", folder, received_id, tiff)


def submit(client: httpx.Client, folder: Path, numbers: list[str], **form: str) -> httpx.Response:
    document = folder / "letter.pdf"
    if not document.exists():
        pdf_document(document)
    recipients = json.dumps([{"number": number, "name": f"Recipient {number}"} for number in numbers])
    return client.post("/outgoing/submit", data={"recipients": recipients, **form},
                       files=[("files", ("letter.pdf", document.read_bytes(), "application/pdf"))])


def wait_for_jobs(client: httpx.Client, submission_id: str, count: int) -> list[dict[str, object]]:
    """The submission's jobs, once the worker rendered it (polled; real rendering takes a moment)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        reply = client.get("/outgoing/jobs", params={"submission": submission_id})
        assert reply.status_code == 200, reply.text
        jobs: list[dict[str, object]] = reply.json()["jobs"]
        if len(jobs) == count:
            return jobs
        time.sleep(0.2)
    raise AssertionError(f"submission {submission_id} did not become {count} jobs")


@dataclass
class Owners:
    """Jobs submitted by two principals: ``low`` (SUBMIT_LOW only) and ``other`` (SUBMIT_NORMAL)."""

    low: str
    other: str
    low_jobs: list[int]
    other_jobs: list[int]


@pytest.fixture(scope="module")
def owners(api: Api) -> Owners:
    low = api.token("low", AccessRights.SUBMIT_LOW)
    other = api.token("other", AccessRights.SUBMIT_NORMAL)
    with api.client(low) as client:
        mine = submit(client, api.folder, ["5550100", "5550104"], priority="low")
        assert mine.status_code == 202, mine.text
        low_jobs = [int(str(job["id"])) for job in wait_for_jobs(client, mine.json()["submission_id"], 2)]
    with api.client(other) as client:
        theirs = submit(client, api.folder, ["5550103"])
        assert theirs.status_code == 202, theirs.text
        other_jobs = [int(str(job["id"])) for job in wait_for_jobs(client, theirs.json()["submission_id"], 1)]
    return Owners(low, other, low_jobs, other_jobs)


# (method, path, JSON body, the right it needs). Each is called with a token that has every right but that one.
def _cases(owners: Owners, api: Api) -> list[tuple[str, str, object, AccessRights]]:
    other_job = owners.other_jobs[0]
    received = api.received_id
    return [
        ("GET", "/devices", None, AccessRights.QUERY_CONFIG),
        ("GET", "/activity", None, AccessRights.QUERY_CONFIG),
        ("GET", "/intake/sources", None, AccessRights.QUERY_CONFIG),
        ("GET", "/outgoing/queue", None, AccessRights.QUERY_CONFIG),
        ("PUT", "/outgoing/queue", {}, AccessRights.MANAGE_CONFIG),
        ("GET", f"/extensions/{GUID}", None, AccessRights.QUERY_CONFIG),
        ("PUT", f"/extensions/{GUID}", {"data": "AA=="}, AccessRights.MANAGE_CONFIG),
        ("GET", f"/outgoing/jobs/{other_job}", None, AccessRights.QUERY_JOBS),
        ("POST", f"/outgoing/jobs/{other_job}/pause", None, AccessRights.MANAGE_JOBS),
        ("POST", f"/outgoing/jobs/{other_job}/resume", None, AccessRights.MANAGE_JOBS),
        ("POST", f"/outgoing/jobs/{other_job}/cancel", None, AccessRights.MANAGE_JOBS),
        ("POST", f"/outgoing/jobs/{other_job}/restart", None, AccessRights.MANAGE_JOBS),
        ("GET", "/incoming/jobs", None, AccessRights.QUERY_IN_ARCHIVE),
        ("GET", f"/incoming/jobs/{received}", None, AccessRights.QUERY_IN_ARCHIVE),
        ("GET", f"/incoming/jobs/{received}/tiff", None, AccessRights.QUERY_IN_ARCHIVE),
        ("GET", f"/incoming/jobs/{received}/pdf", None, AccessRights.QUERY_IN_ARCHIVE),
        ("DELETE", f"/incoming/jobs/{received}", None, AccessRights.MANAGE_IN_ARCHIVE),
        ("GET", f"/outgoing/jobs/{other_job}/tiff", None, AccessRights.QUERY_JOBS),
        ("GET", f"/outgoing/jobs/{other_job}/pdf", None, AccessRights.QUERY_JOBS),
        ("GET", f"/outgoing/jobs/{other_job}/receipt", None, AccessRights.QUERY_JOBS),
        ("GET", "/activity/log", None, AccessRights.QUERY_JOBS),
        ("GET", f"/incoming/jobs/{received}/routing", None, AccessRights.QUERY_IN_ARCHIVE),
        ("POST", f"/incoming/jobs/{received}/reroute", None, AccessRights.MANAGE_IN_ARCHIVE),
        ("GET", "/tokens", None, AccessRights.QUERY_CONFIG),
        ("POST", "/tokens", {"name": "never-made", "rights": ["query_config"]}, AccessRights.MANAGE_CONFIG),
        ("DELETE", "/tokens/low", None, AccessRights.MANAGE_CONFIG),
    ]


def test_every_endpoint_refuses_a_principal_without_its_right_and_names_it(api: Api, owners: Owners) -> None:
    for index, (method, path, body, right) in enumerate(_cases(owners, api)):
        token = api.token(f"without-{index}", ALL_RIGHTS & ~right)
        with api.client(token) as client:
            reply = client.request(method, path, json=body)
        assert reply.status_code == 403, (method, path, reply.text)
        assert reply.json()["missing_right"] == str(right.name).lower(), (method, path)
        assert str(right.name) in reply.json()["detail"]
    # Listing jobs needs QUERY_JOBS unless the caller may submit (then it sees its own).
    with api.client(api.token("nothing-to-list", ALL_RIGHTS & ~AccessRights.QUERY_JOBS & ~SUBMIT_RIGHTS)) as client:
        reply = client.get("/outgoing/jobs")
    assert (reply.status_code, reply.json()["missing_right"]) == (403, "query_jobs")


def test_every_endpoint_asks_for_credentials(api: Api, owners: Owners) -> None:
    paths = [("GET", "/server", None), ("GET", "/outgoing/jobs", None), ("POST", "/outgoing/submit", None)]
    paths += [(method, path, body) for method, path, body, _ in _cases(owners, api)]
    for method, path, body in paths:
        for client in (api.client(), api.client("fgt_not-a-token"), api.client(auth=("ada", "wrong"))):
            with client:
                reply = client.request(method, path, json=body)
            assert reply.status_code == 401, (method, path, reply.text)
            assert reply.headers["www-authenticate"].startswith("Bearer")


def test_submit_rights_cap_the_priority(api: Api, owners: Owners) -> None:
    with api.client(owners.low) as client:
        for priority, right in (("normal", "submit_normal"), ("high", "submit_high")):
            reply = submit(client, api.folder, ["5550100"], priority=priority)
            assert (reply.status_code, reply.json()["missing_right"]) == (403, right)
    with api.client(api.token("cannot-submit", AccessRights.QUERY_JOBS)) as client:
        reply = submit(client, api.folder, ["5550100"])
        assert (reply.status_code, reply.json()["missing_right"]) == (403, "submit_low")


def test_a_submitter_sees_and_manages_only_its_own_jobs(api: Api, owners: Owners) -> None:
    with api.client(owners.low) as client:
        listed = client.get("/outgoing/jobs").json()
        assert sorted(job["id"] for job in listed["jobs"]) == sorted(owners.low_jobs)
        mine = client.get(f"/outgoing/jobs/{owners.low_jobs[0]}").json()
        assert mine["recipient"] == {"number": "5550100", "name": "Recipient 5550100"}
        assert (mine["priority"], mine["status_names"], mine["attempts"]) == ("low", ["PENDING"], [])
        assert set(mine["available_operations"]) >= {"pause", "delete"}
        paused = client.post(f"/outgoing/jobs/{owners.low_jobs[0]}/pause").json()
        assert paused["status"] == JobStatus.PENDING | JobStatus.PAUSED
        assert client.post(f"/outgoing/jobs/{owners.low_jobs[0]}/resume").json()["status"] == JobStatus.PENDING
        refused = client.get(f"/outgoing/jobs/{owners.other_jobs[0]}")
        assert (refused.status_code, refused.json()["missing_right"]) == (403, "query_jobs")
        refused = client.post(f"/outgoing/jobs/{owners.other_jobs[0]}/cancel")
        assert (refused.status_code, refused.json()["missing_right"]) == (403, "manage_jobs")
        not_allowed = client.post(f"/outgoing/jobs/{owners.low_jobs[0]}/restart")
        assert not_allowed.status_code == 409 and "retries ran out" in not_allowed.json()["detail"]


def test_query_jobs_sees_all_and_manage_jobs_manages_all(api: Api, owners: Owners) -> None:
    with api.client(api.token("watcher", AccessRights.QUERY_JOBS)) as client:
        ids = [job["id"] for job in client.get("/outgoing/jobs").json()["jobs"]]
        assert set(owners.low_jobs + owners.other_jobs) <= set(ids)
        assert client.get(f"/outgoing/jobs/{owners.other_jobs[0]}").status_code == 200
        refused = client.post(f"/outgoing/jobs/{owners.other_jobs[0]}/pause")
        assert (refused.status_code, refused.json()["missing_right"]) == (403, "manage_jobs")
    with api.client(api.token("manager", AccessRights.MANAGE_JOBS)) as client:
        paused = client.post(f"/outgoing/jobs/{owners.other_jobs[0]}/pause")
        assert paused.status_code == 200 and "PAUSED" in paused.json()["status_names"]
        assert client.post(f"/outgoing/jobs/{owners.other_jobs[0]}/resume").status_code == 200


def test_jobs_page_by_cursor(api: Api, owners: Owners) -> None:
    with api.client(api.token("pager", AccessRights.QUERY_JOBS)) as client:
        seen: list[int] = []
        after: int | None = None
        pages = 0
        while True:
            params = {"limit": 1} | ({"after": after} if after is not None else {})
            page = client.get("/outgoing/jobs", params=params).json()
            seen += [job["id"] for job in page["jobs"]]
            pages += 1
            after = page["next_after"]
            if after is None:
                break
        everything = [job["id"] for job in client.get("/outgoing/jobs", params={"limit": 500}).json()["jobs"]]
    assert seen == everything and pages == len(everything) >= 3


def test_cancel_by_a_manager_names_who_canceled(api: Api, owners: Owners) -> None:
    with api.client(owners.low) as client:
        reply = submit(client, api.folder, ["5550100"], priority="low")
        [job] = wait_for_jobs(client, reply.json()["submission_id"], 1)
    with api.client(api.token("canceller", AccessRights.MANAGE_JOBS)) as client:
        canceled = client.post(f"/outgoing/jobs/{job['id']}/cancel").json()
        assert canceled["status_names"] == ["CANCELED"]
        assert canceled["extended_status_text"] == "canceled by token canceller"
        again = client.post(f"/outgoing/jobs/{job['id']}/cancel")
        assert again.status_code == 409 and "cannot be canceled" in again.json()["detail"]
        assert client.post("/outgoing/jobs/999999/cancel").status_code == 404


def test_submit_refuses_bad_input_with_a_reason(api: Api, owners: Owners) -> None:
    with api.client(owners.other) as client:
        bad_json = client.post("/outgoing/submit", data={"recipients": "5550100"})
        assert bad_json.status_code == 400 and "JSON" in bad_json.json()["detail"]
        bad_number = submit(client, api.folder, ["12"])
        assert bad_number.status_code == 400 and "not a valid fax number" in bad_number.json()["detail"]
        too_many = submit(client, api.folder, ["5550100", "5550101", "5550102", "5550103"])
        assert too_many.status_code == 400 and "at most 3" in too_many.json()["detail"]
        nothing = client.post("/outgoing/submit", data={"recipients": '[{"number": "5550100"}]'})
        assert nothing.status_code == 400 and "nothing to fax" in nothing.json()["detail"]


def test_queue_switches_and_blocked_submissions(api: Api, owners: Owners) -> None:
    with api.client(api.token("config", AccessRights.QUERY_CONFIG | AccessRights.MANAGE_CONFIG)) as admin:
        state = admin.get("/outgoing/queue").json()
        assert state["paused"] is True and state["blocked"] is False and state["queued"] >= 3
        assert admin.put("/outgoing/queue", json={"blocked": True}).json()["blocked"] is True
        with api.client(owners.other) as client:
            refused = submit(client, api.folder, ["5550100"])
        assert refused.status_code == 409 and "blocked" in refused.json()["detail"]
        after = admin.put("/outgoing/queue", json={"blocked": False}).json()
        assert (after["paused"], after["blocked"]) == (True, False)
        activity = admin.get("/activity").json()
        assert activity == {"routing_messages": 0, "outgoing_messages": 0, "queued_messages": state["queued"]}


def test_server_devices_and_openapi(api: Api) -> None:
    with api.client(api.token("reader", AccessRights.QUERY_CONFIG)) as client:
        server = client.get("/server").json()
        assert server["server_name"] == "faxgate" and server["api_version"] == "v1"
        assert server["version"] == "0.1.0" and server["granted_rights"] == ["query_config"]
        devices = client.get("/devices").json()
    assert [(d["id"], d["name"], d["provider"]) for d in devices] == [(1, "sim0", "simulated"),
                                                                       (2, "sim1", "simulated")]
    assert all(d["status_text"] == "available" and d["receive_mode"] == "auto_answer" for d in devices)
    document = httpx.get(api.url + "/api/v1/openapi.json").json()
    assert document["info"]["title"] == "faxgate"
    assert {"/api/v1/outgoing/submit", "/api/v1/outgoing/jobs/{job_id}/cancel", "/api/v1/incoming/jobs/{job_id}/pdf",
            "/api/v1/extensions/{guid}"} <= set(document["paths"])
    assert httpx.get(api.url + "/health").json()["status"] == "ok"


def test_basic_login_of_a_configured_user(api: Api) -> None:
    with api.client(auth=("ada", "lovelace")) as client:
        assert client.get("/server").json()["granted_rights"] == ["submit_normal", "query_config"]
        assert client.get("/devices").status_code == 200
        reply = client.get("/incoming/jobs")
        assert (reply.status_code, reply.json()["missing_right"]) == (403, "query_in_archive")
        sent = submit(client, api.folder, ["5550100"])
        assert sent.status_code == 202
        [job] = wait_for_jobs(client, sent.json()["submission_id"], 1)
        assert job["priority"] == "normal"


def test_extension_properties_server_and_device_level(api: Api) -> None:
    with api.client(api.token("extensions", AccessRights.QUERY_CONFIG | AccessRights.MANAGE_CONFIG)) as client:
        other = "{0000beef-0000-0000-0000-000000000001}"
        assert client.get(f"/extensions/{other}").status_code == 404
        blob = bytes(range(256))
        stored = client.put(f"/extensions/{other}", json={"data": base64.b64encode(blob).decode()},
                            params={"device": 2})
        assert stored.status_code == 200, stored.text
        got = client.get(f"/extensions/{other.strip('{}')}", params={"device": 2}).json()
        assert base64.b64decode(got["data"]) == blob and got["device_id"] == 2
        assert client.get(f"/extensions/{other}", params={"device": 0}).status_code == 404
        assert client.put(f"/extensions/{other}", json={"data": "AA=="}, params={"device": 9}).status_code == 404
        assert client.put("/extensions/not-a-guid", json={"data": "AA=="}).status_code == 422
        assert client.put(f"/extensions/{other}", json={"data": "%%%"}).status_code == 422


def test_incoming_archive_list_download_delete(api: Api) -> None:
    token = api.token("archivist", AccessRights.QUERY_IN_ARCHIVE | AccessRights.MANAGE_IN_ARCHIVE)
    second, _ = store_received_fax(api.config, api.folder, pages=1)
    with api.client(token) as client:
        newest = client.get("/incoming/jobs", params={"limit": 1}).json()
        assert [job["id"] for job in newest["jobs"]] == [second] and newest["next_before"] == second
        older = client.get("/incoming/jobs", params={"limit": 1, "before": second}).json()
        assert [job["id"] for job in older["jobs"]] == [api.received_id]
        fax = client.get(f"/incoming/jobs/{api.received_id}").json()
        assert (fax["pages"], fax["tsid"], fax["routing_information"]) == (2, "+1 555 0100", "5551000")
        assert client.get(f"/incoming/jobs/{api.received_id}/tiff").content == api.received_tiff
        pdf = client.get(f"/incoming/jobs/{api.received_id}/pdf")
        assert pdf.headers["content-type"] == "application/pdf"
        assert load_pymupdf().open(stream=pdf.content, filetype="pdf").page_count == 2
        assert client.delete(f"/incoming/jobs/{second}").status_code == 204
        assert client.get(f"/incoming/jobs/{second}").status_code == 404
        assert client.delete(f"/incoming/jobs/{second}").status_code == 404


def test_a_token_revoked_mid_session_stops_working_at_once(api: Api) -> None:
    token = api.token("short-lived", AccessRights.QUERY_CONFIG)
    with api.client(token) as client:  # one keep-alive connection throughout
        assert client.get("/devices").status_code == 200
        listed = subprocess.run([sys.executable, "-m", "gateway", "token", "list", "--config", str(api.config),
                                 "--json"], capture_output=True, text=True, check=True)
        assert "short-lived" in [row["name"] for row in json.loads(listed.stdout)]
        revoked = subprocess.run([sys.executable, "-m", "gateway", "token", "revoke", "short-lived", "--config",
                                  str(api.config)], capture_output=True, text=True)
        assert revoked.returncode == 0, revoked.stderr
        reply = client.get("/devices")
        assert reply.status_code == 401 and "revoked" in reply.json()["detail"]


def test_the_sync_client_reads_the_server(api: Api, owners: Owners) -> None:
    from gateway.client import FaxApiError, FaxServer

    with FaxServer.connect(api.url, owners.low) as server:
        assert server.server_name == "faxgate" and server.granted_rights == ["submit_low"]
        jobs = server.folders.outgoing_queue.get_jobs(page_size=1)
        assert sorted(job.id for job in jobs) >= sorted(owners.low_jobs)
        assert {job.info.recipient.number for job in jobs} >= {"5550100", "5550104"}
        with pytest.raises(FaxApiError) as refused:
            server.get_devices()
        assert (refused.value.status, refused.value.missing_right) == (403, "query_config")


def test_a_job_copies_out_as_tiff_and_pdf_for_its_owner(api: Api, owners: Owners) -> None:
    job = owners.low_jobs[0]
    with api.client(owners.low) as client:
        tiff = client.get(f"/outgoing/jobs/{job}/tiff")
        assert (tiff.status_code, tiff.headers["content-type"]) == (200, "image/tiff")
        assert tiff.content[:4] in (b"II*\0", b"MM\0*")
        pdf = client.get(f"/outgoing/jobs/{job}/pdf")
        assert load_pymupdf().open(stream=pdf.content, filetype="pdf").page_count == 1
        other = client.get(f"/outgoing/jobs/{owners.other_jobs[0]}/tiff")
        assert (other.status_code, other.json()["missing_right"]) == (403, "query_jobs")
        assert client.get(f"/outgoing/jobs/{2**31 - 1}/pdf").status_code == 404


def test_activity_log_and_incoming_routing_and_reroute(api: Api) -> None:
    token = api.token("routing-reader", AccessRights.QUERY_JOBS | AccessRights.QUERY_IN_ARCHIVE
                      | AccessRights.MANAGE_IN_ARCHIVE)
    with api.client(token) as client:
        log = client.get("/activity/log", params={"since": 0})
        assert log.status_code == 200 and isinstance(log.json()["lines"], list)
        routing = client.get(f"/incoming/jobs/{api.received_id}/routing").json()
        assert set(routing) == {"routing_status", "why", "matched", "decision", "deliveries", "session_log"}
        rerouted = client.post(f"/incoming/jobs/{api.received_id}/reroute")
        assert rerouted.json() == {"id": api.received_id, "rerouted": True}
        assert client.get(f"/incoming/jobs/{api.received_id}").json()["routing_status"] == "waiting to be routed again"
        assert client.post(f"/incoming/jobs/{2**31 - 1}/reroute").status_code == 404


def test_tokens_over_the_api_never_exceed_their_creator(api: Api) -> None:
    manager = api.token("token-manager", AccessRights.QUERY_CONFIG | AccessRights.MANAGE_CONFIG)
    with api.client(manager) as client:
        made = client.post("/tokens", json={"name": "made-by-api", "rights": ["query_config"]})
        assert made.status_code == 201 and made.json()["token"].startswith("fgt_")
        with api.client(made.json()["token"]) as fresh:
            assert fresh.get("/server").json()["granted_rights"] == ["query_config"]
        again = client.post("/tokens", json={"name": "made-by-api", "rights": ["query_config"]})
        assert again.status_code == 409
        beyond = client.post("/tokens", json={"name": "beyond", "rights": ["manage_jobs"]})
        assert (beyond.status_code, beyond.json()["missing_right"]) == (403, "manage_jobs")
        assert "made-by-api" in [row["name"] for row in client.get("/tokens").json()]
        assert "token" not in client.get("/tokens").json()[0]
        assert client.delete("/tokens/made-by-api").status_code == 204
        assert client.delete("/tokens/made-by-api").status_code == 404
        local = [row["name"] for row in client.get("/tokens").json() if row["name"].startswith("local-admin.")]
        assert len(local) == 1
        kept = client.delete(f"/tokens/{local[0]}")
        assert kept.status_code == 409 and "--offline" in kept.json()["detail"]
        reserved = client.post("/tokens", json={"name": "local-admin.mine", "rights": ["query_config"]})
        assert reserved.status_code == 409 and "reserved" in reserved.json()["detail"]


def test_a_wrong_method_names_every_method_of_the_path_and_bodies_are_strict(api: Api) -> None:
    with api.client(api.token("strict", ALL_RIGHTS)) as client:
        wrong = client.request("PATCH", "/outgoing/queue")
        assert (wrong.status_code, wrong.headers["allow"]) == (405, "GET, PUT")
        assert client.request("PATCH", f"/incoming/jobs/{api.received_id}").headers["allow"] == "DELETE, GET"
        assert client.put("/outgoing/queue", json={"blocked": 0}).status_code == 422
    document = httpx.get(api.url + "/api/v1/openapi.json").json()
    form = document["components"]["schemas"]["Body_submit_api_v1_outgoing_submit_post"]["properties"]
    assert form["recipients"]["items"] == {"$ref": "#/components/schemas/FaxRecipient"}
    assert "anyOf" not in form["files"] and "anyOf" not in form["priority"]
    encoding = document["paths"]["/api/v1/outgoing/submit"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert encoding["encoding"] == {"recipients": {"contentType": "application/json"}}
    links = document["paths"]["/api/v1/outgoing/jobs"]["get"]["responses"]["200"]["links"]
    assert {link["parameters"]["job_id"] for link in links.values()} == {"$response.body#/jobs/0/id"}
    preview = document["components"]["schemas"]["Body_preview_api_v1_outgoing_preview_post"]["properties"]
    assert "anyOf" not in preview["files"] and preview["recipients"]["minItems"] == 0
    log = document["paths"]["/api/v1/outgoing/jobs/{job_id}/log"]["get"]["responses"]
    assert set(log["200"]["content"]) == {"text/plain"} and set(log["404"]["content"]) == {"application/json"}
    with_body = [operation for operations in document["paths"].values() for operation in operations.values()
                 if "requestBody" in operation]
    assert with_body and all("400" in operation["responses"] for operation in with_body)  # an unreadable body
    unreadable = httpx.post(api.url + "/api/v1/session", content=b"\xff\xfe{", timeout=30,
                            headers={"Content-Type": "application/json"})
    assert unreadable.status_code == 400 and unreadable.json()["missing_right"] is None
