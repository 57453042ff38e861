"""Load: N fax lines at real time, each sending and receiving continuously; the largest N with nothing failed or lost.

Two processes, so their CPU is measured apart (from /proc/PID/stat, over the steady window):
- the telephone side (``benchmarks.lines_sim``): N spandsp soft-modems on ptys at real time and, per line, a
  remote machine that calls that line as soon as both are idle (2 fine text pages; it rests 1-5 s after each of
  its calls, so the line alternates: receive, then the send that waited, then the next call) and a remote
  machine that faxgate sends to;
- ``faxgate serve`` with a generated config: N Class 1 ``[[devices]]`` on those ptys answering after 1 ring, a
  folder rule storing every received fax as TIFF, and the outgoing queue kept full over SMTP (one open job per
  destination, a text mail with a cover page: 2 pages). A line sends whenever it is not receiving, except for the
  3 s after each call that ``[outbound] receive_window`` leaves to callers (without it a full queue keeps every line
  dialling and callers hear busy all along).
After ``--minutes`` the callers stop and the queue is paused; calls in flight finish, then both stop.

Per N it counts, from both sides: failed calls (connected and not completed, either direction; busy and
unanswered attempts are counted apart, they are not failures), lost pages (pages the sender had confirmed that
the receiver did not keep: the remote's confirmed pages vs faxgate's stored faxes and the TIFFs in the folder;
faxgate's confirmed pages vs the remote's received pages), and lines that completed no call in a direction.
N is clean when all of these are zero; N steps up the list until one is not. The last line is one JSON object:
max_lines_clean, faxgate's CPU per line (% of one core) and the simulator's CPU (% of one core), per N.

    .venv/bin/python -m benchmarks.lines [--lines 4,8,12,16,20] [--minutes 10] [--pages 2]

Target: at least 16 lines on a 2-core machine. ``--hangup-after-pages K`` makes line 0's remote machines drop
the line after K pages (both directions): a check that failures are counted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.lines_sim import SUMMARY, caller_ident, caller_number, dest_number, modem_name
from gateway.config import load_config
from gateway.enums import ExtendedStatus, JobStatus
from gateway.storage import Database
from gateway.storage import incoming as incoming_store
from gateway.storage import jobs as jobs_store
from tests.support.net import free_port

ROOT = Path(__file__).resolve().parent.parent
TARGET_LINES = 16
OPEN_JOBS_PER_DEST = 1
POLL_S = 2.0
PR_SET_PDEATHSIG = 1
NOT_CONNECTED = {"busy": "busy", "no answer": "no_answer", "no dial tone": "no_dial_tone"}
"""Remote outcomes of calls that never connected (not failures, counted apart)."""
NOT_CONNECTED_STATUS = {ExtendedStatus.BUSY: "busy", ExtendedStatus.NO_ANSWER: "no_answer",
                        ExtendedStatus.NO_DIAL_TONE: "no_dial_tone"}


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it if the benchmark dies, even by SIGKILL (prctl PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its waited-for children, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def config_text(workdir: Path, ports: dict[str, str], smtp_port: int, http_port: int) -> str:
    """faxgate's config: one class1 device per pty, a folder rule, short retries, nothing mailed."""
    devices = "".join(
        f'[[devices]]\nname = "{name}"\nprovider = "class1"\nport = "{port}"\ntsid = "FAXGATE {name}"\n'
        f'csid = "FAXGATE {name}"\nreceive_mode = "auto"\nrings_before_answer = 1\n\n'
        for name, port in ports.items())
    return (
        f'[server]\ndata_dir = "{workdir / "data"}"\nnode_id = "lines-benchmark"\nshutdown_grace = "30s"\n\n'
        f'[http]\nlisten = "127.0.0.1:{http_port}"\n\n'
        f'[smtp]\nlisten = "127.0.0.1:{smtp_port}"\n\n'
        '[receipts]\nenabled = false\n\n'
        '[outbox]\nretry_delay = "10s"\n\n'
        '[outbound]\nmax_batch_jobs = 1\npoll_interval = "1s"\nreceive_window = "3s"\n\n'
        '[outbound.retry]\nbusy = { delay = "5s", max = 50 }\nno_answer = { delay = "5s", max = 10 }\n'
        'protocol = { delay = "5s", max = 3 }\n\n'
        '[inbound]\nnotify_admin = "never"\npoll_interval = "1s"\n\n'
        f'[[inbound.rules]]\nname = "store"\nfolder = {{ path = "{workdir / "received"}", format = "tiff" }}\n\n'
        f"{devices}")


