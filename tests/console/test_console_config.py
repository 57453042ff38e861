"""The console's configuration pages (devices, outbound routing, server settings) and the receipt PDF, in Debian's
Chromium against a real `faxgate serve`: each change is read back over the API, refusals show next to their field,
another administrator's change arrives over the event stream, and an auditor (QUERY_CONFIG) only reads."""

from __future__ import annotations

import json
import re
import time

from playwright.sync_api import Browser, Locator, Page, expect

from gateway.queue.documents import load_pymupdf
from tests.console.conftest import (
    OUTPUT,
    Console,
    check_accessibility,
    new_context,
    shoot,
    sign_in,
    two_page_pdf,
)


def _field(page: Page, form: str, label: str) -> Locator:
    return page.locator(f"#{form}").get_by_label(label, exact=True)


def error_of(page: Page, control: Locator) -> Locator:
    """The message the console shows next to a field (the field names it in aria-describedby)."""
    return page.locator(f"#{control.get_attribute('id')}-error")


def test_edit_a_device_and_see_it_applied_refused_and_changed_live(console: Console, browser: Browser) -> None:
    context = new_context(browser)
    page = context.new_page()
    sign_in(page, console.url, "admin")
    page.goto(console.url + "/console/#/devices")
    page.get_by_role("link", name="Edit sim0").click()
    expect(page.get_by_role("heading", name="Line sim0")).to_be_visible()
    form = page.locator("#device-settings")
    csid = form.get_by_label("CSID (station id when receiving)")
    rings = form.get_by_label("Rings before answer")
    expect(rings).not_to_have_value("")
    csid.fill("+1 555 1000 FRONT")
    rings.fill("3")
    form.get_by_label("Receive").select_option("manual")
    form.get_by_role("button", name="Save").click()
    expect(page.locator(".toast").last).to_contain_text("Line settings: saved")
    with console.api() as api:
        settings = api.get("/devices/sim0/settings").json()
    assert (settings["csid"], settings["rings_before_answer"], settings["receive_mode"]) == (
        "+1 555 1000 FRONT", 3, "manual")
    # The API's refusal (a 422 naming rings_before_answer) shows next to that field, and nothing is stored.
    rings.fill("25")
    form.get_by_role("button", name="Save").click()
    expect(error_of(page, rings)).to_contain_text("less than or equal to 20")
    expect(rings).to_have_attribute("aria-invalid", "true")
    shoot(page, "20-device-refused")
    with console.api() as api:
        assert api.get("/devices/sim0/settings").json()["rings_before_answer"] == 3
    form.get_by_role("button", name="Undo changes").click()
    expect(rings).to_have_value("3")
    # A routing method switched off for this line only.
    folder = page.locator("#method-folder")
    expect(folder).to_be_checked()
    folder.uncheck()
    expect(page.locator(".toast").last).to_contain_text("is off for sim0")
    with console.api() as api:
        methods = {m["name"]: m["enabled"] for m in api.get("/devices/sim0/settings").json()["routing_methods"]}
        assert methods["folder"] is False and methods["email"] is True
        # Another administrator's change arrives as a CONFIG event: the form shows it without a reload.
        api.put("/devices/sim0/settings", json={"tsid": "OTHER ADMIN", "receive_mode": "auto"})
    expect(form.get_by_label("TSID (station id when sending)")).to_have_value("OTHER ADMIN")
    expect(form.get_by_label("Receive")).to_have_value("auto")
    folder.check()
    expect(page.locator(".toast").last).to_contain_text("is on for sim0")
    shoot(page, "21-device-settings")
    check_accessibility(page, "device settings")
    page.goto(console.url + "/console/#/devices")
    expect(page.locator("tbody tr[data-key=sim0]")).to_contain_text("+1 555 1000 FRONT")
    context.close()


