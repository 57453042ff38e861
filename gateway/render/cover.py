"""Cover pages: HTML templates (shipped defaults, then a user folder) filled with FAX_COVERPAGE_INFO fields."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from markupsafe import Markup, escape

from gateway.render.errors import RenderError, RenderErrorCode
from gateway.render.options import RenderOptions
from modem.faxtiff import PackedBitmap

SHIPPED_TEMPLATES = Path(__file__).with_name("templates") / "cover"

# The fields of Windows' FAX_COVERPAGE_INFO, snake_cased; templates see each as a variable.
COVER_FIELDS: tuple[str, ...] = (
    "recipient_name", "recipient_fax_number", "recipient_company", "recipient_street_address",
    "recipient_city", "recipient_state", "recipient_zip", "recipient_country", "recipient_title",
    "recipient_department", "recipient_office_location", "recipient_home_phone", "recipient_office_phone",
    "sender_name", "sender_fax_number", "sender_company", "sender_address", "sender_title",
    "sender_department", "sender_office_location", "sender_home_phone", "sender_office_phone",
    "sender_email", "note", "subject", "time_sent", "page_count",
)
_NAME = re.compile(r"^[\w][\w.-]{0,80}$")


def template_names(user_dirs: Sequence[Path] = ()) -> list[str]:
    """Names a sender can choose: user templates first, then the shipped ones."""
    names: list[str] = []
    for folder in (*user_dirs, SHIPPED_TEMPLATES):
        if folder.is_dir():
            names.extend(p.stem for p in sorted(folder.glob("*.html")) if p.stem not in names)
    return names


def find_template(template: str, user_dirs: Sequence[Path] = ()) -> Path:
    """A template by name (user folders win over shipped ones) or by path to an .html file."""
    candidate = Path(template)
    if candidate.suffix == ".html" and candidate.is_file():
        return candidate
    name = candidate.stem if candidate.suffix == ".html" else template
    if _NAME.match(name):
        for folder in (*user_dirs, SHIPPED_TEMPLATES):
            path = folder / f"{name}.html"
            if path.is_file():
                return path
    available = ", ".join(template_names(user_dirs)) or "none"
    raise RenderError(
        RenderErrorCode.COVER_TEMPLATE_NOT_FOUND,
        f"There is no cover page template called {template!r}; available: {available}.",
    )


def unknown_fields(fields: Mapping[str, str]) -> list[str]:
    """Field names that are not cover-page fields (to reject typos at submission)."""
    return sorted(set(fields) - set(COVER_FIELDS))


def _nl2br(value: object) -> Markup:
    """Keep the line breaks of a multi-line note."""
    return Markup("<br>").join(escape(str(value)).splitlines())


def fill_template(path: Path, fields: Mapping[str, str]) -> str:
    """The template's HTML with the fields filled in (HTML-escaped; missing fields are empty)."""
    import jinja2

    environment = jinja2.Environment(autoescape=True, undefined=jinja2.ChainableUndefined)
    environment.filters["nl2br"] = _nl2br
    try:
        template = environment.from_string(path.read_text(encoding="utf-8"))
        context = {name: "" for name in COVER_FIELDS}
        context.update(fields)
        return template.render(context)
    except (jinja2.TemplateError, UnicodeDecodeError) as exc:
        raise RenderError(
            RenderErrorCode.COVER_TEMPLATE_INVALID, f"The cover page template {path.name} has an error: {exc}"
        ) from exc


def render_cover_page(template: str, fields: Mapping[str, str], options: RenderOptions) -> list[PackedBitmap]:
    """The cover page(s) as packed bitmaps at the job's geometry."""
    return list(iter_cover_pages(template, fields, options))


def iter_cover_pages(template: str, fields: Mapping[str, str], options: RenderOptions) -> Iterator[PackedBitmap]:
    """Stream the cover page(s); a long note may run onto more pages."""
    from gateway.render.markup import html_to_pdf
    from gateway.render.pdf import render_pdf

    markup = fill_template(find_template(template, options.cover_template_dirs), fields)
    yield from render_pdf(html_to_pdf([markup], options), options, options.max_pages)
