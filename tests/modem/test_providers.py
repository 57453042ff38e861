"""Device providers come from `faxgate.device_providers` entry points, faxgate's own built-ins included; the config
names them. A provider whose entry point fails to import leaves its lines "not ready" with the reason, and the lines of
the other providers work."""

from __future__ import annotations

import asyncio
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import pytest

from gateway.config import ConfigError, load_config
from gateway.context import ServiceContext
from gateway.enums import DeviceState
from gateway.events import EventBus
from gateway.queue.clock import SystemClock
from gateway.queue.pool import DevicePool
from gateway.storage import Database
from modem.provider import Class1Provider
from modem.providers import DEVICE_PROVIDERS_GROUP, ProviderRegistry
from tests.support.server import write_config

MISSING_MODULE = "faxgate_no_such_module"


def test_the_built_in_providers_are_entry_points_of_faxgate_itself() -> None:
    ours = {entry.name: entry for entry in entry_points(group=DEVICE_PROVIDERS_GROUP)
            if entry.dist is not None and entry.dist.name == "faxgate"}
    assert {name: entry.value for name, entry in ours.items()} == {
        "class1": "modem.provider:Class1Provider", "simulated": "modem.provider:Class1Provider"}
    registry = ProviderRegistry()
    assert {"class1", "simulated"} <= set(registry.names())
    assert isinstance(registry.get("class1"), Class1Provider)


def test_an_unknown_name_is_a_clear_error_in_the_registry_and_in_the_config(tmp_path: Path) -> None:
    registry = ProviderRegistry([EntryPoint("class1", "modem.provider:Class1Provider", DEVICE_PROVIDERS_GROUP)])
    with pytest.raises(LookupError, match=r"^unknown device provider 'class2' \(installed: class1\)$"):
        registry.get("class2")
    with pytest.raises(LookupError, match=r"no device provider 'class1' is installed, nor any other.*pip install"):
        ProviderRegistry([]).get("class1")  # faxgate's own metadata missing: say how to get it
    config = tmp_path / "faxgate.toml"
    write_config(config, tmp_path / "data", extra='[[devices]]\nname = "m0"\nprovider = "class2"\nport = "/dev/null"\n')
    with pytest.raises(ConfigError, match=r"unknown device provider 'class2' \(installed: .*class1.*simulated"):
        load_config(config)


def test_a_provider_that_fails_to_import_is_remembered_with_its_reason() -> None:
    registry = ProviderRegistry([
        EntryPoint("broken", f"{MISSING_MODULE}:Provider", DEVICE_PROVIDERS_GROUP),
        EntryPoint("simulated", "modem.provider:Class1Provider", DEVICE_PROVIDERS_GROUP),
    ])
    assert registry.names() == ["broken", "simulated"]  # known before anything is imported
    reason = (f"the device provider 'broken' ({MISSING_MODULE}:Provider) failed to load: "
              f"ModuleNotFoundError: No module named '{MISSING_MODULE}'")
    assert registry.discover() == {"broken": reason}
    with pytest.raises(LookupError) as caught:
        registry.get("broken")
    assert str(caught.value) == reason
    assert isinstance(registry.get("simulated"), Class1Provider)


@pytest.fixture
def broken_provider_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A distribution on sys.path (as pip leaves one) whose device provider entry point names a missing module."""
    site = tmp_path / "site"
    info = site / "faxgate_broken_import-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: faxgate-broken-import\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{DEVICE_PROVIDERS_GROUP}]\nbroken = {MISSING_MODULE}:Provider\n")
    monkeypatch.syspath_prepend(str(site))
    return "broken"


async def test_lines_of_a_provider_that_fails_to_import_are_not_ready_and_the_others_work(
        tmp_path: Path, broken_provider_installed: str) -> None:
    config_path = tmp_path / "faxgate.toml"
    write_config(config_path, tmp_path / "data", extra=(
        '[simulation]\nenabled = true\n\n'
        '[[devices]]\nname = "sim0"\nprovider = "simulated"\nnumber = "5551000"\n\n'
        f'[[devices]]\nname = "bad0"\nprovider = "{broken_provider_installed}"\nport = "/dev/null"\n'))
    config = load_config(config_path)  # the name is known (installed), though the provider cannot load
    db = Database(config.database_url)
    await db.migrate()
    pool = DevicePool(ServiceContext(config, db, EventBus(), SystemClock(), "node-a"))
    try:
        await pool.start()
        lines = pool.devices
        for _ in range(400):  # the simulated modem answers its AT commands within a second or two
            if lines["sim0"].state is not DeviceState.INITIALIZING and lines["bad0"].state is DeviceState.NOT_READY:
                break
            await asyncio.sleep(0.05)
        assert (lines["bad0"].state, lines["bad0"].reason) == (
            DeviceState.NOT_READY,
            f"LookupError: the device provider 'broken' ({MISSING_MODULE}:Provider) failed to load: "
            f"ModuleNotFoundError: No module named '{MISSING_MODULE}'")
        assert lines["sim0"].state is DeviceState.READY  # its modem answered the start-up AT commands
        assert lines["sim0"].device is not None and lines["bad0"].device is None
    finally:
        await pool.stop()
        await db.close()