def test_add_change_and_delete_an_outbound_group_and_rule(console: Console, browser: Browser) -> None:
    context = new_context(browser)
    page = context.new_page()
    sign_in(page, console.url, "admin")
    page.goto(console.url + "/console/#/outbound")
    expect(page.get_by_role("heading", name="Outbound routing")).to_be_visible()
    expect(page.locator(".empty")).to_contain_text("No rules")
    page.get_by_label("Group name").fill("Local lines")
    page.get_by_label("sim1", exact=True).check()
    page.get_by_role("button", name="Add group").click()
    expect(page.locator(".toast").last).to_contain_text("Group Local lines added")
    page.get_by_label("Country code").fill("1")
    page.get_by_label("Area code").fill("555")
    page.get_by_label("Send on").select_option("group:Local lines")
    page.get_by_role("button", name="Add rule").click()
    expect(page.locator("tbody tr[data-key='1/555']")).to_contain_text("Group Local lines")
    with console.api() as api:
        assert api.get("/outbound-routing/groups").json() == [{"name": "Local lines", "devices": ["sim1"]}]
        assert api.get("/outbound-routing/rules").json() == [
            {"country_code": 1, "area_code": 555, "group": "Local lines", "device": ""}]
    # A second rule for the same country and area code: the API's 409 is shown, nothing is stored.
    page.get_by_label("Country code").fill("1")
    page.get_by_label("Area code").fill("555")
    page.get_by_label("Send on").select_option("device:sim0")
    page.get_by_role("button", name="Add rule").click()
    expect(page.locator("#rule-country-error")).to_contain_text("two rules are for country 1, area 555")
    # A country code out of range: the 422 names country_code.
    page.get_by_label("Country code").fill("1000")
    page.get_by_role("button", name="Add rule").click()
    expect(page.locator("#rule-country-error")).to_contain_text("less than or equal to 999")
    shoot(page, "22-outbound-refused")
    page.get_by_role("button", name="Change rule 1/555").click()
    page.get_by_label("Send on").select_option("device:sim0")
    page.get_by_role("button", name="Save rule").click()
    expect(page.locator("tbody tr[data-key='1/555']")).to_contain_text("Line sim0")
    shoot(page, "23-outbound-routing")
    check_accessibility(page, "outbound routing")
    page.get_by_role("button", name="Delete rule 1/555").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete rule").click()
    expect(page.locator(".empty")).to_contain_text("No rules")
    page.get_by_role("button", name="Delete group Local lines").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete group").click()
    expect(page.get_by_role("button", name="Delete group Local lines")).to_have_count(0)
    with console.api() as api:
        assert api.get("/outbound-routing/rules").json() == []
        assert api.get("/outbound-routing/groups").json() == []
    context.close()


def test_change_retries_and_see_refusals_and_another_admins_change(console: Console, browser: Browser) -> None:
    context = new_context(browser)
    page = context.new_page()
    sign_in(page, console.url, "admin")
    page.goto(console.url + "/console/#/settings")
    retries = _field(page, "outgoing-queue", "Retries")
    expect(retries).not_to_have_value("")
    retries.fill("7")
    _field(page, "outgoing-queue", "Discount period starts").fill("21:30")
    page.locator("#outgoing-queue").get_by_role("button", name="Save").click()
    expect(page.locator(".toast").last).to_contain_text("Outgoing queue: saved")
    with console.api() as api:
        queue = api.get("/config/outgoing-queue").json()
    assert (queue["retries"], queue["discount_rate_start"]) == (7, "21:30")
    header = _field(page, "outgoing-queue", "Header line")
    header.fill("{sent} {nosuch}")
    page.locator("#outgoing-queue").get_by_role("button", name="Save").click()
    expect(error_of(page, header)).to_contain_text("match pattern")
    page.locator("#outgoing-queue").get_by_role("button", name="Undo changes").click()
    archive = _field(page, "outgoing-archive", "Keep faxes (days)")
    archive.fill("30")
    page.locator("#outgoing-archive").get_by_role("button", name="Save").click()
    expect(page.locator(".toast").last).to_contain_text("Outgoing archive: saved")
    with console.api() as api:
        assert api.get("/config/outgoing-archive").json()["age_limit_s"] == 30 * 86400
        # Another administrator: the page shows the new delay without a reload (a CONFIG event).
        api.put("/config/outgoing-queue", json={"retry_delay_s": 300})
        api.put("/config/incoming-archive", json={"use_archive": False})
    expect(_field(page, "outgoing-queue", "Minutes between retries")).to_have_value("5")
    expect(_field(page, "incoming-archive", "Keep a copy in the archive")).not_to_be_checked()
    shoot(page, "24-server-settings")
    check_accessibility(page, "server settings")
    context.close()
    phone = new_context(browser, phone=True)
    page = phone.new_page()
    sign_in(page, console.url, "admin")
    page.goto(console.url + "/console/#/settings")
    expect(_field(page, "outgoing-queue", "Retries")).to_have_value("7")
    shoot(page, "25-phone-settings")
    check_accessibility(page, "phone settings")
    page.goto(console.url + "/console/#/devices/sim1")
    expect(page.locator("#device-settings").get_by_label("Rings before answer")).not_to_have_value("")
    shoot(page, "26-phone-device")
    check_accessibility(page, "phone device")
    page.goto(console.url + "/console/#/outbound")
    expect(page.get_by_role("button", name="Add rule")).to_be_visible()
    shoot(page, "30-phone-outbound")
    check_accessibility(page, "phone outbound")
    phone.close()


def test_query_config_sees_the_settings_read_only(console: Console, browser: Browser) -> None:
    context = new_context(browser)
    page = context.new_page()
    sign_in(page, console.url, "auditor")
    page.goto(console.url + "/console/#/settings")
    retries = _field(page, "outgoing-queue", "Retries")
    expect(retries).not_to_have_value("")
    expect(retries).to_be_disabled()
    expect(page.get_by_role("button", name="Save")).to_have_count(0)
    expect(page.locator(".read-only").first).to_contain_text("MANAGE_CONFIG")
    shoot(page, "27-read-only-settings")
    check_accessibility(page, "read-only settings")
    page.goto(console.url + "/console/#/devices")
    page.get_by_role("link", name="View sim0").click()
    expect(page.locator("#device-settings").get_by_label("Rings before answer")).to_be_disabled()
    expect(page.locator("#method-folder")).to_be_disabled()
    expect(page.get_by_role("button", name="Save")).to_have_count(0)
    check_accessibility(page, "read-only device")
    page.goto(console.url + "/console/#/outbound")
    expect(page.get_by_role("heading", name="Groups")).to_be_visible()
    expect(page.get_by_role("button", name="Add rule")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("^Delete"))).to_have_count(0)
    # The API refuses the auditor's change as well (the console only hides what the API would refuse).
    with console.api("auditor") as api:
        refused = api.put("/config/outgoing-queue", json={"retries": 1})
    assert (refused.status_code, refused.json()["missing_right"]) == (403, "manage_config")
    context.close()


