"""Line time per page: faxgate vs spandsp's own fax terminal vs efax, sending the same text pages.

All three send the same document to the same far end (spandsp's fax terminal, every capability on):
- faxgate (Class 1 engine on a spandsp soft-modem), in-process on virtual time; it picks the best mode
  the far end accepts (V.17 14400, ECM, T.6);
- spandsp's fax terminal calling the far-end terminal directly (the reference: same modems, same
  negotiation, no Class 1 host in between);
- efax (Debian; T.4 1D only, no ECM) on a pty at 4x real time (line time is counted in samples).

Line time runs from the far end answering to the end of the call. The last line printed is a JSON
object with the figures and the ratios. Run: ``.venv/bin/python -m benchmarks.line [--pages N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from modem import spandsp
from modem.faxtiff import write_fax_tiff
from modem.provider import SendJob
from modem.simnet import RemoteFaxSpec, SimNetwork
from modem.simnet.realtime import RealTimeRunner
from tests.modem.conftest import device_on
from tests.modem.pages import text_page

FAR_END = "5550100"
DELAY_BLOCKS = 3  # 60 ms one way, as on the simulated network
EFAX_SPEED = 4.0


def pages_for(count: int) -> list[np.ndarray]:
    """Fine-resolution text pages (a letter of ``count`` pages)."""
    return [text_page(fine=True, seed=n) for n in range(count)]


async def faxgate_run(pages: list[np.ndarray], workdir: Path) -> dict[str, Any]:
    """faxgate sends to the far-end terminal on virtual time."""
    net = SimNetwork()
    try:
        remote = net.add_remote_fax(FAR_END, RemoteFaxSpec(ident="far end", answer_after_rings=1))
        tiff = workdir / "doc.tif"
        write_fax_tiff(tiff, pages, compression="g4", fine=True)
        device = device_on(net.add_modem("sim0", number="5551000"))
        result = await device.send(SendJob(dial_string=FAR_END, tiff_path=str(tiff), tsid="faxgate"))
        await net.run_for(2.0)
        record = remote.last
        ok = result.ok and record.ok and all(np.array_equal(a, b) for a, b in zip(record.pages, pages, strict=True))
        return {
            "ok": ok,
            "line_s": round(record.ended_s - record.started_s, 2),
            "bit_rate": result.bit_rate,
            "ecm": result.ecm,
            "compression": result.compression,
        }
    finally:
        net.close()


def spandsp_run(pages: list[np.ndarray], workdir: Path) -> dict[str, Any]:
    """spandsp's terminal calls spandsp's terminal directly (the reference)."""
    tiff = workdir / "ref-tx.tif"
    write_fax_tiff(tiff, pages, compression="g4", fine=True)
    samples = 0

    def now() -> float:
        return samples / spandsp.SAMPLE_RATE

    config = spandsp.TerminalConfig(ident="far end")
    caller = spandsp.FaxTerminal(True, config, spandsp.SpanLog("caller", now))
    callee = spandsp.FaxTerminal(False, config, spandsp.SpanLog("callee", now))
    caller.set_tx_file(str(tiff))
    callee.set_rx_file(str(workdir / "ref-rx.tif"))
    silence = np.zeros(spandsp.FaxTerminal.BLOCK, dtype=np.int16)
    to_callee = deque([silence] * DELAY_BLOCKS)
    to_caller = deque([silence] * DELAY_BLOCKS)
    try:
        while caller.completion is None or callee.completion is None:
            to_callee.append(caller.tx())
            to_caller.append(callee.tx())
            callee.rx(to_callee.popleft())
            caller.rx(to_caller.popleft())
            samples += spandsp.FaxTerminal.BLOCK
            if samples > 3600 * spandsp.SAMPLE_RATE:
                break
        stats = caller.statistics()
        return {
            "ok": caller.completion == 0 and callee.completion == 0 and stats.pages_tx == len(pages),
            "line_s": round(now(), 2),
            "bit_rate": stats.bit_rate,
            "ecm": bool(stats.error_correcting_mode),
            "compression": spandsp.ENCODING_NAMES.get(stats.encoding, str(stats.encoding)),
        }
    finally:
        caller.close()
        callee.close()


async def efax_run(pages: list[np.ndarray], workdir: Path) -> dict[str, Any]:
    """efax sends to the far-end terminal over a pty at EFAX_SPEED x real time."""
    if shutil.which("efax") is None:
        return {"ok": False, "error": "efax is not installed"}
    files = []
    for number, page in enumerate(pages, start=1):
        pbm = workdir / f"page{number}.pbm"
        pbm.write_bytes(b"P4\n1728 %d\n" % page.shape[0] + page.tobytes())
        target = workdir / f"efax.{number:03d}"
        efix = await asyncio.create_subprocess_exec(
            "efix",
            "-ipbm",
            "-otiffg3",
            "-R",
            "204x196",
            "-n",
            str(target),
            str(pbm),
            stderr=asyncio.subprocess.DEVNULL,
        )
        await efix.wait()
        files.append(str(target))
    net = SimNetwork()
    net.add_modem("sim1", number="5551001")
    remote = net.add_remote_fax(FAR_END, RemoteFaxSpec(ident="far end", answer_after_rings=1))
    runner = RealTimeRunner(net, {"sim1": workdir / "ttyEFAX"}, speed=EFAX_SPEED)
    ticking = asyncio.create_task(runner.run())
    try:
        efax = await asyncio.create_subprocess_exec(
            "efax",
            "-d",
            str(workdir / "ttyEFAX"),
            "-l",
            "efax",
            "-t",
            FAR_END,
            *files,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        code = await efax.wait()
        await asyncio.sleep(1.0)
    finally:
        runner.stop()
        await ticking
        runner.close()
        net.close()
    record = remote.last
    return {
        "ok": code == 0 and record.ok and len(record.pages) == len(pages),
        "line_s": round(record.ended_s - record.started_s, 2),
        "bit_rate": record.bit_rate,
        "ecm": record.ecm,
        "compression": record.encoding,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=3)
    args = parser.parse_args()
    pages = pages_for(args.pages)
    with tempfile.TemporaryDirectory(prefix="faxgate-line-") as tmp:
        workdir = Path(tmp)
        figures = {
            "faxgate": await faxgate_run(pages, workdir),
            "spandsp": spandsp_run(pages, workdir),
            "efax": await efax_run(pages, workdir),
        }
    for name, figure in figures.items():
        if "line_s" in figure:
            figure["per_page_s"] = round(figure["line_s"] / len(pages), 2)
        print(f"{name:8} {json.dumps(figure, sort_keys=True)}")
    ours, reference, efax = (figures[n].get("line_s") for n in ("faxgate", "spandsp", "efax"))
    summary: dict[str, Any] = {"pages": len(pages), "document": "fine text pages, 1728 px", **figures}
    if ours and reference:
        summary["faxgate_vs_spandsp"] = round(ours / reference, 3)
        summary["within_5pct_of_spandsp"] = ours <= reference * 1.05
    if ours and efax:
        summary["faxgate_saving_vs_efax"] = round(1 - ours / efax, 3)
        summary["at_least_30pct_less_than_efax"] = ours <= efax * 0.70
    print(json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    asyncio.run(main())
