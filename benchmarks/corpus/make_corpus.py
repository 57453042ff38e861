"""Build the render benchmark corpus: generated documents plus real PDFs from Debian's /usr/share/doc.

Everything is generated deterministically (fixed seeds) so two runs compare the same pages.
"""

from __future__ import annotations

import gzip
import io
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pymupdf
from PIL import Image

REAL_PDFS = {
    "real_bzip2_manual.pdf": "/usr/share/doc/bzip2/manual.pdf.gz",
    "real_crc_doc.pdf": "/usr/share/doc/zlib1g-dev/crc-doc.1.0.pdf.gz",
    "real_fontconfig.pdf": "/usr/share/doc/fontconfig/fontconfig-user.pdf.gz",
}

WORDS = (
    "fax", "gateway", "transmission", "page", "receiver", "sender", "modem", "line", "resolution",
    "document", "invoice", "contract", "signature", "delivery", "report", "status", "retry", "schedule",
    "discount", "window", "archive", "routing", "inbound", "outbound", "header", "cover", "subject",
    "recipient", "company", "department", "telephone", "number", "quality", "legibility",
)


def _paragraph(rng: np.random.Generator, words: int) -> str:
    text = " ".join(rng.choice(WORDS, size=words))
    return text[0].upper() + text[1:] + "."


def text_pdf(path: Path, pages: int = 20) -> None:
    """Text-heavy A4 pages: 10 pt serif body, headings, 7 pt italic notes, 9 pt tables, monospace listings."""
    rng = np.random.default_rng(20)
    parts = ["<html><body>"]
    for section in range(pages * 2):
        parts.append(f"<h2>Section {section + 1}: {_paragraph(rng, 4)}</h2>")
        for _ in range(3):
            parts.append(f"<p style='font-size:10pt'>{_paragraph(rng, 60)}</p>")
        parts.append(f"<p style='font-size:7pt; font-style:italic; color:#555'>Note: {_paragraph(rng, 30)}</p>")
        rows = "".join(f"<tr><td>{rng.choice(WORDS)}</td><td>{rng.integers(1, 9999)}</td>"
                       f"<td>{rng.choice(WORDS)}</td></tr>" for _ in range(5))
        parts.append(f"<table style='font-size:9pt'>{rows}</table>")
        parts.append(f"<pre style='font-size:8pt'>call_{section}(page, resolution=FINE)  # {_paragraph(rng, 6)}</pre>")
    parts.append("</body></html>")
    story = pymupdf.Story("".join(parts))
    writer = pymupdf.DocumentWriter(str(path))
    rect = pymupdf.paper_rect("a4")
    more, count = True, 0
    while more and count < pages:
        device = writer.begin_page(rect)
        more, _ = story.place(pymupdf.Rect(54, 54, rect.x1 - 54, rect.y1 - 54))
        story.draw(device)
        writer.end_page()
        count += 1
    writer.close()


def photo_image(seed: int, width: int = 1600, height: int = 1100) -> Image.Image:
    """A synthetic 'photo': 1/f noise landscape with a sky gradient and a few hard-edged objects."""
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    amplitude = 1.0 / np.maximum(np.hypot(fx, fy), 1.0 / max(width, height)) ** 1.1
    noise = np.fft.irfft2(amplitude * np.exp(2j * np.pi * rng.random(amplitude.shape)), s=(height, width))
    noise = (noise - noise.min()) / (noise.max() - noise.min())
    sky = np.linspace(0.95, 0.55, height)[:, None]
    ground = np.clip(np.arange(height)[:, None] / height * 1.6 - 0.5, 0, 1)
    lum = sky * (1 - ground) + noise * ground
    channels = np.stack([lum * 0.9, lum, lum * 0.8 + 0.1], axis=-1)
    image = Image.fromarray((np.clip(channels, 0, 1) * 255).astype(np.uint8), "RGB")
    pixels = np.asarray(image).copy()
    for _ in range(4):
        x, y = int(rng.integers(0, width - 200)), int(rng.integers(0, height - 200))
        pixels[y : y + 150, x : x + 120] = rng.integers(0, 255, size=3)
    return Image.fromarray(pixels)


def photo_pdf(path: Path, pages: int = 10) -> None:
    """Letter pages with a large photo, a vector bar chart, hairlines, a grey ramp and 6 pt print."""
    doc = pymupdf.open()
    for number in range(pages):
        page = doc.new_page(width=612, height=792)
        jpeg = io.BytesIO()
        photo_image(100 + number).save(jpeg, "JPEG", quality=85)
        page.insert_image(pymupdf.Rect(50, 50, 562, 402), stream=jpeg.getvalue())
        for bar in range(8):
            height = 40 + 17 * ((bar * 7 + number) % 9)
            page.draw_rect(pymupdf.Rect(70 + bar * 55, 640 - height, 110 + bar * 55, 640),
                           color=(0, 0, 0), fill=(0.9 - bar * 0.1, 0.4, bar * 0.1), width=0.5)
        for ring in range(10):
            page.draw_circle((480, 520), 10 + ring * 6, color=(0.2, 0.3, 0.9), width=0.4)
        for line in range(12):
            page.draw_line((60, 660 + line * 3), (552, 660 + line * 3), color=(0, 0, 0), width=0.25)
        for step in range(16):
            shade = step / 15
            page.draw_rect(pymupdf.Rect(60 + step * 30, 705, 90 + step * 30, 725), color=None, fill=(shade,) * 3)
        page.insert_text((60, 745), f"Figure {number + 1}: fine print at 6 pt. " * 4, fontsize=6)
        page.insert_text((60, 430), f"Photo page {number + 1}", fontsize=14)
    doc.save(path)


