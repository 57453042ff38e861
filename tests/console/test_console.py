"""The web console in Debian's Chromium against a real `faxgate serve` on the simulated network.

Live status comes from the server event stream (/api/v1/events, signed in by the console's session cookie); the
send, receive and pause tests depend on it.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
from playwright.sync_api import Browser, expect

from tests.console.conftest import (
    OUTPUT,
    Console,
    check_accessibility,
    new_context,
    shoot,
    sign_in,
    two_page_pdf,
)

CALL_TIMEOUT_MS = 240_000
"""A two-page fax plus cover at 4x real time, on a shared 2-core machine: generous, and never asserted on."""


def _grew(before: dict[str, float], after: dict[str, float], series: str, by: float) -> bool:
    return after.get(series, 0.0) >= before.get(series, 0.0) + by


def test_sign_in_refuses_a_wrong_password_and_lets_the_right_one_in(console: Console, browser: Browser) -> None:
    context = new_context(browser)
    page = context.new_page()
    page.goto(console.url + "/console/")
    shoot(page, "01-sign-in")
    check_accessibility(page, "sign-in")
    page.get_by_label("User name", exact=True).fill("admin")
    page.get_by_label("Password", exact=True).fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("wrong user name or password")
    page.get_by_label("Password", exact=True).fill("correct horse")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".live")).to_have_attribute("data-state", "live")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    cookie = next(c for c in context.cookies() if c["name"] == "faxgate_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    # The cookie alone cannot change anything: a request without the CSRF header is refused.
    refused = page.request.put(console.url + "/api/v1/outgoing/queue", data={"paused": True})
    assert refused.status == 403 and "X-CSRF-Token" in refused.json()["detail"]
    context.close()


def test_send_a_two_page_fax_with_a_cover_page_and_watch_it_complete(console: Console, browser: Browser) -> None:
    before = console.metrics()
    context = new_context(browser)
    page = context.new_page()
    sign_in(page, console.url, "admin")
    page.get_by_role("link", name="Send a fax").first.click()
    expect(page.get_by_role("heading", name="Send a fax")).to_be_visible()
    page.get_by_label("Name 1").fill("Ada Lovelace")
    page.get_by_label("Fax number 1").fill("5550100")
    page.set_input_files("#file-input", str(two_page_pdf(console.folder / "letter.pdf")))
    expect(page.locator(".file-list")).to_contain_text("letter.pdf")
    page.get_by_label("Add a cover page").check()
    page.get_by_label("Subject").fill("Quarterly figures")
    page.get_by_label("Note on the cover page").fill("Two pages follow. Please call back on receipt.")
    page.get_by_role("button", name="Preview pages").click()
    expect(page.locator("#preview-count")).to_contain_text("3 pages", timeout=60_000)
    expect(page.get_by_role("img", name="Preview of page 1")).to_be_visible()
    shoot(page, "03-send-form")
    check_accessibility(page, "send form")
    page.get_by_role("button", name="Send fax").click()
    status = page.locator(".sent-jobs .job-status").first
    # Live: the page never reloads or polls; each state arrives as an OUT_QUEUE event.
    expect(status).to_contain_text(re.compile("Pending|In progress"), timeout=60_000)
    expect(page.get_by_role("img", name="Page 1 as sent")).to_be_visible(timeout=60_000)
    expect(status).to_contain_text("In progress", timeout=CALL_TIMEOUT_MS)
    page.wait_for_function("() => [...document.querySelectorAll('.thumbs img')].every((i) => i.complete)")
    shoot(page, "04-send-in-progress")
    expect(status).to_contain_text("Completed", timeout=CALL_TIMEOUT_MS)
    expect(page.locator(".sent-jobs")).to_contain_text("3/3 pages")
    shoot(page, "05-send-completed")
    after = console.metrics()
    assert _grew(before, after, "faxgate_pages_sent_total", 3), (before, after)
    assert _grew(before, after, 'faxgate_calls_total{direction="outgoing",result="call_completed"}', 1)
    assert _grew(before, after, 'faxgate_jobs{status="completed"}', 1)
    assert after['faxgate_line_seconds_total{direction="outgoing"}'] > before.get(
        'faxgate_line_seconds_total{direction="outgoing"}', 0.0)
    job_link = page.locator(".sent-jobs a").first
    job_link.click()
    expect(page.get_by_role("heading", name="Calls")).to_be_visible()
    expect(page.locator("table")).to_contain_text("14400 bit/s")
    page.get_by_text("Show the T.30 session log of every call").click()
    expect(page.locator("pre.log")).to_contain_text("== call on sim")
    expect(page.locator("pre.log")).to_contain_text(re.compile(r"\bDCS\b"))
    shoot(page, "06-job-detail")
    check_accessibility(page, "job detail")
    pdf = page.request.get(console.url + (page.get_by_role("link", name="Download PDF").get_attribute("href") or ""))
    assert pdf.ok and pdf.body().startswith(b"%PDF")
    with console.api() as api:
        jobs_before = len(api.get("/outgoing/jobs", params={"limit": 500}).json()["jobs"])
    page.get_by_role("button", name="Send again").click()
    expect(page.locator(".toast")).to_contain_text("is sent again")
    with console.api() as api:
        deadline = time.monotonic() + 120
        while len(api.get("/outgoing/jobs", params={"limit": 500}).json()["jobs"]) == jobs_before:
            assert time.monotonic() < deadline, "the resent fax never became a job"
            time.sleep(0.3)
        resent = api.get("/outgoing/jobs", params={"limit": 500}).json()["jobs"][-1]
        assert resent["recipient"]["number"] == "5550100" and resent["pages"] == 3
        api.post(f"/outgoing/jobs/{resent['id']}/cancel")  # the line is wanted free for the next test
    context.close()


def _lines_idle(console: Console) -> None:
    """Wait until no line is in a call (a simulated caller that finds the line busy does not call again)."""
    deadline = time.monotonic() + 240
    with console.api() as api:
        while {d["state"] for d in api.get("/devices").json()} != {"ready"}:
            assert time.monotonic() < deadline, api.get("/devices").json()
            time.sleep(0.5)


def test_a_fax_arrives_live_and_opens_in_the_page_viewer(console: Console, browser: Browser) -> None:
    before = console.metrics()
    context = new_context(browser)
    page = context.new_page()
    sign_in(page, console.url, "admin")
    page.goto(console.url + "/console/#/inbox")
    existing = page.locator(".fax-card").count()
    page.goto(console.url + "/console/#/inbox/call")
    expect(page.get_by_label("Calling machine")).to_be_visible()
    shoot(page, "07-simulate-call")
    check_accessibility(page, "simulate call")
    _lines_idle(console)
    page.get_by_label("Calling machine").select_option("5550100")
    page.get_by_label("Pages").fill("2")
    page.get_by_role("button", name="Place the call").click()
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    expect(page.locator(".fax-card")).to_have_count(existing + 1, timeout=CALL_TIMEOUT_MS)
    card = page.locator(".fax-card").first
    thumbnail = card.locator("img")
    expect(thumbnail).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth === 240", arg=thumbnail.element_handle())
    expect(card).to_contain_text("+1 555 0100")
    shoot(page, "08-inbox")
    check_accessibility(page, "inbox")
    card.locator("a").click()
    expect(page.locator(".pager-count")).to_have_text("Page 1 of 2")
    image = page.locator(".page-image")
    page.wait_for_function("img => img.complete && img.naturalWidth > 1000", arg=image.element_handle())
    page.keyboard.press("ArrowRight")
    expect(page.locator(".pager-count")).to_have_text("Page 2 of 2")
    expect(page.locator(".facts")).to_contain_text("5550100")
    pdf = page.request.get(console.url + (page.get_by_role("link", name="Download PDF").get_attribute("href") or ""))
    assert pdf.ok and pdf.body().startswith(b"%PDF")
    shoot(page, "09-fax-viewer")
    check_accessibility(page, "fax viewer")
    expect(page.locator(".card", has_text="How it was routed")).to_contain_text("fax administrator", timeout=60_000)
    page.get_by_role("button", name="Reroute").click()
    expect(page.locator(".toast")).to_contain_text("routed again")
    after = console.metrics()
    assert _grew(before, after, "faxgate_pages_received_total", 2), (before, after)
    assert _grew(before, after, 'faxgate_calls_total{direction="incoming",result="call_completed"}', 1)
    context.close()


def test_pause_and_resume_the_queue(console: Console, browser: Browser) -> None:
    context = new_context(browser)
    page = context.new_page()
    sign_in(page, console.url, "admin")
    page.goto(console.url + "/console/#/outgoing")
    expect(page.locator("#queue-state")).to_have_text("Queue running")
    page.get_by_role("button", name="Pause queue").click()
    expect(page.locator("#queue-state")).to_have_text("Queue paused")
    with console.api() as api:
        assert api.get("/outgoing/queue").json()["paused"] is True
    shoot(page, "10-outgoing-paused")
    check_accessibility(page, "outgoing queue")
    page.get_by_role("button", name="Resume queue").click()
    expect(page.locator("#queue-state")).to_have_text("Queue running")
    with console.api() as api:
        assert api.get("/outgoing/queue").json()["paused"] is False
    context.close()


def _submit(client: httpx.Client, number: str, folder: Path) -> str:
    document = two_page_pdf(folder / "api-letter.pdf")
    reply = client.post("/outgoing/submit", data={"recipients": json.dumps([{"number": number}])},
                        files=[("files", ("letter.pdf", document.read_bytes(), "application/pdf"))])
    assert reply.status_code == 202, reply.text
    return str(reply.json()["submission_id"])


def _jobs_of(client: httpx.Client, submission: str) -> list[int]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        jobs = client.get("/outgoing/jobs", params={"submission": submission}).json()["jobs"]
        if jobs:
            return [job["id"] for job in jobs]
        time.sleep(0.3)
    raise AssertionError(f"submission {submission} was never rendered")


def test_a_submit_low_principal_sees_only_its_own_jobs_and_no_configuration(console: Console,
                                                                            browser: Browser) -> None:
    with console.api("clerk") as clerk, console.api("admin") as admin:
        own = _jobs_of(clerk, _submit(clerk, "5550101", console.folder))
        other = _jobs_of(admin, _submit(admin, "5550101", console.folder))
    context = new_context(browser)
    page = context.new_page()
    sign_in(page, console.url, "clerk")
    nav = page.get_by_role("navigation", name="Main")
    links = [re.compile(f"{name}$") for name in ("Dashboard", "Outgoing", "Send a fax")]
    expect(nav.get_by_role("link")).to_have_text(links)
    shoot(page, "11-clerk-dashboard")
    check_accessibility(page, "clerk dashboard")
    shown: set[int] = set()
    for tab in ("#/outgoing/archive", "#/outgoing"):  # the queue last: its screenshot shows the own job
        page.goto(console.url + "/console/" + tab)
        page.wait_for_selector("table tbody tr, .empty")
        shown |= {int(text.lstrip("#")) for text in page.locator("tbody tr td:first-child a").all_inner_texts()}
    assert set(own) <= shown, (own, shown)
    assert not set(other) & shown
    with console.api("admin") as admin:
        everyone = {job["id"] for job in admin.get("/outgoing/jobs", params={"limit": 500}).json()["jobs"]}
    assert shown < everyone
    shoot(page, "12-clerk-outgoing")
    for hidden in ("routing", "devices", "inbox"):
        page.goto(console.url + f"/console/#/{hidden}")
        expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    assert page.request.get(console.url + "/api/v1/devices").status == 403
    context.close()


def test_every_page_in_a_screenshot_and_accessible(console: Console, browser: Browser) -> None:
    context = new_context(browser)
    page = context.new_page()
    sign_in(page, console.url, "admin")
    pages = {
        "02-dashboard": ("#/dashboard", (".device", ".stat", ".recent-list")),
        "13-outgoing-archive": ("#/outgoing/archive", ("tbody tr, .empty",)),
        "14-routing": ("#/routing", ("select option",)),
        "15-devices": ("#/devices", ("tbody tr",)),
    }
    for name, (route, ready) in pages.items():
        page.goto(console.url + "/console/" + route)
        for selector in ready:  # each must be there; a selector with a comma is any of its parts
            page.locator(selector).first.wait_for(state="attached")
        shoot(page, name)
        check_accessibility(page, name)
    page.goto(console.url + "/console/#/routing")
    page.get_by_label("Dialled number (DID)").fill("100")
    page.get_by_label("Caller ID").fill("5550100")
    page.get_by_role("button", name="Test").click()
    expect(page.locator(".decision")).to_contain_text("fax administrator")
    shoot(page, "16-routing-tested")
    check_accessibility(page, "routing tester")
    context.close()
    phone = new_context(browser, phone=True)
    page = phone.new_page()
    sign_in(page, console.url, "admin")
    for selector in (".device", ".stat", ".recent-list"):
        page.locator(selector).first.wait_for()
    shoot(page, "17-phone-dashboard")
    check_accessibility(page, "phone dashboard")
    page.get_by_role("button", name="Menu").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_in_viewport()
    shoot(page, "18-phone-menu")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Outgoing").click()
    page.locator("tbody tr, .empty").first.wait_for()
    shoot(page, "19-phone-outgoing")
    check_accessibility(page, "phone outgoing")
    phone.close()
    assert len(list(OUTPUT.glob("*.png"))) >= 19


def test_metrics_count_intake_refusals_by_reason(console: Console) -> None:
    import smtplib

    before = console.metrics()
    smtp_port = int(re.search(r'listen = "127\.0\.0\.1:(\d+)"', console.config.read_text()).group(1))  # type: ignore[union-attr]
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
        client.ehlo()
        client.mail("someone@example.com")
        code, _ = client.rcpt("someone@example.org")
        assert code == 550
    after = console.metrics()
    assert _grew(before, after, 'faxgate_intake_refusals_total{reason="not_allowed"}', 1)
