"""Runtime configuration on a real store: stored values win over the file, apply in place, reach a second node's
RuntimeConfig through the version counter, report their source, and drive what the services derive from them."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.config import FaxgateConfig, parse_config
from gateway.config.runtime import RuntimeConfig, SettingError, device_area
from gateway.config.sections import LoggingSection
from gateway.enums import ExtendedStatus, JobStatus, ScheduleType, ServerEvents
from gateway.events import EventBus
from gateway.logs import apply_logging, logger
from gateway.model import OutgoingJob
from gateway.queue.enqueue import JobFactory, JobRequest
from gateway.queue.policy import after_failure
from gateway.queue.scheduler import effective_policy
from gateway.storage import Database
from modem.providers import discover_device_providers
from routing.registry import MethodRegistry


def node_config(tmp_path: Path, store_url: str) -> FaxgateConfig:
    return parse_config({
        "server": {"data_dir": str(tmp_path / "data")},
        "storage": {"url": store_url},
        "outbox": {"retries": 4, "retry_delay": "5m"},
        "devices": [{"name": "sim0", "provider": "simulated", "csid": "FILE CSID"}],
    })


@pytest.fixture
async def db(tmp_path: Path, store_url: str) -> Database:
    database = Database(node_config(tmp_path, store_url).database_url)
    await database.migrate()
    yield database  # type: ignore[misc]
    await database.close()


async def test_a_stored_value_wins_applies_in_place_and_reaches_another_node(
        tmp_path: Path, store_url: str, db: Database) -> None:
    config_a, config_b = node_config(tmp_path, store_url), node_config(tmp_path, store_url)
    node_a, node_b = RuntimeConfig(config_a, node_id="a"), RuntimeConfig(config_b, node_id="b")
    await node_a.load(db)
    await node_b.load(db)
    outbox_b = config_b.outbox  # a service holding the section object sees the change too
    events = EventBus()
    heard = events.subscribe(ServerEvents.CONFIG)
    changed: list[set[str]] = []
    node_b.on_change(changed.append)

    await node_a.change(db, "outbox", {"retries": 9, "discount_start": "21:30"}, "api admin", events)

    assert config_a.outbox.retries == 9
    event = await heard.get(1)
    assert (event.kind, event.payload["area"], event.payload["keys"]) == ("config.changed", "outbox",
                                                                           ["discount_start", "retries"])
    assert config_b.outbox.retries == 4  # until node b looks at the version
    assert await node_b.load(db) == {"outbox"}
    assert outbox_b.retries == 9 and str(outbox_b.discount_start) == "21:30:00"
    assert changed == [{"outbox"}]
    assert await node_b.load(db) == set()  # same version: nothing to do

    # A restarted node applies what is stored before anything runs.
    restarted = node_config(tmp_path, store_url)
    await RuntimeConfig(restarted).load(db)
    assert restarted.outbox.retries == 9

    await node_a.reset(db, "outbox", ["retries"], "api admin", events)
    await node_b.load(db)
    assert (config_b.outbox.retries, str(config_b.outbox.discount_start)) == (4, "21:30:00")


async def test_invalid_changes_are_refused_with_the_key_named(tmp_path: Path, store_url: str, db: Database) -> None:
    runtime = RuntimeConfig(node_config(tmp_path, store_url))
    await runtime.load(db)
    with pytest.raises(SettingError, match=r"outbox\.retries"):
        await runtime.change(db, "outbox", {"retries": 1000}, "t")
    with pytest.raises(SettingError, match=r"outbox\.nonsense: unknown key"):
        await runtime.change(db, "outbox", {"nonsense": 1}, "t")
    with pytest.raises(SettingError, match="cannot be changed while the server runs"):
        await runtime.change(db, device_area("sim0"), {"port": "/dev/ttyS0"}, "t")
    with pytest.raises(KeyError):
        await runtime.change(db, "storage", {"url": ""}, "t")
    assert runtime.overrides("outbox") == {}


async def test_effective_names_each_source(tmp_path: Path, store_url: str, db: Database) -> None:
    runtime = RuntimeConfig(node_config(tmp_path, store_url))
    await runtime.load(db)
    await runtime.change(db, device_area("sim0"), {"csid": "STORED CSID"}, "api admin")
    await runtime.change(db, "receipts", {"password": "hunter2", "security": "tls"}, "api admin")
    found = {item.path: item for item in runtime.effective()}
    assert (found["outbox.retries"].value, found["outbox.retries"].source) == (4, "file")
    assert (found["outbox.branding"].value, found["outbox.branding"].source) == (True, "default")
    csid = found["devices[sim0].csid"]
    assert (csid.value, csid.source, csid.updated_by) == ("STORED CSID", "store", "api admin")
    assert found["devices[sim0].tsid"].source == "default"
    assert found["receipts.password"].value == "(secret)" and found["receipts.password"].source == "store"


async def test_a_device_of_another_node_is_stored_and_read_back(tmp_path: Path, store_url: str,
                                                                db: Database) -> None:
    runtime = RuntimeConfig(node_config(tmp_path, store_url))
    await runtime.load(db)
    values = {"receive_mode": "manual", "routing_methods": {"folder": False}}
    await runtime.change(db, device_area("elsewhere1"), values, "t")
    assert runtime.device_value("elsewhere1", "receive_mode") == "manual"
    assert runtime.device_value("elsewhere1", "csid") == "faxgate"
    assert runtime.problems == {}
    with pytest.raises(SettingError, match="receive_mode"):
        await runtime.change(db, device_area("elsewhere1"), {"receive_mode": "sometimes"}, "t")


async def test_device_routing_switches_decide_which_methods_run(tmp_path: Path, store_url: str,
                                                                db: Database) -> None:
    config = node_config(tmp_path, store_url)
    runtime = RuntimeConfig(config)
    await runtime.load(db)
    registry = MethodRegistry(config.inbound, runtime.device_methods)
    folder = registry.find("folder")
    assert folder is not None and registry.enabled_on(folder, "sim0")
    await runtime.change(db, device_area("sim0"), {"routing_methods": {folder.guid: False}}, "t")
    assert not registry.enabled_on(folder, "sim0")
    assert registry.enabled_on(folder, "sim1")


async def test_queue_policy_and_discount_window_follow_a_change(tmp_path: Path, store_url: str,
                                                                db: Database) -> None:
    config = node_config(tmp_path, store_url)
    runtime = RuntimeConfig(config)
    await runtime.load(db)
    factory = JobFactory(config, ["sim0"])
    runtime.on_change(lambda _areas: factory.reconfigure())
    now = time.time()
    start = (datetime.fromtimestamp(now, UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
    end = start + timedelta(hours=1)
    await runtime.change(db, "outbox", {"discount_start": start.strftime("%H:%M"),
                                        "discount_end": end.strftime("%H:%M")}, "t")
    first = factory.first_time(JobRequest(submission_id="s", number="5550100", document_blob_id="b", pages=1,
                                          schedule=ScheduleType.DISCOUNT_PERIOD), now)
    assert first == start.timestamp()

    job = OutgoingJob.from_row({**{column: None for column in OutgoingJob.__dataclass_fields__},
                                "id": 1, "retries": 0, "dials": 0, "tries": 0, "result_counts": {},
                                "sched_priority": 127, "bulk": False, "status": int(JobStatus.INPROGRESS)})
    # Windows Retries / RetryDelay govern results without a row of their own ("other").
    await runtime.change(db, "outbox", {"retries": 0, "retry_delay": 30}, "t")
    verdict = after_failure(job, ExtendedStatus.PROPRIETARY, "boom", now, effective_policy(config))
    assert verdict.final and verdict.next_attempt_at is None
    await runtime.change(db, "outbox", {"retries": 2}, "t")
    verdict = after_failure(job, ExtendedStatus.PROPRIETARY, "boom", now, effective_policy(config))
    assert not verdict.final and verdict.next_attempt_at == now + 30


def test_stored_registrations_apply_when_the_registries_start() -> None:
    registry = MethodRegistry()
    loads = registry.start({"webhook": {"registered": False},
                            "folder": {"registered": False},
                            "again": {"registered": True, "target": "routing.methods.folder:FolderMethod"},
                            "broken": {"registered": True, "target": "no.such.module:Method"}})
    assert registry.find("webhook") is None
    folder = registry.find("folder")  # unregistered, then registered again under another registration
    assert folder is not None and any(load.source == "registered again = routing.methods.folder:FolderMethod"
                                      for load in registry.loads)
    assert [load.name for load in loads if load.error] == ["broken"]

    providers = discover_device_providers()
    providers.apply_registrations({"class1": {"registered": False},
                                   "second": {"registered": True, "target": "modem.provider:Class1Provider"}})
    with pytest.raises(LookupError, match="unregistered"):
        providers.get("class1")
    assert providers.get("second") is not None and "simulated" in providers.names()


async def test_logging_options_changed_at_runtime_set_the_thresholds(tmp_path: Path, store_url: str,
                                                                    db: Database) -> None:
    config = node_config(tmp_path, store_url)
    runtime = RuntimeConfig(config)
    await runtime.load(db)
    runtime.on_change(lambda areas: apply_logging(config.logging) if "logging" in areas else None)
    try:
        await runtime.change(db, "logging", {"events": {"outbound": "none", "inbound": "max"}}, "t")
        assert not logger("outbound").isEnabledFor(logging.CRITICAL)
        assert logger("inbound").isEnabledFor(logging.DEBUG)
        assert logger("general").getEffectiveLevel() == logging.INFO
    finally:
        apply_logging(LoggingSection())
