"""The `faxgate route test` question: which rules match a call like this, and what would be done with the fax."""

from __future__ import annotations

from typing import Any

from gateway.config import FaxgateConfig
from routing.fax import ReceivedFax
from routing.plan import plan
from routing.registry import MethodRegistry
from routing.router import device_ids
from routing.rules import decide, rule_actions


def dry_run(config: FaxgateConfig, *, device: str, did: str = "", caller_id: str = "", caller_name: str = "",
            tsid: str = "", subaddress: str = "", received_at: float, pages: int = 1) -> dict[str, Any]:
    """The decision and planned deliveries for an imagined fax, as the CLI's --json and the API answer them."""
    device = device or (config.devices[0].name if config.devices else "")
    ids = device_ids(config)
    fax = ReceivedFax(id=0, device=device, device_id=ids.get(device, 0), received_at=received_at,
                      caller_id=caller_id, caller_name=caller_name, did=did, tsid=tsid, subaddress=subaddress,
                      pages=pages)
    registry = MethodRegistry(config.inbound)
    registry.discover()
    decision = decide(config.inbound, fax)
    planned = plan(decision, registry, device)
    data: dict[str, Any] = {
        "fax": fax.to_json(),
        "rules": [{"rule": c.rule, "matched": c.matched, "skipped": c.skipped, "reasons": c.reasons}
                  for c in decision.checks],
        "matched": decision.matched,
        "catch_all": decision.catch_all,
        "why": decision.why,
        "deliveries": [{"key": d.key, "rule": d.rule, "method": d.method_name, "guid": d.method_guid,
                        "priority": d.priority, "action": d.description} for d in planned.deliveries],
        "notes": list(planned.notes),
    }
    if device not in ids:
        data["notes"].append(f"device {device!r} is not configured")
    return data


def rules_summary(config: FaxgateConfig) -> list[dict[str, Any]]:
    """The inbound rules in the order they are tried, with their match fields and the methods they use."""
    found = []
    for rule in config.inbound.rules:
        fields = rule.model_dump(mode="json", exclude_defaults=True, by_alias=True)
        found.append({"name": rule.name, "match": {key: value for key, value in fields.items()
                                                     if key not in {"name", "email", "folder", "webhook", "methods"}},
                      "methods": [action.method for action in rule_actions(rule)]})
    return found
