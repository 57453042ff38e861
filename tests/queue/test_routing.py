"""Outbound routing rules (Windows precedence), group and rule status, dial rules, time windows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.config import ConfigError, parse_config
from gateway.enums import GroupStatus, RuleStatus
from gateway.queue.routing import DEFAULT_ROUTE, OutboundRouter, dial_string
from gateway.queue.windows import CallWindows, parse_window


def router(local: list[str]) -> OutboundRouter:
    config = parse_config({"outbound": {
        "groups": [{"name": "NYC", "devices": ["m2", "m0"]}, {"name": "Empty"}, {"name": "Far", "devices": ["x9"]}],
        "rules": [{"country_code": 1, "area_code": 212, "group": "nyc"},
                  {"country_code": 1, "device": "m1"},
                  {"country_code": 49, "area_code": 30, "group": "Far"},
                  {"country_code": 44, "group": "Empty"}],
    }})
    return OutboundRouter(config.outbound, local)


def test_area_rule_beats_country_rule_beats_the_default() -> None:
    routes = router(["m0", "m1", "m2"])
    assert routes.route_for("+12125550100") == "group:NYC"
    assert routes.route_for("+13105550100") == "device:m1"
    assert routes.route_for("+33142685300") == DEFAULT_ROUTE
    assert routes.route_for("5550100") == DEFAULT_ROUTE  # not canonical: the "All other" rule


def test_group_devices_keep_their_rank_and_skip_other_nodes_devices() -> None:
    routes = router(["m0", "m1", "m2"])
    assert routes.devices_of("group:NYC") == ["m2", "m0"]
    assert routes.devices_of(DEFAULT_ROUTE) == ["m0", "m1", "m2"]
    assert routes.routes_served_by(["m0"]) == ["device:m0", DEFAULT_ROUTE, "group:NYC"]


def test_group_and_rule_status() -> None:
    routes = router(["m0", "m1"])
    assert routes.group_status("NYC") == GroupStatus.SOME_DEV_NOT_VALID
    assert routes.group_status("Empty") == GroupStatus.EMPTY
    assert routes.group_status("Far") == GroupStatus.ALL_DEV_NOT_VALID
    statuses = {(view.country_code, view.area_code): view.status for view in routes.rule_views()}
    assert statuses == {(1, 212): RuleStatus.SOME_GROUP_DEV_NOT_VALID, (1, 0): RuleStatus.VALID,
                        (49, 30): RuleStatus.ALL_GROUP_DEV_NOT_VALID, (44, 0): RuleStatus.EMPTY_GROUP,
                        (0, 0): RuleStatus.VALID}


def test_rules_need_a_known_group_and_a_unique_key() -> None:
    with pytest.raises(ConfigError, match="unknown group"):
        parse_config({"outbound": {"rules": [{"country_code": 1, "group": "nope"}]}})
    with pytest.raises(ConfigError, match="same country and area"):
        parse_config({"outbound": {"rules": [{"country_code": 1, "device": "a"}, {"country_code": 1, "device": "b"}]}})
    with pytest.raises(ConfigError, match="built in"):
        parse_config({"outbound": {"groups": [{"name": "<all devices>"}]}})


def test_dial_strings_for_local_national_and_international_numbers() -> None:
    config = parse_config({"outbound": {"dialing": {
        "country_code": "1", "area_code": "212", "international_prefix": "011", "long_distance_prefix": "1",
        "outside_line_prefix": "9", "rules": [{"match": "^9", "replace": "9,", "devices": ["pbx0"]}]}}})
    dialing = config.outbound.dialing
    assert dial_string("+12125550100", "m0", dialing) == "95550100"
    assert dial_string("+13105550100", "m0", dialing) == "913105550100"
    assert dial_string("+442079460000", "m0", dialing) == "9011442079460000"
    assert dial_string("+442079460000", "pbx0", dialing) == "9,011442079460000"
    assert dial_string("5550100", "m0", dialing) == "95550100"


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_windows_weekdays_and_overnight() -> None:
    window = parse_window("Mon-Fri 08:00-18:00")
    assert window.weekdays == frozenset(range(5))
    windows = CallWindows("UTC", ["Mon-Fri 08:00-18:00"], parse_window("20:00-07:00").start,
                          parse_window("20:00-07:00").end)
    assert windows.next_allowed(at("2026-11-27T17:00:00")) == at("2026-11-27T17:00:00")  # Friday, open
    assert windows.next_allowed(at("2026-11-27T18:30:00")) == at("2026-11-30T08:00:00")  # after Friday: Monday
    assert windows.in_discount(at("2026-11-24T03:00:00")) and not windows.in_discount(at("2026-11-24T12:00:00"))
    # A discount job inside a weekend-only window: both must hold, which first happens at Saturday 00:00.
    night = CallWindows("UTC", ["Sat,Sun 00:00-23:59"], parse_window("20:00-07:00").start,
                        parse_window("20:00-07:00").end)
    assert night.next_allowed(at("2026-11-24T12:00:00"), discount=True) == at("2026-11-28T00:00:00")
