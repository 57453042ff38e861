"""Render benchmark: faxgate against Ghostscript's tiffg3/tiffg4 devices (what HylaFAX uses), same files, same run.

    .venv/bin/python -m benchmarks.render [--corpus DIR] [--runs N]

Reports pages/s in a warm render worker and as a whole command (process start included), KiB per page of
CCITT strip data (what goes on the line), legibility agreement with Ghostscript, and worker memory. The last
line is one JSON object with the figures and the ratios. On a shared machine wall-clock rates swing with the
load, so every rate is also given per CPU-second of the process doing the work (warm worker: its own CPU
time for the job; commands: the child's user+system time), which is the comparison to trust.
Ghostscript runs with HylaFAX's arguments plus -g1728xROWS -dPDFFitPage so its pages are 1728 px wide too;
legibility is compared against a Ghostscript rendering at exactly faxgate's scale.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.corpus.make_corpus import build_corpus
from gateway.render import InputDocument, RenderOptions, RenderPool
from modem.faxtiff import FaxTiffWriter, read_fax_tiff
from tests.render.helpers import agreement as ink_agreement

FAXGATE = [sys.executable, "-m", "gateway.cli", "render"] if not Path(sys.prefix, "bin", "faxgate").exists() else [
    str(Path(sys.prefix, "bin", "faxgate")), "render"]
GS_ARGS = ["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-dFIXEDMEDIA", "-dPDFFitPage", "-dMaxStripSize=0"]


def strip_bytes(path: Path) -> tuple[int, int]:
    """(pages, total StripByteCounts) of a TIFF: the CCITT data a call would transmit."""
    data = path.read_bytes()
    order = "<" if data[:2] == b"II" else ">"
    (offset,) = struct.unpack(order + "I", data[4:8])
    pages = total = 0
    sizes = {3: 2, 4: 4}
    while offset:
        (count,) = struct.unpack(order + "H", data[offset : offset + 2])
        for i in range(count):
            entry = data[offset + 2 + 12 * i : offset + 14 + 12 * i]
            tag, kind, n = struct.unpack(order + "HHI", entry[:8])
            if tag == 279:
                width = sizes[kind]
                fmt = order + ("H" if kind == 3 else "I") * n
                if n * width <= 4:
                    values = struct.unpack(fmt, entry[8 : 8 + n * width])
                else:
                    (where,) = struct.unpack(order + "I", entry[8:12])
                    values = struct.unpack(fmt, data[where : where + n * width])
                total += sum(values)
        pages += 1
        (offset,) = struct.unpack(order + "I", data[offset + 2 + 12 * count : offset + 6 + 12 * count])
    return pages, total


def timed_child(command: list[str]) -> tuple[float, int, float]:
    """Run a command; (wall seconds, peak RSS KiB, CPU seconds) of that process."""
    # GNU time reports the peak RSS of the command itself (ru_maxrss of a child forked from this big process
    # would start at this process's size); its own cost is a few hundred microseconds.
    gnu_time = Path("/usr/bin/time").exists()  # Debian package "time"; without it RSS is an upper bound
    start = time.perf_counter()
    process = subprocess.Popen(["/usr/bin/time", "-f", "%M", *command] if gnu_time else command,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    stderr = process.stderr.read().decode() if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{command[0]} failed: {stderr}")
    rss = int(stderr.strip().splitlines()[-1]) if gnu_time else usage.ru_maxrss
    return elapsed, rss, usage.ru_utime + usage.ru_stime


def median_run(command: list[str], runs: int) -> tuple[float, int, float]:
    """Median wall time of `runs` runs after one warm-up (page cache), the peak RSS seen, median CPU time."""
    timed_child(command)
    results = [timed_child(command) for _ in range(runs)]
    return (statistics.median(r[0] for r in results), max(r[1] for r in results),
            statistics.median(r[2] for r in results))


def g3_1d_bytes(tiff: Path, fine: bool) -> int:
    """Our pages re-encoded as G3 1D with fill bits (what a call without 2D/MMR would send)."""
    with tempfile.NamedTemporaryFile(suffix=".tif") as handle:
        with FaxTiffWriter(handle.name, compression="g3_1d", fine=fine) as writer:
            for page in read_fax_tiff(tiff):
                writer.add_page(page.bitmap)
        return strip_bytes(Path(handle.name))[1]


def gs_same_geometry(pdf: Path, out: Path) -> tuple[Path, tuple[int, int, int, int]]:
    """Ghostscript (tiffg4) at exactly faxgate's scale for this PDF, so pixels can be compared one to one;
    returns the file and where faxgate puts the page (left, top, width, height)."""
    import pymupdf

    from gateway.render.fit import fit_on_page

    rect = pymupdf.open(pdf)[0].rect
    place = fit_on_page(rect.width, rect.height, RenderOptions().geometry, allow_upscale=True)
    target = out / f"{pdf.stem}.samegeometry.tiffg4.tif"
    subprocess.run([*GS_ARGS, "-sDEVICE=tiffg4", f"-r{72 * place.x_scale:.4f}x{72 * place.y_scale:.4f}",
                    f"-g{place.width_px}x{place.height_px}", f"-sOutputFile={target}", str(pdf)], check=True)
    return target, (place.left, place.top, place.width_px, place.height_px)


def agreement(ours: Path, theirs: Path, where: tuple[int, int, int, int]) -> dict[str, float]:
    """Legibility proxy against Ghostscript at the same geometry: share of each one's ink within 1 px of the
    other's, and the ink ratio (ours / gs)."""
    near_ours, near_theirs, ratio = [], [], []
    left, top, width, height = where
    for mine, gs in zip(read_fax_tiff(ours), read_fax_tiff(theirs), strict=False):
        a = np.unpackbits(mine.bitmap, axis=1).astype(bool)[top : top + height, left : left + width]
        b = np.unpackbits(gs.bitmap, axis=1).astype(bool)[:, :width]
        rows = min(a.shape[0], b.shape[0])
        a, b = a[:rows], b[:rows]
        if not b.any():
            continue
        ours_near_gs, gs_near_ours = ink_agreement(a, b)
        near_ours.append(ours_near_gs)
        near_theirs.append(gs_near_ours)
        ratio.append(a.sum() / b.sum())
    return {
        "ours_near_gs": round(float(np.mean(near_ours)), 3),
        "gs_near_ours": round(float(np.mean(near_theirs)), 3),
        "ink_ratio": round(float(np.mean(ratio)), 3),
    }