def judge(lines: int, sim: dict[str, Any], attempts: list[dict[str, Any]], incoming: list[dict[str, Any]],
          folder_pages: list[int]) -> dict[str, Any]:
    """Failed calls, lost pages and idle lines from the remote machines' records and faxgate's store.

    ``attempts``: faxgate's calls (device, dialed, status: an ExtendedStatus name, pages_sent);
    ``incoming``: faxgate's received faxes (device, tsid, caller_id, pages, completed); ``folder_pages``: the
    page count of each TIFF the folder rule wrote. A received fax is matched to its caller by the caller's TSI.
    """
    records = sim["records"]
    unconnected: Counter[str] = Counter()
    remote_failed = {"in": 0, "out": 0}
    for record in records:
        direction = "in" if record["role"] == "caller" else "out"
        if record["outcome"] in NOT_CONNECTED:
            unconnected[f"{direction}_{NOT_CONNECTED[record['outcome']]}"] += 1
        elif record["outcome"] != "completed":
            remote_failed[direction] += 1
    faxgate_failed = {"in": sum(not fax["completed"] for fax in incoming), "out": 0}
    for attempt in attempts:
        status = ExtendedStatus[attempt["status"]]
        if status in NOT_CONNECTED_STATUS:
            unconnected[f"out_faxgate_{NOT_CONNECTED_STATUS[status]}"] += 1
        elif status != ExtendedStatus.CALL_COMPLETED:
            faxgate_failed["out"] += 1
    failed = {side: max(remote_failed[side], faxgate_failed[side]) for side in ("in", "out")}

    sent_in = _sum_by(records, "remote", "pages_sent", role="caller")
    callers = {caller_ident(line): caller_number(line) for line in range(lines)}
    by_caller = ({**fax, "caller": callers.get(fax["tsid"], fax["tsid"])} for fax in incoming)
    stored_in = _sum_by(by_caller, "caller", "pages")
    confirmed_out = _sum_by(attempts, "dialed", "pages_sent")
    received_out = _sum_by(records, "remote", "pages_received", role="dest")
    lost_in = sum(max(0, pages - stored_in.get(number, 0)) for number, pages in sent_in.items())
    lost_out = sum(max(0, pages - received_out.get(number, 0)) for number, pages in confirmed_out.items())
    kept_with_pages = [fax["pages"] for fax in incoming if fax["pages"] > 0]
    lost_in_folder = max(0, sum(kept_with_pages) - sum(folder_pages))

    received_on = {fax["device"] for fax in incoming if fax["completed"]}
    sent_on = {a["device"] for a in attempts if a["status"] == ExtendedStatus.CALL_COMPLETED.name}
    names = [modem_name(line) for line in range(lines)]
    idle = {"no_receive": [n for n in names if n not in received_on], "no_send": [n for n in names if n not in sent_on]}
    figures: dict[str, Any] = {
        "calls_in": sum(r["role"] == "caller" and r["outcome"] == "completed" for r in records),
        "calls_out": sum(r["role"] == "dest" and r["outcome"] == "completed" for r in records),
        "pages_in": sum(stored_in.values()), "pages_out": sum(received_out.values()),
        "failed_calls": failed["in"] + failed["out"], "failed_in": failed["in"], "failed_out": failed["out"],
        "failed_seen_by_remote": remote_failed, "failed_seen_by_faxgate": faxgate_failed,
        "not_connected": dict(sorted(unconnected.items())),
        "lost_pages": lost_in + lost_out + lost_in_folder, "lost_in": lost_in, "lost_out": lost_out,
        "lost_in_folder": lost_in_folder, "folder_files": len(folder_pages), "faxes_with_pages": len(kept_with_pages),
        "caller_id_missing": sum(not fax["caller_id"] for fax in incoming), "lines_idle": idle,
        "drained": sim["drained"], "occupancy_pct": sim["occupancy_pct"],
        "late_ticks": sim["late_ticks"],
    }
    figures["clean"] = (figures["failed_calls"] == 0 and figures["lost_pages"] == 0 and not idle["no_receive"]
                        and not idle["no_send"] and sim["drained"])
    return figures


