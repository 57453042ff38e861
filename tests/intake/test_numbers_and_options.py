"""The number policy (E.164, classes, per-principal rules), address forms, option syntax and the TNEF reader."""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest

from gateway.config import ConfigError, parse_config
from gateway.config.numbers import NumbersSection
from gateway.config.smtp import SmtpSection
from gateway.enums import AccessRights, Priority, ScheduleType
from gateway.intake.addresses import AddressError, numbers_in_subject, read_fax_address
from gateway.intake.options import FaxOptions, OptionError, check_rights, read_options
from gateway.intake.tnef import TnefError, read_tnef
from gateway.numbers import NumberError, NumberForbidden, NumberPolicy
from tests.fixtures.mail.build import _tnef_attribute, winmail_dat


@pytest.mark.parametrize(("written", "number", "classes"), [
    ("2015550123", "+12015550123", {"domestic"}),
    ("+1 (201) 555-0123", "+12015550123", {"domestic"}),
    ("1-800-555-0199", "+18005550199", {"toll_free"}),
    ("5550200", "5550200", {"local"}),
    ("+44 20 7946 0018", "+442079460018", {"international"}),
    ("0044 20 7946 0018", "+442079460018", {"international"}),
    ("+44 909 879 0000", "+449098790000", {"international", "premium"}),
    ("+1 900 555 0199", "+19005550199", {"premium"}),
    ("911", "911", {"emergency"}),
    ("411", "411", {"short"}),
])
def test_numbers_are_normalised_and_classified(written: str, number: str, classes: set[str]) -> None:
    destination = NumberPolicy(NumbersSection()).parse(written)
    assert destination.number == number
    assert destination.classes == classes


def test_default_country_changes_what_a_national_number_means() -> None:
    german = NumberPolicy(NumbersSection(default_country="DE"))
    assert german.parse("030 123456").number == "+4930123456"
    assert german.parse("112").classes == {"emergency"}
    assert "international" in german.parse("+1 201 555 0123").classes


@pytest.mark.parametrize("written", ["123", "+999 1234", "12345678901234", "five", ""])
def test_invalid_numbers_have_a_reason(written: str) -> None:
    with pytest.raises(NumberError) as caught:
        NumberPolicy(NumbersSection()).parse(written)
    assert not isinstance(caught.value, NumberForbidden)
    assert "not a" in caught.value.reason


def test_blocked_classes_allow_deny_and_principal_destinations() -> None:
    policy = NumberPolicy(NumbersSection(deny=["+1201555*"], allow=["+4420794600*"]))
    with pytest.raises(NumberForbidden, match="list of numbers that may not be dialled"):
        policy.resolve("2015550123")
    assert policy.resolve("+44 20 7946 0018").number == "+442079460018"  # allowed by pattern
    with pytest.raises(NumberForbidden, match="international numbers"):
        policy.resolve("+33 1 23 45 67 89")
    assert policy.resolve("+33 1 23 45 67 89", {"international"}).number == "+33123456789"
    with pytest.raises(NumberForbidden, match="premium-rate"):
        policy.resolve("+44 909 879 0000", {"international"})


def test_unknown_class_names_and_countries_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown number class 'premuim'"):
        parse_config({"numbers": {"blocked": ["premuim"]}})
    with pytest.raises(ConfigError, match="unknown country code"):
        parse_config({"numbers": {"default_country": "XX"}})
    with pytest.raises(ConfigError, match="unknown number class"):
        parse_config({"security": {"users": [{"name": "a", "destinations": ["everything"]}]}})


def test_address_forms() -> None:
    smtp = SmtpSection(subject_address="Fax@Fax.Localhost")
    assert read_fax_address("5551234@FAX.localhost", smtp) is not None
    name_form = read_fax_address("jane.doe@201-555-0123.fax", smtp)
    assert name_form is not None and (name_form.written_number, name_form.name) == ("201-555-0123", "jane doe")
    subject_form = read_fax_address("fax@fax.localhost", smtp)
    assert subject_form is not None and subject_form.form == "subject"
    assert read_fax_address("someone@example.org", smtp) is None
    with pytest.raises(AddressError, match="write the number before the @"):
        read_fax_address("jane@fax.localhost", smtp)
    assert read_fax_address("jane@5551234.fax", SmtpSection(number_domain_suffix="")) is None
    assert numbers_in_subject("201-555-0123; +44 20 7946 0018: Invoice") == (
        ["201-555-0123", "+44 20 7946 0018"], "Invoice")
    assert numbers_in_subject("Invoice 42") == ([], "Invoice 42")


