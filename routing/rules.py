"""The routing rules engine: ordered rules, first match or continue, a catch-all to the fax administrator.

Rules are tried in order. A matching rule adds its methods; unless it says ``continue = true`` it also
ends the evaluation. If the list runs out without such a final match, the catch-all applies: the fax
goes (also) to the fax administrator, so no fax is left unseen because only "continue" rules matched.

Every decision keeps its reasons: for each rule, which field matched or which one did not, so
`faxgate route test` and the incoming job can say why a fax went where it went.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from gateway.config.routing import InboundSection, RuleSection
from gateway.textsafe import safe_text
from routing.fax import ReceivedFax
from routing.patterns import first_match

CATCH_ALL = "catch-all"
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FIELDS: tuple[tuple[str, str, bool], ...] = (
    # (rule attribute, fax attribute, compare as phone number)
    ("dids", "did", True),
    ("caller_ids", "caller_id", True),
    ("caller_names", "caller_name", False),
    ("tsids", "tsid", False),
    ("subaddresses", "subaddress", True),
)


@dataclass
class Action:
    """One routing method to run for a fax, with the configuration the rule gave it."""

    rule: str
    method: str
    """A method name or GUID."""
    config: dict[str, Any]


@dataclass
class RuleCheck:
    """How one rule fared against a fax."""

    rule: str
    matched: bool
    reasons: list[str]
    skipped: bool = False
    """True when an earlier first-match rule already decided and this rule was not tried."""


@dataclass
class Decision:
    """Which rules matched, what will run, and why."""

    checks: list[RuleCheck]
    actions: list[Action]
    catch_all: bool
    why: str
    matched: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """For storage on the incoming job and for --json output."""
        return asdict(self)


def rule_actions(rule: RuleSection) -> list[Action]:
    """The methods a rule names, in the order written: email, folder, webhook, mailbox, then extension methods."""
    actions: list[Action] = []
    if rule.email is not None:
        actions.append(Action(rule.name, "email", rule.email.model_dump(mode="json")))
    if rule.folder is not None:
        actions.append(Action(rule.name, "folder", rule.folder.model_dump(mode="json")))
    if rule.webhook is not None:
        actions.append(Action(rule.name, "webhook", rule.webhook.model_dump(mode="json")))
    if rule.mailbox is not None:
        actions.append(Action(rule.name, "mailbox", rule.mailbox.model_dump(mode="json")))
    actions.extend(Action(rule.name, method, dict(config)) for method, config in rule.methods.items())
    return actions


def check_rule(rule: RuleSection, fax: ReceivedFax, when: datetime) -> RuleCheck:
    """Test every match field of one rule; a rule with no match fields matches everything."""
    reasons: list[str] = []
    if rule.devices:
        if fax.device not in rule.devices:
            return RuleCheck(rule.name, False, [f"device {fax.device} is not one of {rule.devices}"])
        reasons.append(f"device {fax.device}")
    for attribute, fax_attribute, numeric in _FIELDS:
        patterns: list[str] = getattr(rule, attribute)
        if not patterns:
            continue
        value = str(getattr(fax, fax_attribute))
        shown = safe_text(value, 40) or "(none)"
        pattern = first_match(patterns, value, numeric=numeric)
        if pattern is None:
            return RuleCheck(rule.name, False, [f"{fax_attribute} {shown} matches none of {patterns}"])
        reasons.append(f"{fax_attribute} {shown} matches {pattern!r}")
    window = rule.window()
    if window is not None:
        start, end = window
        now = when.time()
        inside = start <= now < end if start <= end else (now >= start or now < end)
        if not inside:
            return RuleCheck(rule.name, False, [f"time {now:%H:%M} is outside {rule.hours}"])
        reasons.append(f"time {now:%H:%M} is within {rule.hours}")
    if rule.days:
        day = _WEEKDAYS[when.weekday()]
        if day not in rule.days:
            return RuleCheck(rule.name, False, [f"day {day} is not one of {rule.days}"])
        reasons.append(f"day {day}")
    return RuleCheck(rule.name, True, reasons or ["the rule has no conditions"])


def catch_all_action(inbound: InboundSection) -> Action:
    """The fax administrator gets what no rule claimed."""
    return Action(CATCH_ALL, "email", {"to": [inbound.admin], "cc": [], "bcc": [], "format": "pdf",
                                       "subject": "Unrouted fax from {sender} ({pages} pages)", "body": ""})


def decide(inbound: InboundSection, fax: ReceivedFax) -> Decision:
    """Evaluate the rules in order; stop at the first match unless that rule says continue."""
    when = fax.received(ZoneInfo(inbound.timezone))
    checks: list[RuleCheck] = []
    actions: list[Action] = []
    matched: list[str] = []
    stopped_by: str | None = None
    for rule in inbound.rules:
        if stopped_by is not None:
            checks.append(RuleCheck(rule.name, False, [f"not tried: {stopped_by} matched first"], skipped=True))
            continue
        check = check_rule(rule, fax, when)
        checks.append(check)
        if not check.matched:
            continue
        matched.append(rule.name)
        actions.extend(rule_actions(rule))
        if not rule.continue_:
            stopped_by = rule.name
    if stopped_by is None:
        # The list ran out without a first-match rule deciding: the catch-all is the implied last rule.
        actions.append(catch_all_action(inbound))
        why = ("matched " + ", ".join(matched) + "; " if matched else "no rule matched; ") + (
            f"no final rule decided, so also sent to the fax administrator {inbound.admin}" if matched
            else f"sent to the fax administrator {inbound.admin}")
        return Decision(checks, actions, True, why, matched)
    why = "matched " + ", ".join(matched)
    if not actions:
        why += " (no methods: kept in the inbox only)"
    return Decision(checks, actions, False, why, matched)
