"""``faxgate modem probe`` against a soft-modem on a pty (the send/receive commands: test_efax_realtime)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from modem.simnet import SimNetwork
from modem.simnet.realtime import RealTimeRunner


async def test_probe_reports_class1_and_modulations(tmp_path: Path) -> None:
    net = SimNetwork()
    net.add_modem("sim0", number="5551000")
    link = tmp_path / "ttySIM0"
    runner = RealTimeRunner(net, {"sim0": link})
    ticking = asyncio.create_task(runner.run())
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway",
            "modem",
            "probe",
            "--port",
            str(link),
            "--lock-dir",
            str(tmp_path),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(process.communicate(), 60.0)
    finally:
        runner.stop()
        await ticking
        runner.close()
        net.close()
    assert process.returncode == 0
    report = json.loads(out)
    assert report["class1"] is True
    assert report["class2"] is False  # spandsp answers OK to +FDCC=? but lists no Class 2
    assert "spandsp" in " ".join(report["identity"])
    assert {24, 48, 72, 96, 145, 146} <= set(report["transmit_codes"])
    assert report["hdlc_codes"] == [3]
    assert report["profile"] == "generic"
