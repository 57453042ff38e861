"""The HTTP listener off loopback: refused without TLS (unless allow_plaintext says so), HTTPS with a certificate
from a CA made in the test, the client and the CLI trusting that CA."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trustme
from click.testing import CliRunner

from gateway.cli import main
from gateway.client import FaxServer
from gateway.config import ConfigError, load_config
from gateway.enums import AccessRights
from tests.api.support import make_token
from tests.support.server import ServerProcess, write_config


def _listen_off_loopback(config: Path, http_port: int, more: str = "") -> None:
    """Move the [http] listener of a write_config file to every address (SMTP stays on loopback)."""
    text = config.read_text()
    old = f'listen = "127.0.0.1:{http_port}"'
    assert old in text
    config.write_text(text.replace(old, f'listen = "0.0.0.0:{http_port}"{more}'))


def test_a_listener_off_loopback_needs_tls_or_an_explicit_plaintext_switch(tmp_path: Path) -> None:
    config = tmp_path / "faxgate.toml"
    _, http_port = write_config(config, tmp_path / "data")
    _listen_off_loopback(config, http_port)
    with pytest.raises(ConfigError) as refused:
        load_config(config)
    assert any("http.tls_cert" in problem and "http.allow_plaintext" in problem for problem in refused.value.problems)
    served = subprocess.run([sys.executable, "-m", "gateway", "serve", "--config", str(config)], capture_output=True,
                            text=True, timeout=60)
    assert served.returncode == 1 and "http.tls_cert" in served.stderr
    config.write_text(config.read_text().replace("[http]\n", "[http]\nallow_plaintext = true\n"))
    loaded = load_config(config).http
    assert (loaded.listen[0], loaded.tls) == ("0.0.0.0", False)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _tls_config(folder: Path, ca: trustme.CA) -> tuple[Path, int, Path]:
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    cert, key, ca_file = folder / "api.crt", folder / "api.key", folder / "ca.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    for blob in leaf.cert_chain_pems[1:]:
        blob.write_to_path(str(cert), append=True)
    leaf.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    config = folder / "faxgate.toml"
    _, http_port = write_config(config, folder / "data")
    _listen_off_loopback(config, http_port, f'\ntls_cert = "{cert}"\ntls_key = "{key}"')
    return config, http_port, ca_file


def test_the_listener_off_loopback_speaks_https_and_the_client_trusts_the_ca(tmp_path: Path, ca: trustme.CA) -> None:
    config, http_port, ca_file = _tls_config(tmp_path, ca)
    trusting = ssl.create_default_context(cafile=str(ca_file))
    token = make_token(config, "over-tls", AccessRights.QUERY_CONFIG)
    url = f"https://127.0.0.1:{http_port}"
    with ServerProcess(config, http_port, tls=trusting) as server:
        assert server.health()["status"] == "ok"
        with FaxServer.connect(url, token, verify=trusting) as client:
            assert client.granted_rights == ["query_config"]
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            FaxServer.connect(url, token)  # the system CAs do not know the test CA
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(f"http://127.0.0.1:{http_port}/health", timeout=10)  # no plain HTTP on the TLS port

        runner = CliRunner()
        env: dict[str, str | None] = {"FAXGATE_TOKEN": token, "FAXGATE_SERVER": None, "FAXGATE_CA_FILE": None}
        local = runner.invoke(main, ["devices", "list", "--config", str(config), "--json"], env=env)
        assert local.exit_code == 0, local.output  # on the server's machine: its own certificate is trusted
        assert json.loads(local.output) == []
        untrusted = runner.invoke(main, ["devices", "list", "--config", str(config), "--server", url], env=env)
        assert untrusted.exit_code == 1 and "--ca-file" in untrusted.output
        assert "Traceback" not in untrusted.output
        trusted = runner.invoke(main, ["devices", "list", "--config", str(config), "--server", url, "--json",
                                       "--ca-file", str(ca_file)], env=env)
        assert trusted.exit_code == 0, trusted.output
        assert json.loads(trusted.output) == []
