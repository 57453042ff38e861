"""Configuration: every mistake is named by key path, the example file is valid, secrets come from the environment."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from gateway.config import ConfigError, default_config, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]
FAXGATE = [sys.executable, "-m", "gateway"]


def test_check_config_reports_all_three_mistakes_with_key_paths(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[outbox]\nretry_delay = "ten"\n\n[smtp]\nlisten = "localhost"\n\n'
        '[[devices]]\nname = "modem0"\nprovder = "class1"\n'
    )
    result = subprocess.run([*FAXGATE, "check-config", str(bad)], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3, result.stdout
    assert any('outbox.retry_delay: expected a duration like "10m", got \'ten\'' in line for line in lines)
    assert any("smtp.listen: expected host:port" in line for line in lines)
    assert any("devices[0].provder: unknown key" in line for line in lines)
    assert "Traceback" not in result.stdout + result.stderr


def test_check_config_json_output_and_success(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[outbox]\nretry_delay = "5m"\nretries = 5\n')
    result = subprocess.run(
        [*FAXGATE, "check-config", "--json", str(good)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert '"ok": true' in result.stdout
    config = load_config(good)
    assert config.outbox.retry_delay == timedelta(minutes=5)
    assert config.outbox.retries == 5


def test_example_config_is_valid_and_documents_every_section() -> None:
    example = ROOT / "config.example.toml"
    config = load_config(example)
    text = example.read_text()
    for section in type(config).model_fields:
        assert f"[{section}" in text or f"[[{section}" in text, f"config.example.toml lacks [{section}]"
    commented = [line for line in text.splitlines() if line.strip().startswith("#")]
    assert len(commented) > 40, "config.example.toml should explain its keys"


def test_secrets_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAXGATE_TEST_SMARTHOST_PW", "s3cret")
    config = parse_config({"receipts": {"security": "starttls", "password": "${FAXGATE_TEST_SMARTHOST_PW}"}})
    assert config.receipts.password == "s3cret"
    with pytest.raises(ConfigError) as info:
        parse_config({"receipts": {"password": "${FAXGATE_TEST_UNSET_VARIABLE}"}})
    assert info.value.problems == ["receipts.password: environment variable FAXGATE_TEST_UNSET_VARIABLE is not set"]


def test_defaults_are_embedded_sqlite_local_ports_and_simulated_lines(tmp_path: Path) -> None:
    config = default_config(tmp_path)
    assert config.database_url == f"sqlite+aiosqlite:///{(tmp_path / 'faxgate.db').resolve()}"
    assert config.smtp.listen == ("127.0.0.1", 2525)
    assert config.http.listen == ("127.0.0.1", 8025)
    assert config.simulation.enabled
    assert [device.provider for device in config.devices] == ["simulated", "simulated"]


def test_duplicate_device_names_and_bad_values_are_refused() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"devices": [{"name": "a"}, {"name": "a"}]})
    assert "used twice" in info.value.problems[0]
    with pytest.raises(ConfigError) as info:
        parse_config({"outbox": {"discount_start": "25:00", "timezone": "Mars/Olympus"}})
    assert sorted(p.split(":")[0] for p in info.value.problems) == ["outbox.discount_start", "outbox.timezone"]


def test_a_device_provider_is_a_registered_name_and_an_unknown_one_is_named_with_its_key() -> None:
    config = parse_config({"devices": [{"name": "a", "provider": "simulated"}, {"name": "b", "port": "/dev/ttyS0"}]})
    assert [device.provider for device in config.devices] == ["simulated", "class1"]
    with pytest.raises(ConfigError) as refused:
        parse_config({"devices": [{"name": "a", "provider": "class2"}]})
    assert refused.value.problems == ["devices[0].provider: unknown device provider 'class2' "
                                      "(installed: class1, simulated)"]


def test_the_page_header_text_is_configured_and_checked_when_the_file_is_read() -> None:
    from datetime import datetime

    import numpy as np

    from gateway.queue.scheduler import _stamper
    from gateway.render.header import DEFAULT_HEADER_FORMAT, HeaderFields, stamp_header

    assert parse_config({}).outbox.branding_format == DEFAULT_HEADER_FORMAT
    with pytest.raises(ConfigError) as info:
        parse_config({"outbox": {"branding_format": "{date}|{shoe_size}"}})
    assert info.value.problems[0].startswith("outbox.branding_format: bad header format")
    fmt = parse_config({"outbox": {"branding_format": "ACME CLINIC|{page}/{pages}"}}).outbox.branding_format
    fields = HeaderFields(datetime(2026, 12, 3, 9, 30), "+1 555 0100", "+1 555 0199", 2, 5)
    blank = np.zeros((2200, 216), dtype=np.uint8)
    stamped = _stamper(fields, fmt, True)(blank.copy())
    assert np.array_equal(stamped, stamp_header(blank.copy(), fields, fmt, fine=True))
    assert not np.array_equal(stamped, stamp_header(blank.copy(), fields, DEFAULT_HEADER_FORMAT, fine=True))
