"""The network at real time with a soft-modem on a pty, driven through the tty as a serial program would."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from modem.simnet import RemoteFaxSpec, SimNetwork
from modem.simnet.realtime import RealTimeRunner


@pytest.fixture
async def line(tmp_path: Path) -> AsyncIterator[tuple[SimNetwork, RealTimeRunner, Path]]:
    network = SimNetwork(ring_interval_s=1.0, workdir=tmp_path / "line")
    network.add_modem("sim0", "5551000")
    network.add_remote_fax("5550100", RemoteFaxSpec(ident="+1 555 0100"))
    link = tmp_path / "tty" / "sim0"
    runner = RealTimeRunner(network, {"sim0": link})
    pacer = asyncio.create_task(runner.run())
    yield network, runner, link
    runner.stop()
    await pacer
    runner.close()
    network.close()


def open_port(link: Path) -> int:
    return os.open(link, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)


async def read_until(fd: int, token: bytes, polls: int = 500) -> bytes:
    """Read the tty until ``token`` arrives (gives up after ``polls`` x 20 ms and returns what came)."""
    data = b""
    for _ in range(polls):
        with contextlib.suppress(BlockingIOError):
            data += os.read(fd, 4096)
        if token in data:
            break
        await asyncio.sleep(0.02)
    return data


async def test_at_commands_over_the_pty(line: tuple[SimNetwork, RealTimeRunner, Path]) -> None:
    _network, _runner, link = line
    fd = open_port(link)
    try:
        os.write(fd, b"ATE0\r")
        assert (await read_until(fd, b"OK\r\n")).endswith(b"OK\r\n")
        os.write(fd, b"AT+FCLASS=?\r")
        assert (await read_until(fd, b"OK\r\n")).split() == [b"0,1,1.0", b"OK"]
    finally:
        os.close(fd)


async def test_output_is_dropped_while_no_program_has_the_port(
    line: tuple[SimNetwork, RealTimeRunner, Path],
) -> None:
    network, _runner, link = line
    page = np.zeros((50, 216), dtype=np.uint8)
    network.remotes["5550100"].call("5551000", [page], caller_name="ACME")
    await asyncio.sleep(1.5)  # the caller ID and the first RING go out while nobody listens
    fd = open_port(link)
    try:
        assert (await read_until(fd, b"RING")).split() == [b"RING"]
    finally:
        os.close(fd)


async def test_port_vanishes_and_comes_back(line: tuple[SimNetwork, RealTimeRunner, Path]) -> None:
    _network, runner, link = line
    fd = open_port(link)
    try:
        runner.unplug("sim0")
        assert not link.exists()
        assert os.read(fd, 10) == b""  # hung up: end of file
        with pytest.raises(OSError):
            os.write(fd, b"AT\r")
    finally:
        os.close(fd)
    runner.replug("sim0")
    fd = open_port(link)
    try:
        os.write(fd, b"AT\r")
        assert (await read_until(fd, b"OK\r\n")).split() == [b"AT", b"OK"]
    finally:
        os.close(fd)


def test_xoff_when_the_modem_buffer_fills_and_xon_when_it_drains(tmp_path: Path) -> None:
    network = SimNetwork()
    network.add_modem("sim0", "5551000")
    runner = RealTimeRunner(network, {"sim0": tmp_path / "sim0"}, xonxoff=["sim0"])
    line, modem = runner.lines["sim0"], network.modems["sim0"]
    fd = open_port(tmp_path / "sim0")
    try:
        modem.dte_present = line.dte_present()
        modem.dte_input += bytes(800)  # page data t31 could not take yet (it holds CTS)
        line.service_output()
        assert os.read(fd, 16) == b"\x13"
        del modem.dte_input[:600]
        line.service_output()
        assert os.read(fd, 16) == b"\x11"
    finally:
        os.close(fd)
        runner.close()
        network.close()
