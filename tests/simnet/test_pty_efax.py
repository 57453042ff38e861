"""efax, an independent Class 1 program, sends a page over a pty to a remote fax machine at real time."""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from modem import faxtiff
from modem.simnet import RemoteFaxSpec, SimNetwork
from modem.simnet.realtime import RealTimeRunner

pytestmark = pytest.mark.realtime


def sample_page(rows: int = 1100) -> np.ndarray:
    """A standard-resolution page with blocks, bars and a hatched area."""
    page = np.zeros((rows, 216), dtype=np.uint8)
    page[100:300, 20:60] = 0xFF
    page[500:510, 30:190] = 0xF0
    page[800:1000:3, 100:200] = 0x3C
    page[1040:1090, 150:152] = 0x81
    return page


def efax_tiff(page: np.ndarray, path: Path) -> None:
    """Write the page the way efax reads it (one page, IFD before the data), with efax's own efix."""
    pbm = path.with_suffix(".pbm")
    pbm.write_bytes(b"P4\n1728 %d\n" % page.shape[0] + page.tobytes())
    with path.open("wb") as out:
        subprocess.run(
            ["efix", "-i", "pbm", "-o", "tiffg3", "-R", "204x98", "-r", "204x98", str(pbm)],
            stdout=out,
            stderr=subprocess.DEVNULL,
            check=True,
        )
    assert next(faxtiff.read_fax_tiff(path)).bitmap.tolist() == page.tolist()


async def test_efax_sends_a_page_through_the_pty_network(tmp_path: Path) -> None:
    page = sample_page()
    document = tmp_path / "page.tif"
    efax_tiff(page, document)
    network = SimNetwork(workdir=tmp_path / "line")
    network.add_modem("sim0", "5551000")
    remote = network.add_remote_fax("5550100", RemoteFaxSpec(ident="+1 555 0100"))
    link = tmp_path / "tty" / "sim0"
    runner = RealTimeRunner(network, {"sim0": link})
    pacer = asyncio.create_task(runner.run())
    try:
        efax = await asyncio.create_subprocess_exec(
            "efax",
            "-d",
            str(link),
            "-o1",
            "-x",
            str(tmp_path / "LCK..sim0"),
            "-t",
            "5550100",
            str(document),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(efax.communicate(), timeout=180)
        await asyncio.sleep(1.0)
    finally:
        runner.stop()
        await pacer
        runner.close()
        network.close()
    transcript = output.decode("latin-1")
    assert efax.returncode == 0, transcript
    record = remote.last
    assert (record.outcome, record.completion, len(record.pages)) == ("completed", "OK", 1)
    assert (record.bit_rate, record.encoding, record.resolution) == (14400, "MH", "standard")
    # efax puts a header band of H rows on top and sends the last N rows of the page under it.
    sent = re.search(r"sent (\d+)\+(\d+) lines", transcript)
    assert sent is not None, transcript
    header, body = int(sent.group(1)), int(sent.group(2))
    received = record.pages[0]
    assert received.shape == (header + body, 216)
    assert np.array_equal(received[header:], page[-body:])
