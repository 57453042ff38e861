"""Untrusted strings (remote CSID/TSID, caller ID, subjects, file names) made safe for logs, headers and paths."""

from __future__ import annotations

import re
import unicodedata

_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def safe_text(value: object, limit: int = 80) -> str:
    """Printable text on one line: control and format characters become spaces, length is capped with an ellipsis."""
    text = "" if value is None else str(value)
    cleaned = "".join(
        " " if unicodedata.category(ch)[0] in ("C", "Z") and ch != " " else ch for ch in text
    )
    cleaned = " ".join(cleaned.split())
    if len(cleaned) > limit:
        cleaned = cleaned[: max(0, limit - 1)] + "…"
    return cleaned


def safe_filename_part(value: object, limit: int = 40, fallback: str = "unknown") -> str:
    """A file-name component from an untrusted string: only [A-Za-z0-9._+-], no separators, no leading dot."""
    text = unicodedata.normalize("NFKD", "" if value is None else str(value))
    text = _FILENAME_UNSAFE.sub("_", text.encode("ascii", "ignore").decode("ascii")).strip("._")
    return text[:limit] or fallback
