"""The extension model: configuration blobs per (device, GUID) with notifications that skip the writer, and
routing methods and device providers found through entry points of installed packages."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.enums import MS_FAXROUTE_FOLDER_GUID, ProviderStatus, ServerEvents
from gateway.events import EventBus
from gateway.storage import Database
from modem.provider import Class1Provider
from modem.providers import discover_device_providers
from routing.extconfig import GLOBAL_DEVICE, ExtensionConfigStore, UnknownDevice
from routing.registry import MethodRegistry
from routing.router import RoutingService, device_ids
from tests.routing.conftest import Sink, commit_fax, make_config, tiff_bytes

GUID = "{1a2b3c4d-2222-3333-4444-55555555abcd}"


async def test_get_set_per_device_and_global(db: Database) -> None:
    store = ExtensionConfigStore(db, {"fax0": 1, "fax1": 2})
    assert await store.get(1, GUID) is None
    await store.set(1, GUID, b"device one", writer="a")
    await store.set(GLOBAL_DEVICE, GUID, b"global", writer="a")
    await store.set(1, GUID, b"device one v2", writer="b")
    assert await store.get(1, GUID) == b"device one v2"
    assert await store.get(GLOBAL_DEVICE, GUID) == b"global"
    assert await store.get(2, GUID) is None
    assert await store.get(1, GUID.upper()) == b"device one v2"  # GUIDs are case-blind
    with pytest.raises(UnknownDevice):
        await store.set(7, GUID, b"x", writer="a")
    with pytest.raises(ValueError, match="not a GUID"):
        await store.get(1, "not-a-guid")


async def test_changes_notify_every_subscriber_but_the_writer(db: Database) -> None:
    bus = EventBus()
    store = ExtensionConfigStore(db, {"fax0": 1}, bus)
    seen: dict[str, list[tuple[int, str, bytes]]] = {"a": [], "b": [], "other-key": []}

    async def on_b(device: int, guid: str, data: bytes) -> None:
        seen["b"].append((device, guid, data))

    store.subscribe(1, GUID, "a", lambda d, g, data: seen["a"].append((d, g, data)))
    handle_b = store.subscribe(1, GUID, "b", on_b)
    store.subscribe(GLOBAL_DEVICE, GUID, "c", lambda d, g, data: seen["other-key"].append((d, g, data)))
    async with bus.subscribe(ServerEvents.CONFIG) as events:
        await store.set(1, GUID, b"v1", writer="a")
        event = await events.get(timeout=5)
    assert (event.kind, event.payload) == ("extension.changed", {"area": "extension", "device_id": 1, "guid": GUID,
                                                                 "writer": "a"})
    assert seen == {"a": [], "b": [(1, GUID, b"v1")], "other-key": []}
    await store.set(1, GUID, b"v2", writer="b")
    assert seen["a"] == [(1, GUID, b"v2")]
    assert seen["b"] == [(1, GUID, b"v1")]
    store.unsubscribe(handle_b)
    await store.set(1, GUID, b"v3", writer="a")
    assert seen["b"] == [(1, GUID, b"v1")]


async def test_a_device_folder_set_in_the_store_is_used_by_rules_that_leave_it_out(
    tmp_path: Path, db: Database, smtp_sink: Sink
) -> None:
    config = make_config(tmp_path, smtp_sink.port, {"rules": [{"name": "r", "methods": {"folder": {}}}]})
    ids = device_ids(config)
    store = ExtensionConfigStore(db, ids)
    await store.set_json(ids["fax1"], MS_FAXROUTE_FOLDER_GUID, {"path": str(tmp_path / "fax1-box")}, writer="admin")
    job_id = await commit_fax(db, tiff_bytes(tmp_path), device="fax1")
    await RoutingService(config, db, extensions=store).run_once()
    assert [p.suffix for p in (tmp_path / "fax1-box").iterdir()] == [".pdf"]
    assert job_id == 1


PLUGIN = '''
class StampMethod:
    guid = "{aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee}"
    name = "stamp"
    friendly_name = "Write a stamp file"
    default_priority = 5

    def check_config(self, config):
        if "path" not in config:
            raise ValueError("stamp needs a path")

    def describe(self, config):
        return "stamp " + config["path"]

    async def route(self, context):
        import pathlib
        pdf = await context.files.pdf()
        pathlib.Path(context.config["path"]).write_text(f"{context.fax.id} {context.fax.did} {pdf.stat().st_size}")
        return "stamped"


class Broken:
    guid = "not a guid"


class T38Provider:
    pass
'''


@pytest.fixture
def plugin_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed third-party package declaring entry points, as pip would leave it on sys.path."""
    site = tmp_path / "site"
    (site / "faxgate_stamp").mkdir(parents=True)
    (site / "faxgate_stamp" / "__init__.py").write_text(PLUGIN)
    info = site / "faxgate_stamp-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: faxgate-stamp\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[faxgate.routing_methods]\nstamp = faxgate_stamp:StampMethod\nbroken = faxgate_stamp:Broken\n\n"
        "[faxgate.device_providers]\nt38 = faxgate_stamp:T38Provider\n"
    )
    monkeypatch.syspath_prepend(str(site))
    return site


async def test_routing_methods_from_entry_points_are_loaded_and_run(
    tmp_path: Path, db: Database, smtp_sink: Sink, plugin_package: Path
) -> None:
    stamp = tmp_path / "stamp.txt"
    config = make_config(tmp_path, smtp_sink.port, {
        "rules": [{"name": "r", "methods": {"stamp": {"path": str(stamp)}}}],
        "methods": [{"method": "stamp", "priority": 1}],
    })
    registry = MethodRegistry(config.inbound)
    loads = {load.name: load for load in registry.discover()}
    assert loads["stamp"].status == ProviderStatus.SUCCESS
    assert loads["broken"].status in (ProviderStatus.BAD_GUID, ProviderStatus.CANT_LOAD)
    assert [m.name for m in registry.ordered()] == ["stamp", "folder", "email", "webhook", "mailbox"]
    job_id = await commit_fax(db, tiff_bytes(tmp_path), did="321")
    await RoutingService(config, db, registry=registry).run_once()
    number, did, size = stamp.read_text().split()
    assert (int(number), did) == (job_id, "321") and int(size) > 1000


def test_device_providers_are_built_in_and_from_entry_points(plugin_package: Path) -> None:
    providers = discover_device_providers()
    assert isinstance(providers.get("class1"), Class1Provider)
    assert isinstance(providers.get("simulated"), Class1Provider)
    assert "t38" in providers.names()  # found, but it has no create(spec): a plain reason instead of a crash
    with pytest.raises(LookupError, match=r"'t38'.*no create\(spec\)"):
        providers.get("t38")
