"""The telephone side of ``benchmarks.lines``, in a process of its own so that its CPU is measured apart from faxgate's.

N spandsp soft-modems on ptys (``RealTimeRunner``, real time) and, per line i, two remote fax machines: a caller
that calls line i as soon as both are idle (resting a short random time after each of its calls), and a
destination that faxgate sends to.
Signals from ``benchmarks.lines``: SIGUSR1 starts the callers, SIGUSR2 stops new calls (calls in flight finish;
then every remote call record is written to ``DIR/sim-summary.json``), SIGTERM ends the process (the kernel also
sends it when the benchmark dies). It ends by itself after ``--max-seconds``. Not meant to be run by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from modem.simnet import RemoteFaxSpec, SimNetwork
from modem.simnet.realtime import RealTimeRunner
from modem.simnet.spec import RemoteCallRecord
from tests.modem.pages import text_page

MODEM_BASE, CALLER_BASE, DEST_BASE = 5552000, 5553000, 5554000
PAUSE_S = (1.0, 5.0)
"""After each of its calls a caller rests this long (uniformly at random); then it calls as soon as its line is idle,
so the line's next send (the queue is never empty) waits for the line, and the line alternates between directions."""
IDLE_TO_DRAIN_S = 5.0
SUMMARY = "sim-summary.json"


def modem_name(line: int) -> str:
    """faxgate's device name for line ``line`` (also the modem's name on the network)."""
    return f"line{line}"


def modem_number(line: int) -> str:
    """The number faxgate's line answers on."""
    return str(MODEM_BASE + line)


def caller_number(line: int) -> str:
    """The remote machine that keeps calling line ``line``."""
    return str(CALLER_BASE + line)


def caller_ident(line: int) -> str:
    """The caller's TSI: faxgate keeps it with each received fax (caller ID can go missing, the TSI cannot)."""
    return f"CALLER {line}"


def dest_number(line: int) -> str:
    """The remote machine faxgate sends to (any free line may call it)."""
    return str(DEST_BASE + line)


class Traffic:
    """The network, its ptys and the callers' loops."""

    def __init__(self, lines: int, workdir: Path, pages: int, seed: int, hangup_after_pages: int | None) -> None:
        self.lines = lines
        self.workdir = workdir
        self.network = SimNetwork(workdir=workdir / "simnet", seed=seed)
        self.random = random.Random(seed)
        self.pages = [text_page(fine=True, seed=seed + n) for n in range(pages)]
        links: dict[str, str | Path] = {}
        for line in range(lines):
            self.network.add_modem(modem_name(line), modem_number(line))
            links[modem_name(line)] = workdir / "tty" / f"fgl{os.getppid()}-{line}"
            fault = hangup_after_pages if line == 0 else None
            for number, ident in ((caller_number(line), caller_ident(line)), (dest_number(line), f"DEST {line}")):
                spec = RemoteFaxSpec(ident=ident, answer_after_rings=1, hangup_after_pages=fault)
                self.network.add_remote_fax(number, spec)
        self.runner = RealTimeRunner(self.network, links)
        self.go = asyncio.Event()
        self.stop_calling = asyncio.Event()
        self.busy_samples = [0] * lines
        self.samples = 0

    def ports(self) -> dict[str, str]:
        """Device name -> pty path, for faxgate's config."""
        return {name: str(line.link) for name, line in self.runner.lines.items()}

    async def caller(self, line: int) -> None:
        """Call line ``line`` whenever it and the caller are idle, after a short random pause."""
        await self.go.wait()
        modem = self.network.modems[modem_name(line)]
        remote = self.network.remotes[caller_number(line)]
        await asyncio.sleep(self.random.uniform(0.0, PAUSE_S[1]))  # the lines do not start in step
        while not self.stop_calling.is_set():
            if modem.busy or remote.endpoint is not None:
                await asyncio.sleep(0.2)
                continue
            record = remote.call(modem_number(line), self.pages, fine=True, caller_id=caller_number(line))
            while record.outcome == "not answered":
                await asyncio.sleep(0.2)
            await asyncio.sleep(self.random.uniform(*PAUSE_S))

    async def sample_occupancy(self) -> None:
        """Once a second while calls are placed: which lines are in a call."""
        await self.go.wait()
        while not self.stop_calling.is_set():
            self.samples += 1
            for line in range(self.lines):
                self.busy_samples[line] += self.network.modems[modem_name(line)].call is not None
            await asyncio.sleep(1.0)

    def quiet(self) -> bool:
        """No modem dialling, ringing or in a call, and no remote machine in a call."""
        return not any(m.busy for m in self.network.modems.values()) and all(
            r.endpoint is None for r in self.network.remotes.values())

    async def drain(self, limit_s: float) -> bool:
        """After SIGUSR2: wait until the network has been quiet for a few seconds (at most ``limit_s``)."""
        await self.stop_calling.wait()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        quiet_since: float | None = None
        while loop.time() < deadline:
            now = loop.time()
            if self.quiet():
                quiet_since = quiet_since if quiet_since is not None else now
                if now - quiet_since >= IDLE_TO_DRAIN_S:
                    return True
            else:
                quiet_since = None
            await asyncio.sleep(0.5)
        return False

    def summary(self, drained: bool) -> dict[str, Any]:
        """Every remote call record, the lines' occupancy, and the pacer's health."""
        records = []
        for line in range(self.lines):
            for number, role in ((caller_number(line), "caller"), (dest_number(line), "dest")):
                records += [record_json(line, role, number, r) for r in self.network.remotes[number].records]
        occupancy = [round(100.0 * busy / self.samples, 1) if self.samples else 0.0 for busy in self.busy_samples]
        return {"lines": self.lines, "drained": drained, "records": records, "occupancy_pct": occupancy,
                "late_ticks": self.runner.late_ticks, "ticks": self.runner.ticks}


