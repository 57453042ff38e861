"""Console page load with 10,000 jobs in the queue, measured in Chromium (reported, never asserted on time).

The jobs are written straight into the store before the server starts; the queue is paused so none is dialled.
"""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Browser
from sqlalchemy import insert, update

from gateway.config import load_config
from gateway.enums import JobStatus, Priority
from gateway.model import SubmissionState
from gateway.storage import Database
from gateway.storage.schema import outgoing_jobs, submissions
from gateway.storage.submissions import create_submission
from tests.console.conftest import OUTPUT, new_context, shoot, sign_in, start_console

JOBS = 10_000


async def _fill_queue(config: Path, count: int) -> None:
    db = Database(load_config(config).database_url)
    try:
        await db.migrate()
        async with db.transaction() as conn:
            submission = await create_submission(conn, source="api", principal="admin", envelope_from="",
                                                 recipients=[], raw=b"", subject="load")
            await conn.execute(update(submissions).where(submissions.c.id == submission)
                               .values(state=SubmissionState.QUEUED))
            now = time.time()
            rows = [{"submission_id": submission, "recipient_number": f"555{index:07d}",
                     "recipient_name": f"Customer {index}", "status": int(JobStatus.PENDING),
                     "priority": int(Priority.NORMAL), "next_attempt_at": now + 86400, "submitted_at": now - index,
                     "updated_at": now, "pages": 2} for index in range(count)]
            await conn.execute(insert(outgoing_jobs), rows)
    finally:
        await db.close()


@pytest.mark.parametrize("route", ["#/outgoing", "#/dashboard"])
def test_console_load_time_with_ten_thousand_jobs(route: str, tmp_path: Path, browser: Browser) -> None:
    server, config, port = start_console(tmp_path, extra="[outbox]\npaused = true\n")
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API owns this thread's event loop
        pool.submit(asyncio.run, _fill_queue(config, JOBS)).result()
    url = f"http://127.0.0.1:{port}"
    with server:
        context = new_context(browser)
        page = context.new_page()
        sign_in(page, url, "admin")
        ready = "tbody tr" if route == "#/outgoing" else ".stat"
        timings = []
        for _ in range(5):
            page.goto("about:blank")
            page.goto(f"{url}/console/{route}")
            # performance.now() counts from the navigation's start: this is the time until the data is drawn.
            drawn_at = page.wait_for_function(f"() => document.querySelector({ready!r}) && performance.now()")
            timings.append(round(float(drawn_at.json_value())))
        navigation = page.evaluate("""() => { const n = performance.getEntriesByType("navigation")[0];
            const api = performance.getEntriesByType("resource").filter((r) => r.name.includes("/api/v1/"))
                .map((r) => [new URL(r.name).pathname + new URL(r.name).search, Math.round(r.duration)]);
            return { dom_content_loaded: Math.round(n.domContentLoadedEventEnd), load: Math.round(n.loadEventEnd),
                     api_ms: Object.fromEntries(api) }; }""")
        drawn = page.locator("tbody tr").count() if route == "#/outgoing" else None
        shoot(page, f"20-load-{route.strip('#/')}-10k")
        if route == "#/outgoing":
            assert drawn == 100  # the first page of the queue, the rest behind "Show more"
        else:
            assert page.locator(".stat").first.inner_text().startswith(f"{JOBS}")
        context.close()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    report = OUTPUT / "load-times.json"
    found = json.loads(report.read_text()) if report.exists() else {}
    found[route] = {"jobs": JOBS, "ms_from_navigation_start_to_data_drawn": timings, "navigation": navigation}
    report.write_text(json.dumps(found, indent=2))
    print(f"\n{route} with {JOBS} jobs: {timings} ms (navigation timing {navigation})")
