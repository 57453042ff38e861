"""`faxgate check-config` names the key but never prints a secret, and refuses a smarthost password sent in clear."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAXGATE = [sys.executable, "-m", "gateway"]


def check_config(tmp_path: Path, text: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run the real CLI on a config file holding `text`."""
    path = tmp_path / "faxgate.toml"
    path.write_text(text)
    return subprocess.run([*FAXGATE, "check-config", *extra, str(path)], capture_output=True, text=True,
                          check=False, cwd=ROOT)


def test_a_smarthost_password_over_a_cleartext_connection_is_refused_unless_allowed(tmp_path: Path) -> None:
    login = 'username = "fax"\npassword = "Hunter2-Hunter2"\n'
    result = check_config(tmp_path, f'[receipts]\nsecurity = "none"\n{login}')
    assert result.returncode == 1, result.stdout
    [line] = result.stdout.strip().splitlines()
    assert "receipts.password: would be sent in clear text" in line
    assert "allow_cleartext_password" in line
    assert "Hunter2" not in result.stdout + result.stderr
    for fine in ('security = "starttls"\n', 'security = "tls"\n',
                 'security = "none"\nallow_cleartext_password = true\n'):
        result = check_config(tmp_path, f"[receipts]\n{fine}{login}")
        assert result.returncode == 0, (fine, result.stdout)
        assert result.stdout.strip().endswith(": ok")


@pytest.mark.parametrize(("text", "key"), [
    ('[receipts]\nsecurity = "tls"\npassword = 73317331733\n', "receipts.password"),
    ('[receipts]\nsecurity = "tls"\npassword = ["Hunter2-Hunter2"]\n', "receipts.password"),
    ('[[security.users]]\nname = "alice"\npassword_hash = 73317331733\n', "security.users[0].password_hash"),
    ('[storage]\nurl = ["postgresql://fax:Hunter2-Hunter2@db/fax"]\n', "storage.url"),
    ('[[inbound.rules]]\nname = "hook"\n[inbound.rules.webhook]\nurl = "ftp://Hunter2-Hunter2@example.com/"\n'
     'secret = 73317331733\n', "inbound.rules[0].webhook"),
    ('[receipts]\nsender = { password = "Hunter2-Hunter2" }\n', "receipts.sender"),
])
@pytest.mark.parametrize("as_json", [False, True])
def test_secrets_of_the_wrong_type_are_named_but_never_printed(tmp_path: Path, text: str, key: str,
                                                               as_json: bool) -> None:
    result = check_config(tmp_path, text, *(["--json"] if as_json else []))
    assert result.returncode == 1
    assert key in result.stdout
    output = result.stdout + result.stderr
    assert "Hunter2" not in output
    assert "73317331733" not in output
    assert "Traceback" not in output