def images(folder: Path) -> list[Path]:
    """A photo JPEG, a bar chart PNG and a 'scanned' text page JPEG."""
    photo = folder / "synth_photo.jpg"
    photo_image(7).save(photo, "JPEG", quality=88, dpi=(150, 150))
    chart = np.full((600, 900, 3), 255, np.uint8)
    for bar, color in enumerate([(230, 120, 30), (40, 110, 200), (250, 200, 60), (90, 170, 90)]):
        chart[550 - 100 * (bar + 1) : 550, 80 + bar * 200 : 220 + bar * 200] = color
    chart_path = folder / "chart.png"
    Image.fromarray(chart).save(chart_path, dpi=(100, 100))
    doc = pymupdf.open()
    page = doc.new_page()
    rng = np.random.default_rng(3)
    for line in range(45):
        page.insert_text((60, 70 + line * 16), _paragraph(rng, 12)[:90], fontsize=10)
    pix = page.get_pixmap(dpi=150, colorspace=pymupdf.csGRAY)
    scan = np.frombuffer(pix.samples, np.uint8).reshape(pix.height, pix.width).astype(np.float64)
    scan = np.clip(scan * 0.85 + 25 + rng.normal(0, 8, scan.shape), 0, 255).astype(np.uint8)
    scan_path = folder / "scan_page.jpg"
    Image.fromarray(scan).rotate(0.7, fillcolor=235).save(scan_path, quality=80, dpi=(150, 150))
    return [photo, chart_path, scan_path]


def mail_bodies(folder: Path) -> list[Path]:
    """A plain-text mail (wrapped, with one long line) and an HTML mail (dark header, table, grey disclaimer)."""
    rng = np.random.default_rng(5)
    text = folder / "body.txt"
    lines = ["Hello,", ""] + [_paragraph(rng, 11)[:72] for _ in range(120)] + ["x" * 300, "", "Regards"]
    text.write_text("\n".join(lines), encoding="utf-8")
    html = folder / "body.html"
    rows = "".join(f"<tr><td>{rng.choice(WORDS)}</td><td>{rng.integers(10, 999)}</td></tr>" for _ in range(20))
    html.write_text(
        "<html><body><div style='background:#223; color:white; padding:8pt; font-size:16pt'>Monthly statement</div>"
        + "".join(f"<p>{_paragraph(rng, 50)}</p>" for _ in range(10))
        + f"<table>{rows}</table><p style='font-size:8pt; color:#888'>{_paragraph(rng, 60)}</p></body></html>",
        encoding="utf-8",
    )
    return [text, html]


def docx(folder: Path) -> Path | None:
    """A docx with headings, paragraphs and a table, made by LibreOffice from HTML (None without it)."""
    soffice = shutil.which("soffice")
    if soffice is None:
        return None
    rng = np.random.default_rng(9)
    source = folder / "letter.html"
    rows = "".join(f"<tr><td>{rng.choice(WORDS)}</td><td>{rng.integers(1, 99)}</td></tr>" for _ in range(15))
    parts = [f"<h1>Part {n}</h1>" + "".join(f"<p>{_paragraph(rng, 70)}</p>" for _ in range(6))
             + f"<table border=1>{rows}</table>" for n in range(4)]
    source.write_text("<html><body>" + "".join(parts) + "</body></html>")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([soffice, "--headless", f"-env:UserInstallation={Path(profile).as_uri()}", "--convert-to",
                        "docx:MS Word 2007 XML", "--outdir", str(folder), str(source)],
                       check=True, capture_output=True, timeout=300)
    source.unlink()
    return folder / "letter.docx"


def build_corpus(folder: Path) -> dict[str, list[Path]]:
    """Write the corpus into `folder` (reused when already there); returns the files by category."""
    folder.mkdir(parents=True, exist_ok=True)
    text = folder / "text20.pdf"
    if not text.exists():
        text_pdf(text)
    photo = folder / "photo10.pdf"
    if not photo.exists():
        photo_pdf(photo)
    real = []
    for name, source in REAL_PDFS.items():
        target = folder / name
        if not target.exists() and Path(source).exists():
            target.write_bytes(gzip.decompress(Path(source).read_bytes()))
        if target.exists():
            real.append(target)
    office = folder / "letter.docx"
    if not office.exists():
        made = docx(folder)
        office = made if made else office
    return {
        "text_pdf": [text],
        "real_pdf": real,
        "photo_pdf": [photo],
        "images": images(folder),
        "mail": mail_bodies(folder),
        "office": [office] if office.exists() else [],
    }


if __name__ == "__main__":
    import sys

    for category, paths in build_corpus(Path(sys.argv[1] if len(sys.argv) > 1 else "corpus-out")).items():
        print(category, [p.name for p in paths])
