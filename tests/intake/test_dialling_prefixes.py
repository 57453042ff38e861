"""Toll fraud through dialling prefixes: a country code written after 011, 00, 8~10 or + is abroad, at any length."""

from __future__ import annotations

import phonenumbers
import pytest
from phonenumbers import PhoneMetadata, ValidationResult

from gateway.config.numbers import NumbersSection
from gateway.numbers import NumberForbidden, NumberPolicy
from tests.intake.conftest import Gateway, GatewayFactory, simple_mail, transaction

CALLING_CODES = sorted(phonenumbers.supported_calling_codes())
FORMS = [("US", "011"), ("DE", "00"), ("US", "+"), ("DE", "+")]
"""(default country, what the sender writes before the country code)."""


def _local_only_national(code: int, length: int) -> str:
    """National digits of `length` that phonenumbers reads as possible-local-only (and not valid) in country `code`."""
    for first in "2345679":
        for candidate in (first * length, (first + "0987654321" * 3)[:length], (first + "1234567890" * 3)[:length]):
            parsed = phonenumbers.parse(f"+{code}{candidate}")
            if (str(parsed.national_number) == candidate and not phonenumbers.is_valid_number(parsed)
                    and phonenumbers.is_possible_number_with_reason(parsed) == ValidationResult.IS_POSSIBLE_LOCAL_ONLY):
                return candidate
    raise AssertionError(f"no local-only number of length {length} for +{code}")


def _samples(code: int) -> list[str]:
    """National parts to try for one country code: its example number and one number of each local-only length."""
    region = phonenumbers.region_code_for_country_code(code)
    if region == "001":
        example = phonenumbers.example_number_for_non_geo_entity(code)
    else:
        example = phonenumbers.example_number(region)
    assert example is not None, code
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
    assert metadata is not None and metadata.general_desc is not None
    lengths = metadata.general_desc.possible_length_local_only
    return [phonenumbers.national_significant_number(example), *(_local_only_national(code, n) for n in lengths)]


SWEEP = [(code, national) for code in CALLING_CODES for national in _samples(code)]


def test_the_sweep_covers_every_calling_code_and_every_local_only_length() -> None:
    assert {code for code, _ in SWEEP} == set(CALLING_CODES)
    local = [(code, national) for code, national in SWEEP
             if phonenumbers.is_possible_number_with_reason(phonenumbers.parse(f"+{code}{national}"))
             == ValidationResult.IS_POSSIBLE_LOCAL_ONLY]
    assert len({code for code, _ in local}) >= 60  # the issue found 61 country codes open to the 011 form


@pytest.mark.parametrize(("region", "prefix"), FORMS)
def test_every_country_code_after_an_international_prefix_is_international(region: str, prefix: str) -> None:
    policy = NumberPolicy(NumbersSection(default_country=region))
    home = phonenumbers.country_code_for_region(region)
    passed: list[str] = []
    for code, national in SWEEP:
        if code == home:
            continue
        written = f"{prefix}{code}{national}"
        try:
            policy.resolve(written)
            passed.append(f"{written}: accepted")
            continue
        except NumberForbidden:
            classes = policy.parse(written).classes
        if "international" not in classes:
            passed.append(f"{written}: refused, but as {sorted(classes)}")
        other_closed = classes & policy.blocked - {"international"}  # international premium-rate stays closed
        try:
            destination = policy.resolve(written, {"international"})
        except NumberForbidden as exc:
            if not other_closed:
                passed.append(f"{written}: refused although international is allowed: {exc.reason}")
            continue
        if other_closed or destination.number != f"+{code}{national}":
            passed.append(f"{written}: dialled as {destination.number} ({sorted(classes)})")
    assert passed == []


def _own_prefixes() -> list[tuple[str, str]]:
    """Each region outside +44 with the one international prefix it writes (Russia's 8~10 as 810, Australia 0011)."""
    found = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        metadata = PhoneMetadata.metadata_for_region(region)
        assert metadata is not None
        prefix = (metadata.preferred_international_prefix or metadata.international_prefix or "").replace("~", "")
        if prefix.isdigit() and metadata.country_code != 44:
            found.append((region, prefix))
    return found


@pytest.mark.parametrize(("region", "prefix"), _own_prefixes())
def test_each_countrys_own_international_prefix_reaches_abroad(region: str, prefix: str) -> None:
    """Trunk-prefixed forms such as Russia's 8~10 count too: a UK local-length number is international from anywhere."""
    with pytest.raises(NumberForbidden, match="international numbers"):
        NumberPolicy(NumbersSection(default_country=region)).resolve(f"{prefix}4490987900")


def test_local_numbers_stay_local() -> None:
    policy = NumberPolicy(NumbersSection())
    assert policy.resolve("555 1234").number == "5551234"
    assert policy.resolve("555 1234").classes == {"local"}


@pytest.mark.parametrize("address", ["0114490987900@fax.localhost", "004490987900@fax.localhost",
                                     "+4490987900@fax.localhost", "someone@0114490987900.fax"])
async def test_a_uk_local_length_number_behind_011_is_refused_at_rcpt(gateway: Gateway, address: str) -> None:
    reply = await transaction(gateway.port, "clinic@example.com", [address], simple_mail(to=address))
    assert reply.rcpt == [(550, "5.7.1 +4490987900: you may not send faxes to international numbers")]
    assert await gateway.submissions() == []


async def test_a_uk_local_length_number_in_the_subject_is_refused(start_gateway: GatewayFactory) -> None:
    gateway = await start_gateway(subject_address="fax@fax.localhost")
    message = simple_mail(to="fax@fax.localhost", subject="0114490987900: Invoice 42")
    reply = await transaction(gateway.port, "clinic@example.com", ["fax@fax.localhost"], message)
    assert reply.data is not None and reply.data[0] == 550, reply
    assert "international numbers" in reply.data[1]
    assert await gateway.submissions() == []
