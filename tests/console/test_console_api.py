"""The API the console stands on, over plain HTTP: the session cookie and CSRF, page images, routing dry run,
statistics, the simulated network, /metrics, and how the console's files may be cached."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys

import httpx
from PIL import Image

from gateway.console import digest
from gateway.enums import AccessRights
from tests.api.support import make_token, store_received_fax
from tests.console.conftest import Console


def _signed_in(console: Console, **form: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=console.url + "/api/v1", timeout=30)
    reply = client.post("/session", json=form)
    assert reply.status_code == 200, reply.text
    return client, str(reply.json()["csrf"])


def test_session_cookie_needs_its_csrf_value_and_a_valid_signature(console: Console) -> None:
    client, csrf = _signed_in(console, user="admin", password="correct horse")
    assert client.get("/session").json()["name"] == "admin"
    assert client.put("/outgoing/queue", json={}).status_code == 403
    assert client.put("/outgoing/queue", json={}, headers={"X-CSRF-Token": "guess"}).status_code == 403
    assert client.put("/outgoing/queue", json={}, headers={"X-CSRF-Token": csrf}).status_code == 200
    cookie = client.cookies["faxgate_session"]
    body, _, signature = cookie.partition(".")
    forged = httpx.Client(base_url=console.url + "/api/v1", cookies={"faxgate_session": body[:-2] + "xx." + signature})
    refused = forged.get("/session", headers={"X-Faxgate-Console": "1"})
    assert refused.status_code == 401 and "WWW-Authenticate" not in refused.headers  # no browser password box
    assert "WWW-Authenticate" in forged.get("/session").headers
    assert client.delete("/session").status_code == 204
    assert client.get("/session").status_code == 401


def test_a_token_session_ends_when_the_token_is_revoked(console: Console) -> None:
    secret = make_token(console.config, "kiosk", AccessRights.QUERY_CONFIG)
    client, _ = _signed_in(console, token=secret)
    assert client.get("/devices").status_code == 200
    assert client.get("/incoming/jobs").status_code == 403
    subprocess.run([sys.executable, "-m", "gateway", "token", "revoke", "kiosk", "--config", str(console.config)],
                   check=True, capture_output=True, timeout=60)
    assert client.get("/devices").status_code == 401


def test_wrong_credentials_set_no_cookie(console: Console) -> None:
    client = httpx.Client(base_url=console.url + "/api/v1", timeout=30)
    assert client.post("/session", json={"user": "admin", "password": "nope"}).status_code == 401
    assert client.post("/session", json={"token": "fgt_unknown"}).status_code == 401
    assert "faxgate_session" not in client.cookies


def test_received_pages_as_png_thumbnails_and_routing_report(console: Console) -> None:
    job_id, _ = store_received_fax(console.config, console.folder, pages=2)
    with console.api() as api:
        full = api.get(f"/incoming/jobs/{job_id}/pages/2.png")
        thumb = api.get(f"/incoming/jobs/{job_id}/pages/1.png", params={"width": 100})
        assert full.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(full.content)).size == (1728, 400)
        assert Image.open(io.BytesIO(thumb.content)).width == 100
        assert api.get(f"/incoming/jobs/{job_id}/pages/3.png").status_code == 404
        report = api.get(f"/incoming/jobs/{job_id}/routing").json()
        assert set(report) == {"routing_status", "why", "matched", "decision", "deliveries", "session_log"}
        assert api.post(f"/incoming/jobs/{job_id}/reroute").status_code == 200
        assert api.post("/incoming/jobs/999999/reroute").status_code == 404
    with console.api("clerk") as clerk:
        refused = clerk.get(f"/incoming/jobs/{job_id}/pages/1.png")
        assert refused.status_code == 403 and refused.json()["missing_right"] == "query_in_archive"


def test_routing_dry_run_answers_as_the_cli(console: Console) -> None:
    with console.api() as api:
        answer = api.post("/routing/test", json={"did": "100", "caller_id": "5550100"}).json()
        assert api.post("/routing/test", json={"at": False}).status_code == 422  # strict: false is not the epoch
        assert api.post("/routing/test", json={"at": 1.9e115}).status_code == 422  # beyond any calendar
        assert api.post("/routing/test", json={"at": 253_402_214_400, "pages": 2.0}).status_code == 200
        assert api.get("/routing/rules").json()["admin"] == "faxmaster@localhost"
    cli = subprocess.run([sys.executable, "-m", "gateway", "route", "test", "--config", str(console.config),
                          "--did", "100", "--cid", "5550100", "--json"], capture_output=True, text=True, timeout=60)
    expected = json.loads(cli.stdout)
    assert answer["why"] == expected["why"] and answer["deliveries"] == expected["deliveries"]
    with console.api("clerk") as clerk:
        assert clerk.post("/routing/test", json={}).json()["missing_right"] == "query_config"


def test_statistics_and_simulation_refusals(console: Console) -> None:
    with console.api() as api:
        figures = api.get("/statistics", params={"since": 0}).json()
        assert figures["incoming"] >= 1 and figures["queue"] + figures["archive"] >= 0
        simulation = api.get("/simulation").json()
        assert simulation["running"] and "5550100" in {r["number"] for r in simulation["remotes"]}
        assert api.post("/simulation/calls", json={"caller": "5559999"}).status_code == 404
        assert api.post("/simulation/calls", json={"to": "5550000"}).status_code == 404
    with console.api("clerk") as clerk:
        assert clerk.post("/simulation/calls", json={}).json()["missing_right"] == "manage_config"


def test_metrics_read_the_store(console: Console) -> None:
    found = console.metrics()
    assert found["faxgate_pages_received_total"] >= 2
    assert any(series.startswith('faxgate_device_state{device="sim0"') for series in found)
    assert "faxgate_queue_oldest_age_seconds" in found


def test_preview_renders_without_storing_anything(console: Console) -> None:
    from tests.console.conftest import two_page_pdf

    document = two_page_pdf(console.folder / "preview.pdf").read_bytes()
    with console.api("clerk") as clerk:
        before = clerk.get("/outgoing/jobs", params={"limit": 500}).json()["jobs"]
        reply = clerk.post("/outgoing/preview", data={"recipients": json.dumps([{"number": "5550100", "name": "Ada"}]),
                                                      "cover": "true", "note": "hello"},
                           files=[("files", ("letter.pdf", document, "application/pdf"))])
        assert reply.status_code == 200, reply.text
        answer = reply.json()
        assert answer["pages"] == 3 and len(answer["images"]) == 3
        assert all(image.startswith("data:image/png;base64,") for image in answer["images"])
        assert clerk.post("/outgoing/preview", data={}).status_code == 400
        assert clerk.get("/outgoing/jobs", params={"limit": 500}).json()["jobs"] == before
    secret = make_token(console.config, "reader", AccessRights.QUERY_CONFIG)
    refused = httpx.post(console.url + "/api/v1/outgoing/preview", headers={"Authorization": f"Bearer {secret}"},
                         data={"note": "x", "cover": "true"}, timeout=30)
    assert refused.status_code == 403 and refused.json()["missing_right"] == "submit_low"


def test_console_files_are_kept_under_their_digest_and_revalidated_elsewhere(console: Console) -> None:
    page = httpx.get(console.url + "/console/", timeout=30)
    assert page.headers["Cache-Control"] == "no-cache"
    version = f"v/{digest()}"
    linked = set(re.findall(r'(?:src|href)="([^"#][^"]*)"', page.text))  # files, not the skip link
    assert f"{version}/app.js" in linked and f"{version}/pages/dashboard.js" in linked
    assert all(link.startswith(version + "/") for link in linked), linked  # no file the browser would revalidate
    module = httpx.get(f"{console.url}/console/{version}/app.js", timeout=30)
    assert module.status_code == 200 and module.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert 'new URL("./icon.svg", import.meta.url)' in module.text  # the icon, too, is fetched from the kept path
    plain = httpx.get(f"{console.url}/console/static/app.js", timeout=30)
    assert plain.text == module.text and plain.headers["Cache-Control"] == "no-cache"
    again = httpx.get(f"{console.url}/console/static/app.js", headers={"If-None-Match": plain.headers["ETag"]},
                      timeout=30)
    assert again.status_code == 304
