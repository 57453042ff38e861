"""`faxgate render`: documents to a fax TIFF from the command line, with the same code the server uses."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import click

from gateway.render.errors import RenderError


@click.command("render")
@click.argument("inputs", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="TIFF Class F file to write.")
@click.option("--resolution", type=click.Choice(["fine", "standard"]), default="fine", show_default=True)
@click.option("--paper", type=click.Choice(["a4", "letter"]), default="a4", show_default=True)
@click.option("--compression", type=click.Choice(["g4", "g3_1d", "g3_2d"]), default="g4", show_default=True)
@click.option("--cover", "cover", metavar="TEMPLATE", help="Cover page template name or .html path.")
@click.option("--cover-dir", "cover_dirs", multiple=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder of user cover templates (searched before the shipped ones).")
@click.option("--field", "fields", multiple=True, metavar="KEY=VALUE", help="Cover page field, repeatable.")
@click.option("--max-pages", type=int, default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def render(
    inputs: tuple[Path, ...],
    output: Path,
    resolution: str,
    paper: str,
    compression: str,
    cover: str | None,
    cover_dirs: tuple[Path, ...],
    fields: tuple[str, ...],
    max_pages: int,
    as_json: bool,
) -> None:
    """Render INPUT files (PDF, images, TIFF, text, HTML, Office) into one fax TIFF."""
    from gateway.render.cover import COVER_FIELDS, unknown_fields
    from gateway.render.options import CoverRequest, InputDocument, RenderOptions
    from gateway.render.pipeline import keep_page_buffers, render_documents

    parsed: dict[str, str] = {}
    for item in fields:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--field")
        parsed[key.strip()] = value
    bad = unknown_fields(parsed)
    if bad:
        raise click.BadParameter(f"unknown field(s) {', '.join(bad)}; known: {', '.join(COVER_FIELDS)}",
                                 param_hint="--field")
    if parsed and not cover:
        raise click.BadParameter("--field needs --cover", param_hint="--field")
    if not inputs and not cover:
        raise click.UsageError("give at least one INPUT or a --cover")
    options = RenderOptions(
        resolution=resolution,  # type: ignore[arg-type]
        paper=paper,  # type: ignore[arg-type]
        compression=compression,  # type: ignore[arg-type]
        max_pages=max_pages,
        cover=CoverRequest(cover, parsed) if cover else None,
        cover_template_dirs=cover_dirs,
    )
    documents = [InputDocument(path=path, filename=path.name) for path in inputs]
    keep_page_buffers()
    try:
        result = render_documents(documents, output, options)
    except RenderError as exc:
        if as_json:
            click.echo(json.dumps({"error": exc.code.value, "reason": exc.reason, "document": exc.document}))
        else:
            click.echo(f"faxgate render: {exc}", err=True)
        sys.exit(2)
    if as_json:
        payload = asdict(result)
        payload["path"] = str(result.path)
        click.echo(json.dumps(payload))
    else:
        click.echo(f"{result.path}: {result.pages} page(s), {result.paper}, "
                   f"{'fine' if result.fine else 'standard'}, {result.bytes / 1024:.1f} KiB")
