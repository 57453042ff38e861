"""The number policy, in one place: read a written number into E.164, classify it, and allow or refuse it.

Intake checks every recipient at RCPT time with it and the queue may check again before dialling; both ask
`NumberPolicy.resolve(text, allowed_classes)` and get a `Destination` or a `NumberError` whose `reason`
is written for the sender.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers
from phonenumbers import CountryCodeSource, PhoneNumberType, ValidationResult, shortnumberinfo

from gateway.config.numbers import NumbersSection

_WRITTEN = re.compile(r"^\+?[0-9][0-9 ()./-]{0,40}$")
_WRITTEN_COUNTRY_CODE = frozenset({CountryCodeSource.FROM_NUMBER_WITH_PLUS_SIGN,
                                   CountryCodeSource.FROM_NUMBER_WITH_IDD})
"""How phonenumbers says the sender wrote a country code: after "+", or after an international prefix."""
_TYPE_CLASSES: dict[int, str] = {
    PhoneNumberType.PREMIUM_RATE: "premium",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.MOBILE: "mobile",
}
_CLASS_WORDS = {  # most telling first: a refusal names the first closed class in this order
    "emergency": "emergency numbers",
    "premium": "premium-rate numbers",
    "shared_cost": "shared-cost numbers",
    "short": "short service numbers",
    "international": "international numbers",
    "toll_free": "toll-free numbers",
    "mobile": "mobile numbers",
    "domestic": "national numbers",
    "local": "local numbers",
}


class NumberError(ValueError):
    """A number that cannot be dialled; `reason` is plain words for the sender."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NumberForbidden(NumberError):
    """A valid number that this sender may not dial."""


@dataclass(frozen=True, slots=True)
class Destination:
    """A checked destination: `number` is E.164 ("+12015550123"), or the bare digits of a local-only number."""

    number: str
    written: str
    classes: frozenset[str]
    region: str

    @property
    def is_e164(self) -> bool:
        """True unless the number is local-only (no area or country code was written or known)."""
        return self.number.startswith("+")


PARSE_CACHE_SIZE = 4096


class NumberPolicy:
    """Reads and judges numbers for one configuration."""

    def __init__(self, section: NumbersSection) -> None:
        self.section = section
        self.region = section.default_country
        self.blocked = frozenset(section.blocked)
        self._parsed: dict[str, Destination] = {}

    def parse(self, written: str) -> Destination:
        """Normalise a written number (national or +international) and classify it; NumberError if it is none."""
        destination = self._parsed.get(written)
        if destination is None:
            destination = self._parse(written)
            if len(self._parsed) >= PARSE_CACHE_SIZE:
                self._parsed.clear()
            self._parsed[written] = destination
        return destination

    def _parse(self, written: str) -> Destination:
        """parse() without the cache: libphonenumber costs ~0.15 ms a number, and senders repeat their numbers."""
        text = written.strip()
        if not _WRITTEN.match(text):
            raise NumberError(f"{text!r} is not a fax number: use digits, optionally starting with +")
        digits = "".join(ch for ch in text if ch.isdigit())
        if shortnumberinfo.connects_to_emergency_number(digits, self.region) and not text.startswith(("+", "00")):
            return Destination(digits, written, frozenset({"emergency"}), self.region)
        try:
            parsed = phonenumbers.parse(text, self.region, keep_raw_input=True)
            if text.startswith("00") and parsed.country_code_source not in _WRITTEN_COUNTRY_CODE:
                text = "+" + digits[2:]  # 00 is the international prefix of most of the world, even where it is not
                parsed = phonenumbers.parse(text, self.region, keep_raw_input=True)
        except phonenumbers.NumberParseException:
            raise NumberError(f"{text!r} is not a fax number") from None
        e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        if phonenumbers.is_valid_number(parsed):
            return Destination(e164, written, self._classes(parsed),
                               phonenumbers.region_code_for_number(parsed) or self.region)
        # A country code written with "+" or any international prefix (011, 00, 8~10, ...) makes the number one of
        # that country, never a short or local number dialled as written (a local length abroad is still abroad).
        abroad = parsed.country_code_source in _WRITTEN_COUNTRY_CODE
        if not abroad and shortnumberinfo.is_valid_short_number_for_region(parsed, self.region):
            classes = {"short"}
            cost = shortnumberinfo.expected_cost_for_region(parsed, self.region)
            if cost == shortnumberinfo.ShortNumberCost.PREMIUM_RATE:
                classes.add("premium")
            return Destination(digits, written, frozenset(classes), self.region)
        reason = phonenumbers.is_possible_number_with_reason(parsed)
        if reason == ValidationResult.IS_POSSIBLE_LOCAL_ONLY:
            code = parsed.country_code or 0
            if code != phonenumbers.country_code_for_region(self.region):
                return Destination(e164, written, frozenset({"international"}),
                                   phonenumbers.region_code_for_country_code(code))
            if not abroad:
                return Destination(digits, written, frozenset({"local"}), self.region)
        raise NumberError(f"{written.strip()!r} is not a valid fax number for {self.region}: "
                          f"{_length_hint(reason)}")

    def _classes(self, parsed: phonenumbers.PhoneNumber) -> frozenset[str]:
        classes = {_TYPE_CLASSES.get(phonenumbers.number_type(parsed), "domestic")}
        if parsed.country_code != phonenumbers.country_code_for_region(self.region):
            classes = (classes - {"domestic"}) | {"international"}
        elif "mobile" in classes:
            classes.add("domestic")
        return frozenset(classes)

    def check(self, destination: Destination, allowed_classes: Iterable[str] = ()) -> None:
        """Raise NumberForbidden unless the sender, with these extra classes, may dial `destination`."""
        number = destination.number
        if any(fnmatch.fnmatchcase(number, pattern) for pattern in self.section.deny):
            raise NumberForbidden(f"{number} is on this gateway's list of numbers that may not be dialled")
        if any(fnmatch.fnmatchcase(number, pattern) for pattern in self.section.allow):
            return
        closed = (destination.classes & self.blocked) - set(allowed_classes)
        if closed:
            worst = next(name for name in _CLASS_WORDS if name in closed)
            raise NumberForbidden(f"{number}: you may not send faxes to {_CLASS_WORDS[worst]}")

    def resolve(self, written: str, allowed_classes: Iterable[str] = ()) -> Destination:
        """Parse then check: the one call intake and the queue make."""
        destination = self.parse(written)
        self.check(destination, allowed_classes)
        return destination


def _length_hint(reason: int) -> str:
    """Plain words for phonenumbers' reason codes."""
    if reason == ValidationResult.TOO_SHORT:
        return "it is too short"
    if reason == ValidationResult.TOO_LONG:
        return "it is too long"
    if reason == ValidationResult.INVALID_COUNTRY_CODE:
        return "the country code is unknown"
    return "no such number exists in the numbering plan"