async def warm_worker_runs(files: dict[str, list[Path]], out: Path, resolution: str, runs: int) -> dict[str, Any]:
    """Each file through one warm pool worker: median seconds per file, pages, sizes, peak worker RSS."""
    options = RenderOptions(resolution=resolution)  # type: ignore[arg-type]
    figures: dict[str, Any] = {}
    peak = 0
    async with RenderPool(workers=1, workdir=out) as pool:
        await pool.warm()
        for category, paths in files.items():
            for path in paths:
                target = out / f"{path.stem}.{resolution}.faxgate.tif"
                documents = [InputDocument(path=path, filename=path.name)]
                await pool.render(documents, options, target)  # warm-up (fonts, LibreOffice start)
                seconds, cpu = [], []
                for _ in range(runs):
                    start = time.perf_counter()
                    result = await pool.render(documents, options, target)
                    seconds.append(time.perf_counter() - start)
                    cpu.append(result.cpu_seconds)
                    peak = max(peak, result.peak_rss_kib)
                pages, strip = strip_bytes(target)
                figures[path.name] = {"category": category, "pages": pages, "warm_s": statistics.median(seconds),
                                      "warm_cpu_s": statistics.median(cpu),
                                      "g4_bytes": strip, "g3_1d_bytes": g3_1d_bytes(target, resolution == "fine"),
                                      "tiff": target}
    figures["_peak_worker_rss_mib"] = round(peak / 1024, 1)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path(tempfile.gettempdir()) / "faxgate-render-corpus")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    files = build_corpus(args.corpus)
    out = Path(tempfile.mkdtemp(prefix="faxgate-render-bench-"))
    print(f"corpus {args.corpus}, outputs {out}")

    warm = asyncio.run(warm_worker_runs(files, out, "fine", args.runs))
    warm_std = asyncio.run(warm_worker_runs({k: v for k, v in files.items() if k in ("text_pdf", "real_pdf")},
                                            out, "standard", args.runs))
    peak_worker = max(warm.pop("_peak_worker_rss_mib"), warm_std.pop("_peak_worker_rss_mib"))

    # Whole command: one `faxgate render` process per document, then Ghostscript the same way.
    rows: list[dict[str, Any]] = []
    cmd_peak = 0
    for name, figure in warm.items():
        path = next(p for paths in files.values() for p in paths if p.name == name)
        seconds, rss, cpu = median_run([*FAXGATE, str(path), "-o", str(out / f"{path.stem}.cmd.tif")], args.runs)
        if figure["category"] != "office":  # LibreOffice's own ~200 MiB is a separate, shared process
            cmd_peak = max(cmd_peak, rss)
        row = {"file": name, **{k: v for k, v in figure.items() if k != "tiff"}}
        row.update(cmd_s=seconds, cmd_cpu_s=cpu, cmd_rss_mib=round(rss / 1024, 1))
        if path.suffix == ".pdf":
            for device in ("tiffg3", "tiffg4"):
                for resolution, size in (("fine", "-r204x196"), ("standard", "-r204x98")):
                    target = out / f"{path.stem}.{resolution}.{device}.tif"
                    rows_px = "2292" if resolution == "fine" else "1146"
                    command = [*GS_ARGS, f"-sDEVICE={device}", size, f"-g1728x{rows_px}", f"-sOutputFile={target}",
                               str(path)]
                    gs_seconds, _, gs_cpu = median_run(command, args.runs)
                    pages, strip = strip_bytes(target)
                    row[f"{device}_{resolution}_s"] = gs_seconds
                    row[f"{device}_{resolution}_cpu_s"] = gs_cpu
                    row[f"{device}_{resolution}_bytes"] = strip
                    row[f"{device}_{resolution}_pages"] = pages
            if name in warm_std:
                row["std_warm_s"] = warm_std[name]["warm_s"]
                row["std_g4_bytes"] = warm_std[name]["g4_bytes"]
                row["std_g3_1d_bytes"] = warm_std[name]["g3_1d_bytes"]
            reference, where = gs_same_geometry(path, out)
            row["legibility_vs_gs"] = agreement(figure["tiff"], reference, where)
        rows.append(row)
    gs_start, _, _ = median_run([*GS_ARGS, "-sDEVICE=tiffg3", "-r204x196", "-g1728x2292",
                              f"-sOutputFile={out / 'empty.tif'}", str(_one_page_pdf(out))], args.runs)

    print(f"\n{'file':26} {'cat':9} {'pages':>5} {'warm p/s':>9} {'cmd p/s':>8} {'G4 KiB/p':>9} {'G3 KiB/p':>9}"
          f" {'gs g3 p/s':>9} {'gs g3 KiB/p':>11} {'gs g4 p/s':>9} {'gs g4 KiB/p':>11}")
    for row in rows:
        pages = row["pages"]
        line = (f"{row['file']:26} {row['category']:9} {pages:5d} {pages / row['warm_s']:9.1f} "
                f"{pages / row['cmd_s']:8.1f} {row['g4_bytes'] / pages / 1024:9.1f} "
                f"{row['g3_1d_bytes'] / pages / 1024:9.1f}")
        if "tiffg3_fine_s" in row:
            line += (f" {row['tiffg3_fine_pages'] / row['tiffg3_fine_s']:9.1f}"
                     f" {row['tiffg3_fine_bytes'] / row['tiffg3_fine_pages'] / 1024:11.1f}"
                     f" {row['tiffg4_fine_pages'] / row['tiffg4_fine_s']:9.1f}"
                     f" {row['tiffg4_fine_bytes'] / row['tiffg4_fine_pages'] / 1024:11.1f}")
        print(line)
    summary = summarize(rows, gs_start, peak_worker, cmd_peak)
    print("\nlegibility vs gs tiffg4 (share of ink within 1 px of the other's):")
    for row in rows:
        if "legibility_vs_gs" in row:
            print(f"  {row['file']:26} {row['legibility_vs_gs']}")
    print(f"\nGhostscript start-up (1-page PDF): {gs_start * 1000:.0f} ms; peak RSS: warm worker {peak_worker} MiB,"
          f" faxgate command {cmd_peak / 1024:.0f} MiB (Office: LibreOffice's process counted separately)")
    print(json.dumps(summary))