def _mail(subject: str, **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    return message


def test_headers_then_subject_then_body_line_each_override() -> None:
    message = _mail("Report [fax: standard, cover=urgent]", X_Fax_Resolution="fine", X_Fax_Priority="low",
                    X_Fax_Billing_Code="DEPT 7")
    options, sources = read_options(message, "fax: high", now=datetime.now(UTC), zone=ZoneInfo("UTC"),
                                    in_subject=True, in_body=True)
    assert options.resolution == "standard" and options.cover_template == "urgent" and options.cover is True
    assert options.priority == Priority.HIGH and options.billing_code == "DEPT 7"
    assert sources.subject == "Report" and sources.body_line_used
    off, _ = read_options(message, "fax: high", now=datetime.now(UTC), zone=ZoneInfo("UTC"), in_subject=False,
                          in_body=False)
    assert off.resolution == "fine" and off.priority == Priority.LOW


@pytest.mark.parametrize(("subject", "words"), [
    ("[fax: cover=../../etc/passwd]", "not a cover page name"),
    ("[fax: priority=extreme]", "expected low, normal or high"),
    ("[fax: at=tomorrow-ish]", "send at"),
    ("[fax: receipt=maybe]", "expected yes or no"),
    ("[fax: billing=a;b]", "unknown fax option 'b'"),
])
def test_bad_options_are_refused_with_the_reason(subject: str, words: str) -> None:
    with pytest.raises(OptionError, match=words):
        read_options(_mail(subject), None, now=datetime.now(UTC), zone=ZoneInfo("UTC"), in_subject=True,
                     in_body=True)


def test_rights_cap_priority_and_pick_the_default() -> None:
    low_only = AccessRights.SUBMIT_LOW
    assert check_rights(FaxOptions(), low_only).priority == Priority.LOW
    assert check_rights(FaxOptions(), AccessRights.SUBMIT_NORMAL).priority == Priority.NORMAL
    with pytest.raises(OptionError, match="normal priority"):
        check_rights(FaxOptions(priority=Priority.NORMAL), low_only)
    round_trip = FaxOptions(priority=Priority.HIGH, schedule=ScheduleType.SPECIFIC_TIME, send_at=1.5e9)
    assert FaxOptions.from_json(round_trip.to_json()) == round_trip


def test_tnef_reader_takes_long_names_mime_types_and_body() -> None:
    content = read_tnef(winmail_dat([("A long file name.pdf", "application/pdf", b"%PDF-1.4 x")], "Body text"))
    assert content.body_text == "Body text"
    [attachment] = content.attachments
    assert (attachment.filename, attachment.mime_type, attachment.data) == (
        "A long file name.pdf", "application/pdf", b"%PDF-1.4 x")


def test_tnef_reader_refuses_damage() -> None:
    good = winmail_dat([("a.pdf", "application/pdf", b"%PDF-1.4 x")], "Body")
    with pytest.raises(TnefError, match="not a TNEF stream"):
        read_tnef(b"PK\x03\x04" + good)
    with pytest.raises(TnefError, match="cut short"):
        read_tnef(good[:-7])
    start = struct.pack("<IH", 0x223E9F78, 0) + _tnef_attribute(2, 0x9002, 6, bytes(14))
    with pytest.raises(TnefError, match="unknown MAPI property type"):
        read_tnef(start + _tnef_attribute(2, 0x9005, 6, struct.pack("<IHH", 1, 0x0FFF, 0x3707)))
    with pytest.raises(TnefError, match="cut short"):
        read_tnef(start + _tnef_attribute(2, 0x9005, 6, struct.pack("<IHHII", 1, 0x0102, 0x3701, 1, 999)))
