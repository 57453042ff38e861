"""Outbound routing (groups and rules, Windows precedence) and dial rules (E.164 to what a line dials)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

from gateway.config.outbound import DialingSection, OutboundSection
from gateway.enums import ALL_DEVICES_GROUP, GroupStatus, RuleStatus

DEFAULT_ROUTE = f"group:{ALL_DEVICES_GROUP}"


@dataclass(frozen=True)
class RuleView:
    """A rule as an administrator sees it, with its Windows status."""

    country_code: int
    area_code: int
    route: str
    status: RuleStatus


class OutboundRouter:
    """Picks the route of a number and the devices (in rank order) that serve each route on this node."""

    def __init__(self, section: OutboundSection, local_devices: list[str]) -> None:
        self.local_devices = list(local_devices)
        self.groups: dict[str, list[str]] = {ALL_DEVICES_GROUP.lower(): list(local_devices)}
        self.group_names: dict[str, str] = {ALL_DEVICES_GROUP.lower(): ALL_DEVICES_GROUP}
        for group in section.groups:
            self.groups[group.name.lower()] = list(group.devices)
            self.group_names[group.name.lower()] = group.name
        self.rules: dict[tuple[int, int], str] = {}
        for rule in section.rules:
            target = f"group:{self.group_names[rule.group.lower()]}" if rule.group else f"device:{rule.device}"
            self.rules[(rule.country_code, rule.area_code)] = target

    def route_for(self, number: str) -> str:
        """The best rule for a number: (country, area) over (country, any) over the default "All other" rule."""
        if not number.startswith("+"):
            return DEFAULT_ROUTE
        try:
            parsed = phonenumbers.parse(number, None)
        except phonenumbers.NumberParseException:
            return DEFAULT_ROUTE
        country = int(parsed.country_code or 0)
        national = phonenumbers.national_significant_number(parsed)
        area_length = phonenumbers.length_of_geographical_area_code(parsed)
        if area_length and (country, int(national[:area_length])) in self.rules:
            return self.rules[(country, int(national[:area_length]))]
        return self.rules.get((country, 0), DEFAULT_ROUTE)

    def devices_of(self, route: str) -> list[str]:
        """This node's devices for a route, in rank order (devices of other nodes are left out)."""
        kind, _, name = route.partition(":")
        names = [name] if kind == "device" else self.groups.get(name.lower(), [])
        return [device for device in names if device in self.local_devices]

    def routes_served_by(self, devices: list[str]) -> list[str]:
        """Every route that at least one of these devices can take."""
        wanted = set(devices)
        routes = {f"device:{device}" for device in wanted}
        for key, members in self.groups.items():
            if wanted & set(members):
                routes.add(f"group:{self.group_names[key]}")
        return sorted(routes)

    def group_status(self, name: str) -> GroupStatus:
        """FAX_GROUP_STATUS_ENUM of a group on this node."""
        members = self.groups.get(name.lower(), [])
        valid = [device for device in members if device in self.local_devices]
        if not members:
            return GroupStatus.EMPTY
        if not valid:
            return GroupStatus.ALL_DEV_NOT_VALID
        return GroupStatus.SOME_DEV_NOT_VALID if len(valid) < len(members) else GroupStatus.ALL_DEV_VALID

    def rule_views(self) -> list[RuleView]:
        """Every rule, the default last, with its status."""
        views: list[RuleView] = []
        for (country, area), route in sorted(self.rules.items()):
            views.append(RuleView(country, area, route, self._rule_status(route)))
        views.append(RuleView(0, 0, DEFAULT_ROUTE, self._rule_status(DEFAULT_ROUTE)))
        return views

    def _rule_status(self, route: str) -> RuleStatus:
        kind, _, name = route.partition(":")
        if kind == "device":
            return RuleStatus.VALID if name in self.local_devices else RuleStatus.BAD_DEVICE
        return {
            GroupStatus.ALL_DEV_VALID: RuleStatus.VALID,
            GroupStatus.EMPTY: RuleStatus.EMPTY_GROUP,
            GroupStatus.ALL_DEV_NOT_VALID: RuleStatus.ALL_GROUP_DEV_NOT_VALID,
            GroupStatus.SOME_DEV_NOT_VALID: RuleStatus.SOME_GROUP_DEV_NOT_VALID,
        }[self.group_status(name)]


def dial_string(number: str, device: str, dialing: DialingSection) -> str:
    """What ``device`` dials for a number: local, long-distance or international form, then the rewrite rules.

    Numbers without "+" (local-only or short numbers) are dialled as written.
    """
    digits = number
    if number.startswith("+"):
        e164 = number[1:]
        home = dialing.country_code
        if e164.startswith(home):
            national = e164[len(home):]
            if dialing.area_code and national.startswith(dialing.area_code):
                digits = national[len(dialing.area_code):]
            else:
                digits = dialing.long_distance_prefix + national
        else:
            digits = dialing.international_prefix + e164
    digits = dialing.outside_line_prefix + digits
    for rule in dialing.rules:
        if rule.devices and device not in rule.devices:
            continue
        digits = re.sub(rule.match, rule.replace, digits)
    return digits