def _one_page_pdf(folder: Path) -> Path:
    """A blank page, to measure Ghostscript's start-up cost."""
    import pymupdf

    path = folder / "blank.pdf"
    doc = pymupdf.open()
    doc.new_page()
    doc.save(path)
    return path


def _pool(rows: list[dict[str, Any]], categories: set[str]) -> dict[str, float]:
    """Pooled figures over the rows of some categories (pages / total time, bytes / pages)."""
    chosen = [r for r in rows if r["category"] in categories]
    pages = sum(r["pages"] for r in chosen)
    result: dict[str, float] = {
        "pages": pages,
        "warm_pps": pages / sum(r["warm_s"] for r in chosen),
        "warm_pages_per_cpu_s": pages / sum(r["warm_cpu_s"] for r in chosen),
        "cmd_pps": pages / sum(r["cmd_s"] for r in chosen),
        "cmd_pages_per_cpu_s": pages / sum(r["cmd_cpu_s"] for r in chosen),
        "g4_kib_per_page": sum(r["g4_bytes"] for r in chosen) / pages / 1024,
        "g3_1d_kib_per_page": sum(r["g3_1d_bytes"] for r in chosen) / pages / 1024,
    }
    if all("tiffg3_fine_s" in r for r in chosen):
        for device in ("tiffg3", "tiffg4"):
            for resolution in ("fine", "standard"):
                gs_pages = sum(r[f"{device}_{resolution}_pages"] for r in chosen)
                gs_wall = sum(r[f"{device}_{resolution}_s"] for r in chosen)
                result[f"gs_{device}_{resolution}_cmd_pps"] = gs_pages / gs_wall
                result[f"gs_{device}_{resolution}_pages_per_cpu_s"] = gs_pages / sum(
                    r[f"{device}_{resolution}_cpu_s"] for r in chosen)
                result[f"gs_{device}_{resolution}_kib_per_page"] = (
                    sum(r[f"{device}_{resolution}_bytes"] for r in chosen) / gs_pages / 1024)
    if all("std_warm_s" in r for r in chosen):
        result["standard_warm_pps"] = pages / sum(r["std_warm_s"] for r in chosen)
        result["standard_g4_kib_per_page"] = sum(r["std_g4_bytes"] for r in chosen) / pages / 1024
        result["standard_g3_1d_kib_per_page"] = sum(r["std_g3_1d_bytes"] for r in chosen) / pages / 1024
    return {k: round(v, 2) for k, v in result.items()}


