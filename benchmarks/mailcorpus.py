"""Mail-corpus page gallery: page 1 of every corpus message as a thumbnail, all in one HTML file to look at.

    .venv/bin/python -m benchmarks.mailcorpus [--out DIR]

Each message of tests/fixtures/mail/corpus goes through the intake parser (body as a page, no cover) and the
render path in this process; the gallery (DIR/index.html, PNG thumbnails beside it; default benchmarks/out/
mailcorpus) shows page 1 with the header band stamped as at send time, the page count or the refusal. It also
times the HTML bodies through the mail engine (WeasyPrint) and through MuPDF's HTML engine (the one before it)
and prints pages per CPU-second of each; the last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import html
import json
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from gateway.config import parse_config
from gateway.intake.mime import MailError, parse_fax_mail
from gateway.render import RenderError, RenderOptions, render_documents
from gateway.render.header import HeaderFields, stamp_header
from gateway.render.htmlmail import mail_html_to_pdf
from gateway.render.markup import decode_text, html_to_pdf
from gateway.render.pdf import render_pdf
from gateway.render.sniff import sniff
from modem.faxtiff import read_fax_tiff

CORPUS = Path(__file__).parents[1] / "tests" / "fixtures" / "mail" / "corpus"
THUMB_WIDTH = 300
_X_DPI = 204.0  # 1728 pixels across the paper


def _thumbnail(bitmap: np.ndarray, yres: float, path: Path) -> None:
    """A fax page (packed bits, 1 = black) as a small grey PNG with the page's true proportions."""
    page = np.unpackbits(bitmap, axis=1)
    image = Image.fromarray(((1 - page) * 255).astype(np.uint8), "L")
    height = round(image.height * THUMB_WIDTH / image.width * _X_DPI / yres)
    image.resize((THUMB_WIDTH, height), Image.Resampling.BOX).save(path)


def _one(entry: dict[str, Any], out: Path, config: Any, options: RenderOptions) -> dict[str, Any]:
    """Render one corpus message; its outcome, pages and CPU time, with page 1 saved as a thumbnail."""
    name = entry["file"]
    started = time.process_time()
    row: dict[str, Any] = {"file": name, "expect": entry["expect"], "thumb": None}
    try:
        mail = parse_fax_mail((CORPUS / name).read_bytes(), config)
        with tempfile.TemporaryDirectory() as folder:
            result = render_documents(list(mail.documents), Path(folder) / "out.tif", options)
            first = next(iter(read_fax_tiff(Path(folder) / "out.tif")))
        fields = HeaderFields(datetime(2026, 3, 4, 9, 5), "+1 555 0100", "+1 555 0199", 1, result.pages)
        thumb = out / f"{name}.png"
        _thumbnail(stamp_header(first.bitmap, fields, fine=first.fine), first.yres, thumb)
        row.update(outcome=f"pages {result.pages}", thumb=thumb.name, pages=result.pages,
                   kinds=[document.kind for document in result.documents])
    except (MailError, RenderError) as exc:
        row.update(outcome=f"refused: {getattr(exc, 'reason', None) or exc}", pages=0, kinds=[])
    row["cpu_s"] = time.process_time() - started
    return row


def _engines(config: Any, options: RenderOptions) -> dict[str, Any]:
    """Pages per CPU-second of the HTML bodies through each engine (laid out and rasterised to fax pages)."""
    figures: dict[str, Any] = {}
    drop = parse_config({"smtp": {"body": "page", "cover_page": False, "unfaxable_attachments": "drop"}})
    sources = []
    for entry in json.loads((CORPUS / "MANIFEST.json").read_text())["messages"]:
        try:
            mail = parse_fax_mail((CORPUS / entry["file"]).read_bytes(), drop)
        except MailError:
            continue
        for document in mail.documents:
            found = sniff(document.data or b"", document.content_type)
            if found is not None and found.kind == "html" and document.data:
                sources.append((entry["file"], decode_text(document.data, document.content_type), document.related))
    mail_html_to_pdf("<p>warm</p>", options)  # imports and font set-up, paid once per render worker
    html_to_pdf(["<p>warm</p>"], options)
    for engine in ("weasyprint", "mupdf"):
        pages = failed = 0
        cpu = 0.0
        for _, source, related in sources:
            started = time.process_time()
            try:
                pdf = (mail_html_to_pdf(source, options, related) if engine == "weasyprint"
                       else html_to_pdf([source], options))
                pages += sum(1 for _ in render_pdf(pdf, options, options.max_pages))
            except RenderError:
                failed += 1
            cpu += time.process_time() - started
        figures[engine] = {"documents": len(sources), "pages": pages, "failed": failed, "cpu_s": round(cpu, 2),
                           "pages_per_cpu_s": round(pages / cpu, 2) if cpu else None}
    return figures


def _gallery(rows: list[dict[str, Any]]) -> str:
    """The one HTML page with every message's first page."""
    cells = []
    for row in rows:
        picture = (f'<img src="{html.escape(row["thumb"])}" alt="">' if row["thumb"]
                   else '<div class="none">no pages</div>')
        cells.append(f'<figure>{picture}<figcaption><b>{html.escape(row["file"])}</b><br>'
                     f'{html.escape(row["outcome"][:160])}<br><small>{", ".join(row["kinds"])} · '
                     f'{row["cpu_s"]:.2f} s CPU</small></figcaption></figure>')
    return ("<!doctype html><meta charset='utf-8'><title>faxgate mail corpus, page 1</title><style>"
            "body{font:12px sans-serif;margin:8px} figure{display:inline-block;vertical-align:top;width:300px;"
            "margin:6px} img{border:1px solid #888;width:300px} .none{width:300px;height:200px;border:1px dashed "
            "#888;display:flex;align-items:center;justify-content:center}</style>"
            f"<h1>Mail corpus: page 1 of {len(rows)} messages</h1>" + "".join(cells))


def main() -> None:
    """Write the gallery and print the engine figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "mailcorpus")
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    config = parse_config({"smtp": {"body": "page", "cover_page": False}})
    options = RenderOptions()
    rows = [_one(entry, out, config, options)
            for entry in json.loads((CORPUS / "MANIFEST.json").read_text())["messages"]]
    (out / "index.html").write_text(_gallery(rows), encoding="utf-8")
    for row in rows:
        print(f"{row['file']:26s} {row['outcome'][:70]:70s} {row['cpu_s']:6.2f} s")
    figures = _engines(config, options)
    for engine, numbers in figures.items():
        print(f"{engine:10s} {numbers}")
    print(json.dumps({"gallery": str(out / "index.html"), "messages": len(rows), "engines": figures}))


if __name__ == "__main__":
    main()
