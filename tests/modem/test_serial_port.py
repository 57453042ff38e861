"""The serial port layer on a pty: a vanished port gives a clear result and recovers; UUCP locks."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from gateway.enums import ExtendedStatus
from modem.provider import Class1Device, DeviceConfig, SendJob, serial_opener
from modem.serialport import PortInUse, SerialModemPort, UucpLock
from modem.simnet import SimNetwork
from modem.simnet.realtime import RealTimeRunner
from tests.modem.pages import document, write_document


async def test_port_that_vanishes_is_reopened_when_it_comes_back(tmp_path: Path) -> None:
    net = SimNetwork()
    net.add_modem("sim0", number="5551000")
    link = tmp_path / "ttySIM0"
    runner = RealTimeRunner(net, {"sim0": link})
    ticking = asyncio.create_task(runner.run())
    device = Class1Device(DeviceConfig(name="sim0"), serial_opener(link, lock_dir=tmp_path))
    try:
        assert await device.ready()
        assert (tmp_path / "LCK..ttySIM0").read_text().strip() == str(os.getpid())

        runner.unplug("sim0")
        tiff = write_document(tmp_path / "doc.tif", document(pages=1), fine=False)
        result = await device.send(SendJob(dial_string="5550100", tiff_path=str(tiff)))
        assert result.status == ExtendedStatus.LINE_UNAVAILABLE
        assert "not available" in result.reason or "went away" in result.reason
        assert not await device.ready()

        runner.replug("sim0")
        assert await device.ready()
    finally:
        await device.close()
        runner.stop()
        await ticking
        runner.close()
        net.close()


async def test_lock_held_by_a_live_process_keeps_us_off_the_port(tmp_path: Path) -> None:
    master, slave = os.openpty()
    slave_path = os.ttyname(slave)
    other = UucpLock(slave_path, tmp_path)
    other.path.write_text(f"{1:10d}\n")  # PID 1 is always alive
    with pytest.raises(PortInUse):
        await SerialModemPort.open(slave_path, lock_dir=tmp_path)
    other.path.write_text(f"{999999:10d}\n")  # a dead process: stale, taken over
    port = await SerialModemPort.open(slave_path, lock_dir=tmp_path)
    try:
        assert other.path.read_text() == f"{os.getpid():10d}\n"
        os.write(master, b"OK\r\n")
        assert await port.read(2.0) == b"OK\r\n"
        await port.write(b"AT\r")
        assert os.read(master, 16) == b"AT\r"
    finally:
        await port.close()
        os.close(master)
        os.close(slave)
    assert not other.path.exists()