def summarize(rows: list[dict[str, Any]], gs_start: float, peak_worker: float, cmd_peak: int) -> dict[str, Any]:
    """The JSON line: pooled figures per class and the ratios the targets are stated in."""
    text = _pool(rows, {"text_pdf", "real_pdf"})
    photo = _pool(rows, {"photo_pdf"})
    chosen = [r for r in rows if r["category"] in {"text_pdf", "real_pdf"}]
    gs_pages = sum(r["tiffg3_fine_pages"] for r in chosen)
    gs_steady = gs_pages / sum(max(r["tiffg3_fine_s"] - gs_start, 1e-3) for r in chosen)
    text["gs_tiffg3_fine_steady_pps"] = round(gs_steady, 2)
    legibility = [r["legibility_vs_gs"] for r in chosen]
    ratios = {
        "text_warm_pps_vs_gs_tiffg3_cmd": round(text["warm_pps"] / text["gs_tiffg3_fine_cmd_pps"], 2),
        "text_warm_pps_vs_gs_tiffg3_steady": round(text["warm_pps"] / gs_steady, 2),
        "text_cmd_pps_vs_gs_tiffg3_cmd": round(text["cmd_pps"] / text["gs_tiffg3_fine_cmd_pps"], 2),
        "text_warm_cpu_vs_gs_tiffg3_cpu": round(
            text["warm_pages_per_cpu_s"] / text["gs_tiffg3_fine_pages_per_cpu_s"], 2),
        "photo_warm_cpu_vs_gs_tiffg3_cpu": round(
            photo["warm_pages_per_cpu_s"] / photo["gs_tiffg3_fine_pages_per_cpu_s"], 2),
        "text_g4_bytes_vs_gs_tiffg3": round(text["g4_kib_per_page"] / text["gs_tiffg3_fine_kib_per_page"], 2),
        "text_g4_bytes_vs_gs_tiffg4": round(text["g4_kib_per_page"] / text["gs_tiffg4_fine_kib_per_page"], 2),
        "text_g3_1d_bytes_vs_gs_tiffg3": round(text["g3_1d_kib_per_page"] / text["gs_tiffg3_fine_kib_per_page"], 2),
        "photo_g4_bytes_vs_gs_tiffg4": round(photo["g4_kib_per_page"] / photo["gs_tiffg4_fine_kib_per_page"], 2),
        "photo_g3_1d_bytes_vs_gs_tiffg3": round(photo["g3_1d_kib_per_page"] / photo["gs_tiffg3_fine_kib_per_page"], 2),
    }
    others = {r["file"]: {"pages": r["pages"], "warm_pps": round(r["pages"] / r["warm_s"], 2),
                          "cmd_s": round(r["cmd_s"], 3), "cmd_rss_mib": r["cmd_rss_mib"],
                          "g4_kib_per_page": round(r["g4_bytes"] / r["pages"] / 1024, 1)}
              for r in rows if r["category"] in {"images", "mail", "office"}}
    return {
        "text_pdfs_fine": text,
        "photo_pdf_fine": photo,
        "other_inputs_fine": others,
        "legibility_vs_gs_tiffg4": {
            "ours_near_gs": round(float(np.mean([x["ours_near_gs"] for x in legibility])), 3),
            "gs_near_ours": round(float(np.mean([x["gs_near_ours"] for x in legibility])), 3),
            "ink_ratio": round(float(np.mean([x["ink_ratio"] for x in legibility])), 3),
        },
        "ratios": ratios,
        "targets_met": {
            "text_warm_pps_ge_1.2x_gs_tiffg3": ratios["text_warm_pps_vs_gs_tiffg3_cmd"] >= 1.2,
            "text_warm_cpu_ge_1.2x_gs_tiffg3_cpu": ratios["text_warm_cpu_vs_gs_tiffg3_cpu"] >= 1.2,
            "text_bytes_le_0.8x_gs_tiffg3": ratios["text_g4_bytes_vs_gs_tiffg3"] <= 0.8,
            "photo_warm_pps_ge_15": photo["warm_pps"] >= 15,
            "photo_warm_pages_per_cpu_s_ge_15": photo["warm_pages_per_cpu_s"] >= 15,
            "worker_rss_le_150_mib": peak_worker <= 150,
        },
        "gs_startup_ms": round(gs_start * 1000, 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "peak_worker_rss_mib": peak_worker,
        "peak_command_rss_mib": round(cmd_peak / 1024, 1),
    }


if __name__ == "__main__":
    main()
