"""From a decision to deliveries: resolve each method, drop those the device does not use, order by priority."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from routing.registry import MethodRegistry
from routing.rules import Action, Decision


@dataclass
class PlannedDelivery:
    """A method to run for a fax, with the rule that asked for it and its place in the global order."""

    key: str
    rule: str
    method_guid: str
    method_name: str
    priority: int
    config: dict[str, Any]
    description: str

    def row(self) -> dict[str, Any]:
        """The columns stored in incoming_deliveries."""
        return {"key": self.key, "rule": self.rule, "method_guid": self.method_guid,
                "method_name": self.method_name, "priority": self.priority, "config": self.config}


@dataclass
class Plan:
    """The deliveries to make and the notes on actions that will not run."""

    deliveries: list[PlannedDelivery]
    notes: list[str]


def plan(decision: Decision, registry: MethodRegistry, device: str,
         device_config: dict[str, dict[str, Any]] | None = None) -> Plan:
    """Turn a decision into ordered deliveries; ``device_config`` holds per-device settings by method GUID."""
    deliveries: list[PlannedDelivery] = []
    notes: list[str] = []
    counts: dict[tuple[str, str], int] = {}
    for action in decision.actions:
        method = registry.find(action.method)
        if method is None:
            notes.append(f"rule {action.rule}: no routing method named {action.method!r}")
            continue
        if not registry.enabled_on(method, device):
            notes.append(f"rule {action.rule}: method {method.name} is not enabled on device {device}")
            continue
        config = {**(device_config or {}).get(method.guid, {}), **action.config}
        try:
            method.check_config(config)
            description = method.describe(config)
        except ValueError as exc:
            notes.append(f"rule {action.rule}: {method.name} is misconfigured: {exc}")
            continue
        index = counts.get((action.rule, method.name), 0)
        counts[(action.rule, method.name)] = index + 1
        deliveries.append(PlannedDelivery(
            key=f"{action.rule}/{method.name}/{index}", rule=action.rule, method_guid=method.guid,
            method_name=method.name, priority=registry.priority(method), config=config, description=description,
        ))
    deliveries.sort(key=lambda item: item.priority)
    return Plan(deliveries, notes)


def describe_action(action: Action, registry: MethodRegistry) -> str:
    """One line for an action, for `route test`."""
    method = registry.find(action.method)
    if method is None:
        return f"unknown method {action.method!r}"
    try:
        return method.describe(action.config)
    except ValueError as exc:
        return f"{method.name}: misconfigured ({exc})"