def _sum_by(rows: Iterable[dict[str, Any]], key: str, value: str, role: str | None = None) -> Counter[str]:
    totals: Counter[str] = Counter()
    for row in rows:
        if role is None or row.get("role") == role:
            totals[row[key]] += row[value]
    return totals


class Run:
    """One N: the simulator, faxgate serve, the feeder, then the counts."""

    def __init__(self, lines: int, minutes: float, workdir: Path, pages: int, hangup_after_pages: int | None) -> None:
        self.lines = lines
        self.pages = pages
        self.minutes = minutes
        self.workdir = workdir
        self.hangup_after_pages = hangup_after_pages
        self.sim: subprocess.Popen[str] | None = None
        self.serve: subprocess.Popen[bytes] | None = None
        self.config = workdir / "faxgate.toml"
        self.smtp_port = free_port()
        self.http_port = free_port()
        self.submitted: Counter[str] = Counter()

    async def run(self) -> dict[str, Any]:
        """Start both processes, keep traffic flowing for the window, drain, stop, count."""
        try:
            ports = self._start_simulator()
            self.config.write_text(config_text(self.workdir, ports, self.smtp_port, self.http_port))
            self._start_serve()
            assert self.sim is not None and self.serve is not None
            db = Database(load_config(self.config).database_url)
            try:
                cpu_start = proc_cpu_seconds(self.serve.pid), proc_cpu_seconds(self.sim.pid)
                started = time.monotonic()
                self.sim.send_signal(signal.SIGUSR1)
                problem = await self._feed(db, started + self.minutes * 60.0)
                cpu_end = proc_cpu_seconds(self.serve.pid), proc_cpu_seconds(self.sim.pid)
                window = time.monotonic() - started
                self.sim.send_signal(signal.SIGUSR2)
                self._faxgate("queue", "pause")
                sim_summary = await self._wait_for_summary()
                await self._wait_for_routing(db)
            finally:
                await db.close()
            self._stop(self.serve, 60.0)
            attempts, incoming = await self._read_store()
        finally:
            for proc in (self.serve, self.sim):
                self._stop(proc, 20.0)
        folder = sorted((self.workdir / "received").glob("*.tif*"))
        figures = judge(self.lines, sim_summary, attempts, incoming, [_tiff_pages(path) for path in folder])
        if problem:
            figures["clean"] = False
            figures["problem"] = problem
        serve_cpu, sim_cpu = (end - start for end, start in zip(cpu_end, cpu_start, strict=True))
        return {"lines": self.lines, "window_s": round(window, 1),
                "faxgate_cpu_pct": round(100.0 * serve_cpu / window, 1),
                "faxgate_cpu_per_line_pct": round(100.0 * serve_cpu / window / self.lines, 2),
                "simulator_cpu_pct": round(100.0 * sim_cpu / window, 1),
                "simulator_cpu_per_line_pct": round(100.0 * sim_cpu / window / self.lines, 2), **figures}

    def _start_simulator(self) -> dict[str, str]:
        args = [sys.executable, "-m", "benchmarks.lines_sim", "--lines", str(self.lines), "--dir", str(self.workdir),
                "--pages", str(self.pages), "--max-seconds", str(self.minutes * 60.0 + 1800.0)]
        if self.hangup_after_pages is not None:
            args += ["--hangup-after-pages", str(self.hangup_after_pages)]
        self.sim = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=(self.workdir / "sim.log").open("w"),
                                    text=True, start_new_session=True, preexec_fn=_die_with_parent)
        assert self.sim.stdout is not None
        ready, _, _ = select.select([self.sim.stdout], [], [], 60.0)
        line = self.sim.stdout.readline() if ready else ""
        if not line:
            raise RuntimeError(f"the simulator did not start: {(self.workdir / 'sim.log').read_text()[-2000:]}")
        return dict(json.loads(line)["ports"])

    def _start_serve(self) -> None:
        log = (self.workdir / "serve.log").open("w")
        self.serve = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--config", str(self.config)],
                                      cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                      preexec_fn=_die_with_parent)
        deadline = time.monotonic() + 90.0
        while time.monotonic() < deadline:
            if self.serve.poll() is not None:
                raise RuntimeError(f"faxgate serve exited: {(self.workdir / 'serve.log').read_text()[-2000:]}")
            url = f"http://127.0.0.1:{self.http_port}/health"
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError("faxgate serve did not become healthy")

    async def _feed(self, db: Database, until: float) -> str:
        """Keep one open job per destination until ``until``; returns why the run broke off ("" if it did not)."""
        while time.monotonic() < until:
            for name, proc in (("faxgate serve", self.serve), ("the simulator", self.sim)):
                if proc is not None and proc.poll() is not None:
                    return f"{name} exited with {proc.returncode}"
            async with db.transaction() as conn:
                jobs = await jobs_store.list_jobs(conn, limit=1_000_000)
            made = Counter(job.recipient_number for job in jobs)
            still_open = Counter(job.recipient_number for job in jobs if not job.job_status.is_final)
            for line in range(self.lines):
                number = dest_number(line)
                waiting = self.submitted[number] - made[number] + still_open[number]
                for _ in range(OPEN_JOBS_PER_DEST - waiting):
                    await self._submit(number)
            await asyncio.sleep(POLL_S)
        return ""

    async def _submit(self, number: str) -> None:
        message = EmailMessage()
        message["From"] = "load@localhost"
        message["To"] = f"{number}@fax.localhost"
        message["Subject"] = f"load test {self.submitted[number] + 1} to {number}"
        message.set_content("A line of text for the load benchmark.\n" * 40)
        await aiosmtplib.send(message, hostname="127.0.0.1", port=self.smtp_port, timeout=60)
        self.submitted[number] += 1

    async def _wait_for_summary(self) -> dict[str, Any]:
        path = self.workdir / SUMMARY
        deadline = time.monotonic() + 400.0
        while not path.exists():
            if time.monotonic() > deadline or (self.sim is not None and self.sim.poll() is not None):
                raise RuntimeError("the simulator wrote no summary")
            await asyncio.sleep(1.0)
        return dict(json.loads(path.read_text()))

    async def _wait_for_routing(self, db: Database) -> None:
        """Give the folder rule time to store what arrived last (bounded)."""
        deadline = time.monotonic() + 120.0
        while time.monotonic() < deadline:
            async with db.transaction() as conn:
                faxes = await incoming_store.list_jobs(conn, limit=1_000_000)
            if all(record.job.routed_at is not None or record.job.pages == 0 for record in faxes):
                return
            await asyncio.sleep(1.0)

    async def _read_store(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        db = Database(load_config(self.config).database_url)
        try:
            async with db.transaction() as conn:
                attempts = await jobs_store.list_attempts(conn)
                faxes = await incoming_store.list_jobs(conn, limit=1_000_000)
        finally:
            await db.close()
        return (
            [{"device": a.device_name, "dialed": a.dialed, "pages_sent": a.pages_sent,
              "status": ExtendedStatus(a.extended_status).name} for a in attempts],
            [{"device": r.job.device_name, "tsid": r.job.remote_tsid, "caller_id": r.job.caller_id,
              "pages": r.job.pages,
              "completed": JobStatus(r.job.status).base != JobStatus.FAILED
              and r.job.extended_status != ExtendedStatus.PARTIALLY_RECEIVED} for r in faxes],
        )

    def _faxgate(self, *args: str) -> None:
        subprocess.run([sys.executable, "-m", "gateway", *args, "--config", str(self.config)], cwd=ROOT,
                       check=True, capture_output=True, timeout=60)

    @staticmethod
    def _stop(proc: subprocess.Popen[Any] | None, grace: float) -> None:
        """SIGTERM the process group, SIGKILL it if it has not gone after ``grace`` seconds."""
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _tiff_pages(path: Path) -> int:
    with Image.open(path) as image:
        return int(getattr(image, "n_frames", 1))


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 1) if values else 0.0


