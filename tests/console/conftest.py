"""A real `faxgate serve` on the simulated network and Debian's Chromium driven by Playwright, for the console tests.

Screenshots go to test-output/console/ (kept after the run); axe-core (vendored in support/) is injected into each
page and any serious or critical violation fails the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from gateway.passwords import hash_password
from gateway.queue.documents import load_pymupdf
from tests.queue.simserver import sim_config
from tests.support.server import ServerProcess

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).parent / "support" / "axe.min.js"
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "console"
ADMIN_RIGHTS = ["submit_high", "query_jobs", "manage_jobs", "query_config", "manage_config", "query_in_archive",
                "manage_in_archive", "query_out_archive", "manage_out_archive"]
USERS = {"admin": ("correct horse", ADMIN_RIGHTS), "clerk": ("battery staple", ["submit_low"]),
         "auditor": ("tr0ubador", ["query_config", "query_jobs"])}


def users_toml() -> str:
    """[security] users: an administrator with every right, a clerk with only SUBMIT_LOW and an auditor who may
    read the configuration and the jobs but change nothing."""
    return "".join(
        f'[[security.users]]\nname = "{name}"\npassword_hash = "{hash_password(password)}"\n'
        f'email = "{name}@example.com"\nrights = {rights!r}\n\n'.replace("'", '"')
        for name, (password, rights) in USERS.items())


@dataclass
class Console:
    """The running server and what the tests need to reach it."""

    server: ServerProcess
    config: Path
    url: str
    folder: Path

    def api(self, user: str = "admin") -> httpx.Client:
        """The HTTP API as a configured user (Basic auth)."""
        return httpx.Client(base_url=self.url + "/api/v1", auth=(user, USERS[user][0]), timeout=60)

    def metrics(self) -> dict[str, float]:
        """/metrics as {series: value}."""
        text = httpx.get(self.url + "/metrics", timeout=30).text
        found = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                series, _, value = line.rpartition(" ")
                found[series] = float(value)
        return found


def start_console(folder: Path, extra: str = "") -> tuple[ServerProcess, Path, int]:
    config, _, http_port = sim_config(folder, 9, extra=users_toml() + extra)
    return ServerProcess(config, http_port), config, http_port


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    folder = tmp_path_factory.mktemp("console")
    server, config, port = start_console(folder)
    with server:
        yield Console(server, config, f"http://127.0.0.1:{port}", folder)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    assert CHROMIUM.exists(), "Debian's chromium package is needed (scripts/setup installs it)"
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
    yield browser
    browser.close()


def new_context(browser: Browser, *, phone: bool = False) -> BrowserContext:
    """A fresh browser profile (no cookies); CSP bypassed only so the test can inject axe-core."""
    viewport = {"width": 390, "height": 844} if phone else {"width": 1366, "height": 900}
    context = browser.new_context(viewport=viewport, bypass_csp=True, device_scale_factor=1,
                                  is_mobile=phone, has_touch=phone)
    context.set_default_timeout(30_000)
    return context


def sign_in(page: Page, url: str, user: str) -> None:
    """Sign in through the form and wait for the live event stream."""
    page.goto(url + "/console/")
    page.get_by_label("User name", exact=True).fill(user)
    page.get_by_label("Password", exact=True).fill(USERS[user][0])
    page.get_by_role("button", name="Sign in").click()
    page.locator(".live[data-state=live]").wait_for()


def shoot(page: Page, name: str) -> Path:
    """A full-page screenshot kept under test-output/console/."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / f"{name}.png"
    page.evaluate("() => window.scrollTo(0, 0)")  # sticky bars sit at the top of a full-page shot
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path


def check_accessibility(page: Page, name: str) -> None:
    """axe-core on the page as it is now: no serious or critical violation."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    violations = page.evaluate("""async () => {
        const result = await axe.run(document, { resultTypes: ["violations"] });
        return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
            targets: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) }));
    }""")
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert not bad, f"{name}: {bad}"


def two_page_pdf(path: Path) -> Path:
    """A two-page letter to fax."""
    pymupdf = load_pymupdf()
    document = pymupdf.open()
    for number in (1, 2):
        page = document.new_page()
        page.insert_text((72, 100), f"Quarterly figures, page {number}", fontsize=24)
        for row in range(12):
            page.insert_text((72, 160 + row * 30), f"Line {row + 1}: {'figures ' * 6}", fontsize=12)
    document.save(path)
    return path
