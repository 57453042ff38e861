"""Rules: every match field, order, first match versus continue, the catch-all, and the reasons recorded."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.config import ConfigError, parse_config
from gateway.config.routing import InboundSection
from routing.fax import ReceivedFax
from routing.plan import plan
from routing.registry import MethodRegistry
from routing.rules import CATCH_ALL, decide

# Wednesday 2026-11-18 10:30 UTC
WEDNESDAY_MORNING = datetime(2026, 11, 18, 10, 30, tzinfo=UTC).timestamp()


def inbound(*rules: dict[str, Any], **extra: Any) -> InboundSection:
    """A validated [inbound] section (through the full config parser, as a TOML file would be)."""
    return parse_config({"inbound": {"admin": "faxmaster@example.test", "rules": list(rules), **extra}}).inbound


def fax(**fields: Any) -> ReceivedFax:
    """A received fax with ordinary facts unless told otherwise."""
    facts: dict[str, Any] = {"id": 1, "device": "fax0", "device_id": 1, "received_at": WEDNESDAY_MORNING,
                             "caller_id": "+1 555 123 4567", "caller_name": "ACME Corp", "did": "100",
                             "tsid": "ACME FAX", "subaddress": "", "pages": 2}
    facts.update(fields)
    return ReceivedFax(**facts)


def mail(to: str) -> dict[str, Any]:
    return {"to": [to]}


@pytest.mark.parametrize(
    ("condition", "matching", "other"),
    [
        ({"devices": ["fax1"]}, {"device": "fax1"}, {"device": "fax0"}),
        ({"dids": ["100"]}, {"did": "100"}, {"did": "101"}),
        ({"dids": ["10*"]}, {"did": "105"}, {"did": "205"}),
        ({"caller_ids": ["+1 555 123 4567"]}, {"caller_id": "15551234567"}, {"caller_id": "15551234568"}),
        ({"caller_ids": ["1555*"]}, {"caller_id": "+1 (555) 999-0000"}, {"caller_id": "+44 20 7946 0000"}),
        ({"caller_ids": [""]}, {"caller_id": ""}, {"caller_id": "5551234"}),
        ({"caller_names": ["acme*"]}, {"caller_name": "ACME Corp"}, {"caller_name": "Globex"}),
        ({"tsids": ["re:^ACME"]}, {"tsid": "ACME FAX"}, {"tsid": "NOT ACME"}),
        ({"tsids": ["*bank*"]}, {"tsid": "First Bank Ltd"}, {"tsid": "ACME"}),
        ({"subaddresses": ["42"]}, {"subaddress": "42"}, {"subaddress": "43"}),
        ({"hours": "08:00-18:00"}, {}, {"received_at": datetime(2026, 11, 18, 19, 0, tzinfo=UTC).timestamp()}),
        ({"hours": "22:00-06:00"}, {"received_at": datetime(2026, 11, 18, 23, 0, tzinfo=UTC).timestamp()}, {}),
        ({"days": ["mon", "tue", "wed", "thu", "fri"]}, {},
         {"received_at": datetime(2026, 11, 21, 10, 0, tzinfo=UTC).timestamp()}),
    ],
)
def test_each_match_field_matches_and_refuses(condition: dict[str, Any], matching: dict[str, Any],
                                              other: dict[str, Any]) -> None:
    section = inbound({"name": "r", **condition, "email": mail("r@example.test")})
    hit = decide(section, fax(**matching))
    assert hit.matched == ["r"], hit.checks
    assert hit.actions[0].config["to"] == ["r@example.test"]
    assert not hit.catch_all
    miss = decide(section, fax(**other))
    assert miss.matched == []
    assert miss.catch_all
    assert miss.actions[0].rule == CATCH_ALL
    assert miss.actions[0].config["to"] == ["faxmaster@example.test"]
    assert "no rule matched" in miss.why


def test_all_conditions_of_a_rule_must_hold() -> None:
    section = inbound({"name": "both", "dids": ["100"], "caller_ids": ["1555*"], "email": mail("a@example.test")})
    assert decide(section, fax(did="100", caller_id="15550000")).matched == ["both"]
    decision = decide(section, fax(did="100", caller_id="4420"))
    assert decision.matched == []
    assert "caller_id 4420 matches none of ['1555*']" in decision.checks[0].reasons[0]


def test_time_of_day_uses_the_configured_zone() -> None:
    # 10:30 UTC is 05:30 in New York: outside 08:00-18:00 there.
    section = inbound({"name": "office", "hours": "08:00-18:00", "email": mail("a@example.test")},
                      timezone="America/New_York")
    decision = decide(section, fax())
    assert decision.matched == []
    assert decision.checks[0].reasons == ["time 05:30 is outside 08:00-18:00"]


def test_first_match_wins_and_later_rules_are_not_tried() -> None:
    section = inbound(
        {"name": "sales", "dids": ["100"], "email": mail("sales@example.test")},
        {"name": "everything", "email": mail("all@example.test")},
    )
    decision = decide(section, fax(did="100"))
    assert decision.matched == ["sales"]
    assert [a.config["to"] for a in decision.actions] == [["sales@example.test"]]
    assert decision.checks[1].skipped
    assert decision.checks[1].reasons == ["not tried: sales matched first"]


def test_order_decides_between_overlapping_rules() -> None:
    first = {"name": "a", "dids": ["1*"], "email": mail("a@example.test")}
    second = {"name": "b", "dids": ["10*"], "email": mail("b@example.test")}
    assert decide(inbound(first, second), fax(did="100")).matched == ["a"]
    assert decide(inbound(second, first), fax(did="100")).matched == ["b"]


def test_continue_lets_later_rules_add_methods() -> None:
    section = inbound(
        {"name": "archive-all", "continue": True, "folder": {"path": "/srv/fax"}},
        {"name": "sales", "dids": ["100"], "email": mail("sales@example.test")},
        {"name": "support", "dids": ["200"], "email": mail("support@example.test")},
        {"name": "never", "email": mail("never@example.test")},
    )
    decision = decide(section, fax(did="100"))
    assert decision.matched == ["archive-all", "sales"]
    assert [(a.rule, a.method) for a in decision.actions] == [("archive-all", "folder"), ("sales", "email")]
    assert [c.matched for c in decision.checks] == [True, True, False, False]
    assert decision.checks[3].skipped
    assert decision.why == "matched archive-all, sales"


def test_when_only_continue_rules_match_the_catch_all_still_applies() -> None:
    section = inbound({"name": "copy", "continue": True, "folder": {"path": "/srv/fax"}},
                      {"name": "sales", "dids": ["100"], "email": mail("sales@example.test")})
    decision = decide(section, fax(did="999"))
    assert decision.matched == ["copy"]
    assert decision.catch_all
    assert [(a.rule, a.method) for a in decision.actions] == [("copy", "folder"), (CATCH_ALL, "email")]
    assert decision.why == ("matched copy; no final rule decided, so also sent to the fax administrator "
                            "faxmaster@example.test")


def test_a_final_rule_without_methods_keeps_the_fax_in_the_inbox_only() -> None:
    section = inbound({"name": "junk", "tsids": ["*JUNK*"]}, {"name": "all", "email": mail("a@example.test")})
    decision = decide(section, fax(tsid="JUNK FAX"))
    assert decision.actions == []
    assert not decision.catch_all
    assert decision.why == "matched junk (no methods: kept in the inbox only)"


def test_no_rules_at_all_goes_to_the_administrator() -> None:
    decision = decide(inbound(), fax())
    assert decision.catch_all
    assert [(a.rule, a.method, a.config["to"]) for a in decision.actions] == [
        (CATCH_ALL, "email", ["faxmaster@example.test"])]


def test_plan_orders_by_global_priority_and_respects_device_enablement() -> None:
    section = inbound(
        {"name": "r", "webhook": {"url": "https://hooks.example.test/fax"}, "email": mail("a@example.test"),
         "folder": {"path": "/srv/fax"}},
        methods=[{"method": "webhook", "priority": 1}, {"method": "email", "devices": ["fax1"]}],
    )
    registry = MethodRegistry(section)
    on_fax0 = plan(decide(section, fax(device="fax0")), registry, "fax0")
    assert [d.method_name for d in on_fax0.deliveries] == ["webhook", "folder"]
    assert on_fax0.notes == ["rule r: method email is not enabled on device fax0"]
    on_fax1 = plan(decide(section, fax(device="fax1")), registry, "fax1")
    assert [d.method_name for d in on_fax1.deliveries] == ["webhook", "folder", "email"]
    assert [d.key for d in on_fax1.deliveries] == ["r/webhook/0", "r/folder/0", "r/email/0"]


def test_device_configuration_fills_in_what_the_rule_leaves_out() -> None:
    from gateway.enums import MS_FAXROUTE_FOLDER_GUID

    section = inbound({"name": "r", "methods": {"folder": {}}})
    registry = MethodRegistry(section)
    without = plan(decide(section, fax()), registry, "fax0")
    assert without.deliveries == []
    assert "folder is misconfigured" in without.notes[0]
    with_device = plan(decide(section, fax()), registry, "fax0", {MS_FAXROUTE_FOLDER_GUID: {"path": "/srv/dev0"}})
    assert with_device.deliveries[0].config["path"] == "/srv/dev0"


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ({"name": "x", "hours": "8-18"}, 'expected a window like "08:00-18:00"'),
        ({"name": "x", "tsids": ["re:(unclosed"]}, "bad regular expression"),
        ({"name": "x", "email": {"format": "pdf"}}, "needs at least one of to, cc, bcc"),
        ({"name": "x", "days": ["someday"]}, "inbound.rules[0].days[0]"),
        ({"name": "x", "colour": "red"}, "inbound.rules[0].colour: unknown key"),
    ],
)
def test_bad_rules_are_named_at_load(rule: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"inbound": {"rules": [rule]}})
    assert problem in str(error.value)


def test_duplicate_rule_names_are_refused() -> None:
    with pytest.raises(ConfigError, match="rule name 'a' is used twice"):
        parse_config({"inbound": {"rules": [{"name": "a"}, {"name": "a"}]}})
