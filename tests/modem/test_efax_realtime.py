"""Real time over ptys with efax (an independent Class 1 program) at the far end, via the faxgate CLI.

Two soft-modems on ptys, paced at 2x real time (reliable with efax, see virtual-line.md): faxgate's
``faxgate modem send`` to ``efax -r``, and efax sending to ``faxgate modem receive``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from modem.faxtiff import read_fax_tiff
from modem.simnet import SimNetwork
from modem.simnet.realtime import RealTimeRunner
from tests.modem.pages import Bitmap, text_page, write_document

pytestmark = pytest.mark.realtime
FAXGATE = [sys.executable, "-m", "gateway"]
SPEED = 2.0
CALL_LIMIT_S = 180.0
EFAX_HEADER_ROWS = 24


def short_pages(fine: bool) -> list[Bitmap]:
    """Three different pages with text in their top part (keeps each call well under a minute)."""
    rows = 2200 if fine else 1100
    pages = [text_page(fine, seed=n, rows=rows) for n in range(3)]
    for page in pages:
        page[rows // 3 :] = 0
    return pages


@pytest.fixture
async def line(tmp_path: Path) -> AsyncIterator[tuple[Path, Path]]:
    """Two soft-modems on ptys: faxgate's (number 5551000) and efax's (5551001)."""
    net = SimNetwork()
    net.add_modem("sim0", number="5551000")
    net.add_modem("sim1", number="5551001")
    ours, theirs = tmp_path / "ttyFAXGATE", tmp_path / "ttyEFAX"
    runner = RealTimeRunner(net, {"sim0": ours, "sim1": theirs}, speed=SPEED)
    ticking = asyncio.create_task(runner.run())
    yield ours, theirs
    runner.stop()
    await ticking
    runner.close()
    net.close()


def efax_received(directory: Path) -> list[Path]:
    """The page files ``efax -r`` wrote (one per page: rx.001, rx.002, ...)."""
    return sorted(directory.glob("rx.[0-9][0-9][0-9]"))


async def run(*argv: str, log: Path) -> tuple[int, bytes]:
    """Run a program to completion with a generous limit; stderr goes to ``log``."""
    with log.open("wb") as err:
        process = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE, stderr=err)
        out, _ = await asyncio.wait_for(process.communicate(), CALL_LIMIT_S)
    assert process.returncode is not None
    return process.returncode, out


async def test_faxgate_sends_three_pages_to_efax(line: tuple[Path, Path], tmp_path: Path) -> None:
    ours, theirs = line
    pages = short_pages(fine=False)
    document = write_document(tmp_path / "doc.tif", pages, fine=False)
    efax = asyncio.create_task(
        run("efax", "-d", str(theirs), "-iS0=1", "-w", "-r", str(tmp_path / "rx"), log=tmp_path / "efax.log")
    )
    await asyncio.sleep(1.0)
    code, out = await run(
        *FAXGATE, "modem", "send", "--port", str(ours), "--lock-dir", str(tmp_path),
        "--to", "5551001", "--tsid", "+1 555 1000", "--log", str(document),
        log=tmp_path / "faxgate.log",
    )  # fmt: skip
    efax_code, _ = await efax

    result = json.loads(out)
    assert code == 0, (tmp_path / "faxgate.log").read_text()[-3000:]
    assert (result["status"], result["pages"], result["compression"], result["ecm"]) == (
        "call_completed",
        3,
        "MH",
        False,
    )
    assert result["bit_rate"] == 14400
    assert efax_code == 0, (tmp_path / "efax.log").read_text()[-2000:]
    received = efax_received(tmp_path)
    assert len(received) == 3
    for path, sent in zip(received, pages, strict=True):
        page = next(iter(read_fax_tiff(path)))
        assert np.array_equal(page.bitmap, sent)


async def test_efax_sends_three_pages_to_faxgate(line: tuple[Path, Path], tmp_path: Path) -> None:
    ours, theirs = line
    pages = short_pages(fine=True)
    files = []
    for number, page in enumerate(pages, start=1):
        pbm = tmp_path / f"page{number}.pbm"
        pbm.write_bytes(b"P4\n1728 %d\n" % page.shape[0] + page.tobytes())
        target = tmp_path / f"tx.{number:03d}"
        assert (
            await run(
                "efix", "-ipbm", "-otiffg3", "-R", "204x196", "-n", str(target), str(pbm), log=tmp_path / "efix.log"
            )
        )[0] == 0
        files.append(str(target))
    receiving = asyncio.create_task(
        run(
            *FAXGATE,
            "modem",
            "receive",
            "--port",
            str(ours),
            "--lock-dir",
            str(tmp_path),
            "--out",
            str(tmp_path / "in"),
            "--csid",
            "+1 555 1000",
            "--wait",
            "120",
            "--log",
            log=tmp_path / "faxgate.log",
        )
    )
    await asyncio.sleep(1.5)
    efax_code, _ = await run(
        "efax", "-d", str(theirs), "-l", "+1 555 1001", "-t", "5551000", *files, log=tmp_path / "efax.log"
    )
    code, out = await receiving

    result = json.loads(out)
    assert code == 0, (tmp_path / "faxgate.log").read_text()[-3000:]
    assert efax_code == 0, (tmp_path / "efax.log").read_text()[-2000:]
    assert (result["status"], result["pages"], result["remote_csid"]) == ("call_completed", 3, "+1 555 1001")
    assert result["caller_id"] == "5551001"
    stored = list(read_fax_tiff(result["files"][0]))
    assert len(stored) == 3
    for page, sent in zip(stored, pages, strict=True):
        header = page.rows - sent.shape[0]  # efax puts its header band on top of each page
        assert 0 <= header <= EFAX_HEADER_ROWS
        assert np.array_equal(page.bitmap[header + EFAX_HEADER_ROWS :], sent[EFAX_HEADER_ROWS:])
