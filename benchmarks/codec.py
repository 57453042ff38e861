"""T.4/T.6 codec speed and size: faxgate's modem.t4 against libtiff (through Pillow) on the same pages.

Run: .venv/bin/python -m benchmarks.codec [--repeat N]
Prints one line per page and scheme, then one JSON object with every figure and the ratios.
Times are CPU time (time.process_time) of the fastest of N runs, for both codecs alike: wall time on a
machine shared with other work says more about the other work than about the codec.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont, TiffImagePlugin

from modem.t4 import Scheme, decode_page, encode_page

Bitmap = npt.NDArray[np.uint8]
SCHEMES: tuple[Scheme, ...] = ("MH", "MR", "MMR")
WORDS = (
    "fax", "gateway", "invoice", "Total:", "1234.56", "Dear", "customer,", "please", "sign", "the", "attached",
    "ITU-T", "order",
)  # fmt: skip


def text_page(rows: int, lines: int, words_per_line: int, seed: int) -> Bitmap:
    """Rendered text: `lines` lines of 28 px text, 40 px apart, from the top margin down."""
    image = Image.new("L", (1728, rows), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=28)
    rng = np.random.default_rng(seed)
    for line in range(lines):
        text = " ".join(WORDS[i] for i in rng.integers(0, len(WORDS), words_per_line))
        draw.text((100, 150 + 40 * line), text, fill=0, font=font)
    return np.packbits(np.asarray(image) < 128, axis=1)


def halftone_page(rows: int) -> Bitmap:
    """A clustered-dot screen (period 6) of a grey ramp and a disc, as a rendered photo page."""
    y, x = np.mgrid[0:rows, 0:1728]
    grey = 0.15 + 0.7 * x / 1728 + 0.2 * (np.hypot(x - 864, y - rows / 2) < rows / 3)
    cell = np.hypot((x % 6) - 2.5, (y % 6) - 2.5) / np.hypot(2.5, 2.5)
    return np.packbits(cell < 1.0 - np.clip(grey, 0, 1), axis=1)


PAGES: dict[str, tuple[Bitmap, bool]] = {}  # name -> (bitmap, fine)


def pages() -> dict[str, tuple[Bitmap, bool]]:
    if not PAGES:
        PAGES["letter_fine"] = (text_page(2300, 20, 9, seed=1), True)
        PAGES["dense_text_fine"] = (text_page(2300, 52, 13, seed=2), True)
        PAGES["halftone_standard"] = (halftone_page(1145), False)
    return PAGES


def best_ms(action: Callable[[], object], repeat: int) -> float:
    """CPU milliseconds of the fastest of `repeat` runs: on a shared machine, the least disturbed one."""
    times = []
    for _ in range(repeat):
        start = time.process_time()
        action()
        times.append(time.process_time() - start)
    return min(times) * 1000


def libtiff_save(image: Image.Image, scheme: Scheme, fine: bool) -> bytes:
    out = io.BytesIO()
    info = {278: image.height} if scheme == "MMR" else {278: image.height, 292: int(scheme == "MR")}
    compression = "group4" if scheme == "MMR" else "group3"
    image.save(out, format="TIFF", compression=compression, tiffinfo=info, dpi=(204, 196 if fine else 98))
    return out.getvalue()


def libtiff_load(tiff: bytes) -> Bitmap:
    with Image.open(io.BytesIO(tiff)) as image:
        return np.packbits(np.asarray(image), axis=1)


def strip_bytes(tiff: bytes) -> int:
    with Image.open(io.BytesIO(tiff)) as image:
        assert isinstance(image, TiffImagePlugin.TiffImageFile)
        return int(sum(image.tag_v2[279]))


def measure(name: str, bitmap: Bitmap, fine: bool, scheme: Scheme, repeat: int) -> dict[str, float | int | str]:
    k = 4 if fine else 2
    encoded = encode_page(bitmap, scheme, k=k)
    decoded = decode_page(encoded.data, scheme)
    assert decoded.bad_rows == 0 and np.array_equal(decoded.bitmap, bitmap), f"{name} {scheme} round trip"
    # Pillow hands mode "1" bits to libtiff unchanged and libtiff codes 1 bits as black: fax-correct codes.
    image = Image.fromarray(np.unpackbits(bitmap, axis=1).astype(bool))
    tiff = libtiff_save(image, scheme, fine)
    assert np.array_equal(libtiff_load(tiff), bitmap), f"{name} {scheme} libtiff round trip"
    result: dict[str, float | int | str] = {
        "page": name,
        "scheme": scheme,
        "rows": int(bitmap.shape[0]),
        "encode_ms": best_ms(lambda: encode_page(bitmap, scheme, k=k), repeat),
        "decode_ms": best_ms(lambda: decode_page(encoded.data, scheme), repeat),
        "libtiff_encode_ms": best_ms(lambda: libtiff_save(image, scheme, fine), repeat),
        "libtiff_decode_ms": best_ms(lambda: libtiff_load(tiff), repeat),
        "bytes": len(encoded.data),
        "libtiff_bytes": strip_bytes(tiff),
    }
    for kind in ("encode", "decode"):
        result[f"{kind}_pages_per_s"] = 1000 / float(result[f"{kind}_ms"])
        result[f"{kind}_time_vs_libtiff"] = float(result[f"{kind}_ms"]) / float(result[f"libtiff_{kind}_ms"])
    result["size_vs_libtiff"] = int(result["bytes"]) / int(result["libtiff_bytes"])
    return result


def main() -> None:
    """Measure every page in every scheme and print the table and the JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs per figure; the fastest counts")
    args = parser.parse_args()
    results = []
    for name, (bitmap, fine) in pages().items():
        for scheme in SCHEMES:
            row = measure(name, bitmap, fine, scheme, args.repeat)
            results.append(row)
            print(
                f"{name:18} {scheme:3}  encode {row['encode_ms']:6.1f} ms (libtiff {row['libtiff_encode_ms']:5.1f})"
                f"  decode {row['decode_ms']:6.1f} ms (libtiff {row['libtiff_decode_ms']:5.1f})"
                f"  {row['bytes']:7} bytes (libtiff {row['libtiff_bytes']:7})"
            )
    summary = {
        f"{kind}_time_vs_libtiff_median": float(np.median([float(r[f"{kind}_time_vs_libtiff"]) for r in results]))
        for kind in ("encode", "decode")
    }
    summary["size_vs_libtiff_max"] = max(float(r["size_vs_libtiff"]) for r in results)
    print(json.dumps({"results": results, "summary": summary}, separators=(",", ":")))


if __name__ == "__main__":
    main()
