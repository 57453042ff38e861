"""The demo of README command 1: the console URL and a first-start token are printed, the token signs in, and
`faxgate simline call` makes a simulated machine call in so a fax arrives live in the inbox."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import Browser, expect

from tests.console.conftest import new_context, shoot
from tests.queue.simserver import sim_config
from tests.support.server import ServerProcess


def _printed(server: ServerProcess, line: str) -> str:
    """The server's output once it printed ``line`` (it prints after /health already answers)."""
    deadline = time.monotonic() + 60
    while line not in server.output() and time.monotonic() < deadline:
        time.sleep(0.1)
    return server.output()


def test_first_start_token_signs_in_and_simline_call_brings_a_fax(tmp_path: Path, browser: Browser) -> None:
    config, _, port = sim_config(tmp_path, 9)  # no [security] users: nobody could sign in without the token
    url = f"http://127.0.0.1:{port}"
    with ServerProcess(config, port) as server:
        printed = _printed(server, "first start")
        assert f"console {url}/console/" in printed
        token = re.search(r"sign in to the console with the token (fgt_\S+)", printed)
        assert token, printed
        context = new_context(browser)
        page = context.new_page()
        page.goto(url + "/console/")
        page.get_by_role("radio", name="API token").check()
        page.get_by_role("textbox", name="API token").fill(token.group(1))
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator(".live")).to_have_attribute("data-state", "live")
        page.goto(url + "/console/#/inbox")
        expect(page.get_by_text("No faxes have arrived yet.")).to_be_visible()
        called = subprocess.run([sys.executable, "-m", "gateway", "simline", "call", "--config", str(config),
                                 "--pages", "1"], capture_output=True, text=True, timeout=60)
        assert called.returncode == 0, called.stderr
        assert "is calling 5551000" in called.stdout
        expect(page.locator(".fax-card")).to_have_count(1, timeout=240_000)
        expect(page.locator(".fax-card")).to_contain_text("1 page")
        shoot(page, "21-demo-inbox")
        tokens = subprocess.run([sys.executable, "-m", "gateway", "token", "list", "--config", str(config)],
                                capture_output=True, text=True, timeout=60).stdout
        assert "local-admin." in tokens and "simline-call" not in tokens  # the call's own token is gone
        context.close()
    with ServerProcess(config, port) as again:
        assert "first start" not in _printed(again, "console ")