def _line(figure: dict[str, Any]) -> str:
    return (f"N={figure['lines']:<3} {'clean' if figure['clean'] else 'NOT CLEAN'}  calls in/out "
            f"{figure['calls_in']}/{figure['calls_out']}  pages in/out {figure['pages_in']}/{figure['pages_out']}  "
            f"failed {figure['failed_in']}/{figure['failed_out']}  lost {figure['lost_pages']}  "
            f"not connected {figure['not_connected']}  faxgate {figure['faxgate_cpu_pct']}% "
            f"({figure['faxgate_cpu_per_line_pct']}%/line)  simulator {figure['simulator_cpu_pct']}%  "
            f"late ticks {figure['late_ticks']}  lines busy {_mean(figure['occupancy_pct'])}%"
            + (f"  ({figure['problem']})" if figure.get("problem") else ""))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", default="4,8,12,16,20", help="Values of N to try, in order.")
    parser.add_argument("--minutes", type=float, default=10.0, help="Steady window per N.")
    parser.add_argument("--pages", type=int, default=2, help="Pages of each call the remote callers make.")
    parser.add_argument("--hangup-after-pages", type=int, default=None, help="Fault: line 0's remotes drop calls.")
    parser.add_argument("--keep", action="store_true", help="Keep the work folders (logs, store) and print them.")
    args = parser.parse_args()
    task = asyncio.current_task()
    if task is not None:  # SIGTERM: unwind, so every child is stopped
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    per_n: list[dict[str, Any]] = []
    for lines in (int(value) for value in args.lines.split(",")):
        workdir = Path(tempfile.mkdtemp(prefix=f"faxgate-lines-{lines}-"))
        try:
            figure = await Run(lines, args.minutes, workdir, args.pages, args.hangup_after_pages).run()
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            print(f"N={lines}: the run broke off: {exc}", flush=True)
            per_n.append({"lines": lines, "clean": False, "problem": str(exc)})
            break
        finally:
            if args.keep:
                print(f"work folder: {workdir}", flush=True)
            else:
                shutil.rmtree(workdir, ignore_errors=True)
        per_n.append(figure)
        print(_line(figure), flush=True)
        if not figure["clean"]:
            break
    clean = [figure for figure in per_n if figure["clean"]]
    best = clean[-1] if clean else None
    print(json.dumps({
        "benchmark": "lines", "max_lines_clean": best["lines"] if best else 0,
        "faxgate_cpu_per_line_pct": best["faxgate_cpu_per_line_pct"] if best else None,
        "simulator_cpu_pct": best["simulator_cpu_pct"] if best else None,
        "per_n": per_n, "minutes": args.minutes, "target_lines": TARGET_LINES,
        "meets_target": bool(best and best["lines"] >= TARGET_LINES)}, sort_keys=True))


if __name__ == "__main__":
    asyncio.run(main())