def record_json(line: int, role: str, number: str, record: RemoteCallRecord) -> dict[str, Any]:
    """One remote call as the benchmark counts it."""
    return {"line": line, "role": role, "remote": number, "direction": record.direction, "peer": record.peer,
            "outcome": record.outcome, "completion": record.completion, "pages_sent": record.pages_sent,
            "pages_received": len(record.pages), "bit_rate": record.bit_rate, "ecm": record.ecm,
            "seconds": round(record.ended_s - record.started_s, 1) if record.ended_s else None}


async def serve(args: argparse.Namespace) -> None:
    """Build the line, announce its ports, run until told to stop (or the parent is gone)."""
    workdir = Path(args.dir)
    traffic = Traffic(args.lines, workdir, args.pages, args.seed, args.hangup_after_pages)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, traffic.go.set)
    loop.add_signal_handler(signal.SIGUSR2, traffic.stop_calling.set)
    loop.add_signal_handler(signal.SIGTERM, traffic.runner.stop)
    pacer = asyncio.create_task(traffic.runner.run(args.max_seconds))
    tasks = [asyncio.create_task(traffic.caller(line)) for line in range(args.lines)]
    tasks.append(asyncio.create_task(traffic.sample_occupancy()))
    print(json.dumps({"ready": True, "ports": traffic.ports()}), flush=True)

    async def finish() -> None:
        drained = await traffic.drain(args.drain_seconds)
        target = workdir / SUMMARY
        temporary = target.with_suffix(".tmp")
        temporary.write_text(json.dumps(traffic.summary(drained)), encoding="utf-8")
        temporary.replace(target)

    tasks.append(asyncio.create_task(finish()))
    try:
        await pacer
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        traffic.runner.close()
        traffic.network.close()


def main() -> None:
    """Parse the arguments ``benchmarks.lines`` passes and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--pages", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hangup-after-pages", type=int, default=None)
    parser.add_argument("--drain-seconds", type=float, default=300.0)
    parser.add_argument("--max-seconds", type=float, default=3 * 3600.0)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