def test_answer_now_appears_while_a_manual_line_rings_and_answers_it(console: Console, browser: Browser) -> None:
    with console.api() as api:
        assert api.put("/devices/sim1/settings", json={"receive_mode": "manual"}).status_code == 200
        before = len(api.get("/incoming/jobs", params={"limit": 500}).json()["jobs"])
    context = new_context(browser)
    page = context.new_page()
    sign_in(page, console.url, "admin")
    page.goto(console.url + "/console/#/devices/sim1")
    expect(page.locator("#device-settings").get_by_label("Receive")).to_have_value("manual")
    answer = page.get_by_role("button", name="Answer now")
    expect(answer).to_have_count(0)
    with console.api() as api:
        placed = api.post("/simulation/calls", json={"caller": "5550100", "to": "5551001", "pages": 1})
        assert placed.status_code == 202, placed.text
    # The ringing arrives as an INCOMING_CALL event: the button appears without a reload.
    expect(answer).to_be_visible(timeout=60_000)
    expect(page.locator(".device-state")).to_contain_text("waiting to be answered")
    shoot(page, "29-device-ringing")
    check_accessibility(page, "device ringing")
    answer.click()
    expect(page.locator(".toast").last).to_contain_text("Answering the call on sim1")
    expect(answer).to_have_count(0, timeout=60_000)
    with console.api() as api:
        deadline = time.monotonic() + 240
        while len(jobs := api.get("/incoming/jobs", params={"limit": 500}).json()["jobs"]) == before:
            assert time.monotonic() < deadline, "the answered call left no fax"
            time.sleep(0.5)
        assert any(job["device_name"] == "sim1" for job in jobs)
        api.put("/devices/sim1/settings", json={"receive_mode": "auto"})
    context.close()


def _sent_job(console: Console) -> int:
    document = two_page_pdf(console.folder / "receipt-letter.pdf")
    with console.api() as api:
        reply = api.post("/outgoing/submit", data={"recipients": json.dumps([{"number": "5550100", "name": "Ada"}]),
                                                   "subject": "Receipt test"},
                         files=[("files", ("letter.pdf", document.read_bytes(), "application/pdf"))])
        assert reply.status_code == 202, reply.text
        submission = reply.json()["submission_id"]
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            jobs = api.get("/outgoing/jobs", params={"submission": submission}).json()["jobs"]
            if jobs and jobs[0]["final_time"] is not None:
                assert "COMPLETED" in jobs[0]["status_names"], jobs[0]
                return int(jobs[0]["id"])
            time.sleep(0.5)
    raise AssertionError("the fax was not sent in time")


def test_the_receipt_pdf_of_a_sent_fax(console: Console, browser: Browser) -> None:
    job_id = _sent_job(console)
    context = new_context(browser)
    page = context.new_page()
    sign_in(page, console.url, "admin")
    page.goto(console.url + f"/console/#/outgoing/job/{job_id}")
    link = page.get_by_role("link", name="Receipt (PDF)")
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == f"receipt-{job_id}.pdf"
    OUTPUT.mkdir(parents=True, exist_ok=True)
    data = OUTPUT / f"receipt-{job_id}.pdf"
    download.value.save_as(data)
    pymupdf = load_pymupdf()
    with pymupdf.open(data) as document:
        text = " ".join(sheet.get_text() for sheet in document)
        document[0].get_pixmap(dpi=110).save(OUTPUT / "28-receipt-page-1.png")
        assert document[0].get_images(), "page 1 of the fax is shown reduced"
    for expected in ("Fax transmission report", "SENT", "5550100", "Ada", "Completed", "Call completed",
                     "2 of 2", "14400 bit/s", "Receipt test", f"{job_id}"):
        assert expected in text, (expected, text)
    page.goto(console.url + "/console/#/outgoing/archive")
    row_link = page.get_by_role("link", name=f"Receipt (PDF) of job {job_id}")
    same = page.request.get(console.url + (row_link.get_attribute("href") or ""))
    assert same.ok and same.body().startswith(b"%PDF")
    archived = page.request.get(console.url + f"/api/v1/outgoing-archive/messages/{job_id}/receipt")
    assert archived.ok and archived.headers["content-type"] == "application/pdf"
    context.close()
    clerk = console.api("clerk")
    with clerk:
        assert clerk.get(f"/outgoing/jobs/{job_id}/receipt").status_code == 403  # not the clerk's own fax
