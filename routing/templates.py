"""Administrator templates such as "{received:%Y%m%d}-{caller_id}" filled with a fax's fields, made safe for their use.

Templates come from the configuration; the values come from the remote side and are never trusted: each is
cleaned for where it goes (one header line, a body line, or one file-name component) before it is inserted.
"""

from __future__ import annotations

import re
import string
from datetime import tzinfo
from typing import Any, Literal

from gateway.textsafe import safe_filename_part, safe_text
from routing.fax import ReceivedFax

Purpose = Literal["line", "text", "filename"]
FIELDS = (
    "id", "device", "caller_id", "caller_name", "did", "tsid", "csid", "subaddress", "pages", "received",
    "sender", "status",
)
_FORMATTER = string.Formatter()
_DOTS = re.compile(r"\.{2,}")


class TemplateError(ValueError):
    """A template names an unknown field or is malformed."""


def check_template(template: str) -> None:
    """Raise TemplateError unless every placeholder is a known plain field name."""
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise TemplateError(f"bad template {template!r}: {exc}") from None
    for _literal, field, _spec, conversion in parsed:
        if field is None:
            continue
        if field not in FIELDS or conversion:
            raise TemplateError(f"unknown field {{{field}}} in template {template!r}; known: {', '.join(FIELDS)}")


def _name_part(value: object, limit: int, fallback: str) -> str:
    """A file-name piece: safe characters only, and no ".." even inside a name."""
    return _DOTS.sub(".", safe_filename_part(value, limit, fallback))


def _clean(value: object, purpose: Purpose) -> str:
    return _name_part(value, 40, "none") if purpose == "filename" else safe_text(value, 100)


def _values(fax: ReceivedFax, zone: tzinfo, purpose: Purpose) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": fax.id,
        "device": fax.device,
        "caller_id": fax.caller_id,
        "caller_name": fax.caller_name,
        "did": fax.did,
        "tsid": fax.tsid,
        "csid": fax.csid,
        "subaddress": fax.subaddress,
        "pages": fax.pages,
        "sender": fax.sender,
        "status": "partial" if fax.partial else "complete",
    }
    cleaned: dict[str, Any] = {
        key: value if isinstance(value, int) else _clean(value, purpose) for key, value in raw.items()
    }
    cleaned["received"] = fax.received(zone)
    return cleaned


def render(template: str, fax: ReceivedFax, zone: tzinfo, purpose: Purpose) -> str:
    """Fill a checked template; the result fits its purpose (no line breaks in a line, no separators in a name)."""
    check_template(template)
    text = template.format_map(_values(fax, zone, purpose))
    if purpose == "line":
        return safe_text(text, 200)
    if purpose == "filename":
        return _name_part(text, 150, f"fax-{fax.id}")
    return text
