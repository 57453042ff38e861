"""The simulated network at real time, each faxgate soft-modem on a pty, so serial fax programs can use it.

A pacer runs the network's 20 ms ticks against the wall clock. Each modem's pty master is serviced every
tick: DTE bytes are read only while t31 does not hold CTS (the kernel's pty buffer then back-pressures the
host), and modem output is written back. ptys have no modem-status lines, so "some program has the slave
open" stands in for DTR: when the last one closes, the modem hangs up and is reset, and its output is
dropped until a program opens the port again (virtual-line pitfalls 2 and 3).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import select
import time
import tty
from collections.abc import Iterable
from pathlib import Path

from modem.simnet.endpoints import ModemEndpoint
from modem.simnet.network import SimNetwork

TICK_S = 0.02
READ_LIMIT = 1024
"""DTE bytes held for t31 at most; beyond this the pty is not read (back-pressure)."""
XOFF_AT = 768
XON_AT = 256
XON = b"\x11"
XOFF = b"\x13"


class PtyLine:
    """One modem's pty: the master end kept here, a symlink to the slave where programs expect it."""

    def __init__(self, endpoint: ModemEndpoint, link: Path, xonxoff: bool = False) -> None:
        self.endpoint = endpoint
        self.link = link
        self.xonxoff = xonxoff
        """Read the DTE eagerly and ask it to pause with XOFF/XON (pitfall 8), instead of only not reading."""
        self.xoff_sent = False
        self.master = -1
        self.slave_path = ""
        self.pending_output = bytearray()
        self._poll = select.poll()
        self.open()

    def open(self) -> None:
        """Create the pty (raw mode) and point the symlink at its slave."""
        master, slave = os.openpty()
        tty.setraw(slave)  # raw persists after close while the master stays open (pitfall 1)
        self.slave_path = os.ttyname(slave)
        os.close(slave)
        os.set_blocking(master, False)
        self.master = master
        self._poll = select.poll()
        self._poll.register(master, select.POLLIN)
        self.link.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.link.with_name(self.link.name + ".new")
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        temporary.symlink_to(self.slave_path)
        temporary.replace(self.link)
        self.endpoint.dte_present = False

    def close(self) -> None:
        """Remove the port: programs using it get EIO, the symlink disappears."""
        if self.master >= 0:
            os.close(self.master)
            self.master = -1
        with contextlib.suppress(FileNotFoundError):
            if self.link.is_symlink():
                self.link.unlink()
        self.endpoint.dte_present = False
        self.pending_output.clear()

    def dte_present(self) -> bool:
        """Whether some program has the slave open (no POLLHUP on the master)."""
        if self.master < 0:
            return False
        return all(not events & select.POLLHUP for _fd, events in self._poll.poll(0))

    def service_input(self) -> None:
        """Move DTE bytes into the modem's input queue while it has room and CTS is not held."""
        endpoint = self.endpoint
        if len(endpoint.dte_input) >= READ_LIMIT or (endpoint.t31.cts_held and not self.xonxoff):
            return
        try:
            data = os.read(self.master, READ_LIMIT - len(endpoint.dte_input))
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EIO:
                return
            raise
        endpoint.dte_input += data

    def service_output(self) -> None:
        """Write modem output to the DTE (dropped while no DTE is present), XOFF/XON first."""
        output = self.endpoint.take_output()
        if not self.endpoint.dte_present:
            self.pending_output.clear()
            self.xoff_sent = False
            return
        if self.xonxoff:
            queued = len(self.endpoint.dte_input)
            if not self.xoff_sent and queued >= XOFF_AT:
                self.xoff_sent = True
                self.pending_output[:0] = XOFF
            elif self.xoff_sent and queued <= XON_AT:
                self.xoff_sent = False
                self.pending_output[:0] = XON
        self.pending_output += output
        while self.pending_output:
            try:
                written = os.write(self.master, self.pending_output)
            except (BlockingIOError, OSError):
                return
            del self.pending_output[:written]


class RealTimeRunner:
    """Paces a SimNetwork at real time and serves its modems on ptys."""

    def __init__(
        self,
        network: SimNetwork,
        links: dict[str, str | Path],
        *,
        speed: float = 1.0,
        xonxoff: Iterable[str] = (),
    ) -> None:
        self.network = network
        self.speed = speed
        flow = set(xonxoff)
        self.lines = {name: PtyLine(network.modems[name], Path(link), name in flow) for name, link in links.items()}
        self.ticks = 0
        self.late_ticks = 0
        self.cpu_seconds = 0.0
        self.wall_seconds = 0.0
        self._stop = asyncio.Event()
        network.realtime = True

    def unplug(self, name: str) -> None:
        """Make a modem's port vanish (as a USB modem pulled out)."""
        self.lines[name].close()
        self._dte_gone(self.lines[name].endpoint)

    def replug(self, name: str) -> None:
        """Bring a vanished port back (a fresh pty behind the same symlink)."""
        self.lines[name].open()

    def stop(self) -> None:
        """Ask ``run`` to return after the current tick."""
        self._stop.set()

    async def run(self, seconds: float | None = None) -> None:
        """Tick until ``stop()`` (or for ``seconds`` of wall time)."""
        loop = asyncio.get_running_loop()
        start_wall = loop.time()
        start_cpu = time.process_time()
        period = TICK_S / self.speed
        next_tick = start_wall
        try:
            while not self._stop.is_set():
                if seconds is not None and loop.time() - start_wall >= seconds:
                    break
                self._tick()
                next_tick += period
                delay = next_tick - loop.time()
                if delay < -0.2:
                    self.late_ticks += 1
                    next_tick = loop.time()
                    delay = 0.0
                await asyncio.sleep(max(0.0, delay))
        finally:
            self.wall_seconds += loop.time() - start_wall
            self.cpu_seconds += time.process_time() - start_cpu

    def _tick(self) -> None:
        for line in self.lines.values():
            present = line.dte_present()
            endpoint = line.endpoint
            if endpoint.dte_present and not present:
                self._dte_gone(endpoint)
            endpoint.dte_present = present
            if present:
                line.service_input()
        self.network.tick()
        for line in self.lines.values():
            line.service_output()
        self.ticks += 1

    def _dte_gone(self, endpoint: ModemEndpoint) -> None:
        """DTR dropped: hang up and reset the modem, unless a call is ringing (a getty may hand over)."""
        endpoint.dte_present = False
        if endpoint.incoming is not None:
            return
        self.network.hang_up(endpoint)
        self.network.process_controls()
        endpoint.reset()

    def close(self) -> None:
        """Remove every pty and symlink."""
        for line in self.lines.values():
            line.close()

    @property
    def cpu_percent(self) -> float:
        """CPU used while running, as a percentage of one core."""
        return 100.0 * self.cpu_seconds / self.wall_seconds if self.wall_seconds else 0.0
