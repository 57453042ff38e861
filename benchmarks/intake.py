"""Intake benchmark: faxgate's SMTP listener against a bare aiosmtpd handler that only writes each mail to a file
and fsyncs it (the library's own limit for durable acceptance), same mail, same client, same run.

    .venv/bin/python -m benchmarks.intake [--messages N] [--concurrency C[,C...]] [--rounds R]

Each server runs in its own process; the client (aiosmtplib, C connections each sending mails back to back)
runs here, once for each C (by default 1 connection, then 4). The mail is a one-page PDF attached to a short
text, to NUMBER@fax.localhost from 127.0.0.1 (local submission). faxgate's figure includes what it does
before 250: parse the mail (options, documents), check the recipient number, and commit the raw mail and the
submission to SQLite (WAL, synchronous=FULL).
Reported: accepted messages/s and p50/p99 time-to-250 per mail (MAIL FROM to the DATA reply) for every
round and the best round of each server. Rounds alternate between the servers, so each pair of rounds saw
about the same machine load; the ratios are the medians of the per-pair ratios (faxgate / bare for
throughput, bare / faxgate for p99: 1.0 means as fast as the bare handler, above 1 faster). The last line
is one JSON object with the figures and ratios per concurrency, and the worst ratios over all of them.

Both servers run stock aiosmtpd (faxgate only raises its documented line_length_limit so that bare-LF mail
gets through); the ratios show what faxgate's own work before 250 costs. Target: at least 0.6.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import Any

import aiosmtplib

RECIPIENT = "2015550123@fax.localhost"
SENDER = "bench@example.com"


def one_page_pdf_mail() -> bytes:
    """A typical fax mail: a short note and a one-page PDF with text and a filled box."""
    pymupdf: Any = importlib.import_module("pymupdf")
    document = pymupdf.open()
    page = document.new_page(width=595, height=842)
    for line in range(40):
        page.insert_text((72, 80 + line * 18), f"Line {line}: invoice 4711, total 1234.56, please pay by Friday.",
                         fontsize=11)
    page.draw_rect(pymupdf.Rect(72, 800, 300, 830), color=(0, 0, 0), fill=(0, 0, 0))
    pdf: bytes = document.tobytes(deflate=True)
    document.close()
    message = EmailMessage()
    message["From"] = f"Bench <{SENDER}>"
    message["To"] = f'"Accounts" <{RECIPIENT}>'
    message["Subject"] = "Invoice 4711"
    message.set_content("Please find the invoice attached.\n")
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename="invoice.pdf")
    return message.as_bytes(policy=SMTP_POLICY)


# --- the two servers, each run as `python -m benchmarks.intake --serve KIND --dir DIR` ---------------------------

async def serve_bare(folder: Path) -> None:
    """aiosmtpd with a handler that writes each message to its own file and fsyncs it before 250."""
    from aiosmtpd.smtp import SMTP, Envelope, Session

    class FsyncHandler:
        count = 0

        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
            self.count += 1
            path = folder / f"{os.getpid()}-{self.count}.eml"
            with path.open("wb") as out:
                out.write(envelope.original_content or b"")
                out.flush()
                os.fsync(out.fileno())
            return "250 OK"

    handler = FsyncHandler()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, hostname="bare.test"), "127.0.0.1", 0)
    await _ready_and_wait(server)


async def serve_faxgate(folder: Path) -> None:
    """faxgate's SmtpListener alone (no render or queue workers) on SQLite in `folder`."""
    from gateway.config import parse_config
    from gateway.intake.smtp import SmtpListener
    from gateway.storage import Database

    config = parse_config({"server": {"data_dir": str(folder)}, "smtp": {"listen": "127.0.0.1:0"}})
    db = Database(config.database_url)
    await db.migrate()
    listener = SmtpListener(config, db)
    await listener.start()
    assert listener._servers
    await _ready_and_wait(listener._servers[0])
    await listener.stop()
    await db.close()


async def _ready_and_wait(server: asyncio.Server) -> None:
    """Print the port for the parent, then serve until SIGTERM."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
    await stop.wait()
    server.close()


# --- the client ---------------------------------------------------------------------------------------------------

async def _connection(port: int, message: bytes, count: int, times: list[float]) -> None:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=60, start_tls=False)
    await client.connect()
    try:
        for _ in range(count):
            started = time.perf_counter()
            errors, reply = await client.sendmail(SENDER, [RECIPIENT], message)
            times.append(time.perf_counter() - started)
            if errors or not reply.startswith(("OK", "2.0.0")):
                raise RuntimeError(f"not accepted: {errors} {reply}")
    finally:
        await client.quit()


async def load(port: int, message: bytes, messages: int, concurrency: int) -> dict[str, float]:
    """Send `messages` mails over `concurrency` connections; throughput and latency."""
    times: list[float] = []
    per_connection = [messages // concurrency + (1 if i < messages % concurrency else 0) for i in range(concurrency)]
    started = time.perf_counter()
    await asyncio.gather(*(_connection(port, message, count, times) for count in per_connection if count))
    elapsed = time.perf_counter() - started
    ordered = sorted(times)
    return {
        "msgs_per_s": round(len(times) / elapsed, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
    }


class Server:
    """One server process of the benchmark."""

    def __init__(self, kind: str, folder: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.intake", "--serve", kind, "--dir", str(folder)],
            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("READY "):
            self.process.kill()
            raise RuntimeError(f"{kind} server did not start: {line!r}")
        self.port = int(line.split()[1])

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)


async def run(messages: int, concurrency: int, rounds: int) -> dict[str, Any]:
    message = one_page_pdf_mail()
    results: dict[str, list[dict[str, float]]] = {"bare": [], "faxgate": []}
    with tempfile.TemporaryDirectory(prefix="faxgate-bench-") as folder:
        for kind in results:
            (Path(folder) / kind).mkdir()
        print(f"-- {concurrency} connection(s), {messages} mails a round", flush=True)
        servers = {kind: Server(kind, Path(folder) / kind) for kind in results}
        try:
            for server in servers.values():
                await load(server.port, message, min(40, messages), concurrency)  # warm-up
            for _ in range(rounds):
                for kind, server in servers.items():
                    figures = await load(server.port, message, messages, concurrency)
                    results[kind].append(figures)
                    print(f"{kind:12} {figures['msgs_per_s']:8.1f} msg/s  p50 {figures['p50_ms']:7.2f} ms  "
                          f"p99 {figures['p99_ms']:7.2f} ms", flush=True)
        finally:
            for server in servers.values():
                server.stop()
    best = {kind: max(rows, key=lambda row: row["msgs_per_s"]) for kind, rows in results.items()}
    pairs = list(zip(results["faxgate"], results["bare"], strict=True))
    return {
        "message_bytes": len(message),
        "messages": messages,
        "concurrency": concurrency,
        "rounds": [{kind: rows[index] for kind, rows in results.items()} for index in range(len(pairs))],
        "bare_aiosmtpd_fsync": best["bare"],
        "faxgate": best["faxgate"],
        "throughput_ratio": round(statistics.median(fax["msgs_per_s"] / bare["msgs_per_s"] for fax, bare in pairs), 3),
        "p99_ratio": round(statistics.median(bare["p99_ms"] / fax["p99_ms"] for fax, bare in pairs), 3),
        "best_round_throughput_ratio": round(best["faxgate"]["msgs_per_s"] / best["bare"]["msgs_per_s"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--concurrency", default="1,4", help="connections, or a comma-separated list")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--serve", choices=["bare", "faxgate"], help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve_faxgate(args.dir) if args.serve == "faxgate" else serve_bare(args.dir))
        return
    runs = [asyncio.run(run(args.messages, int(concurrency), args.rounds))
            for concurrency in args.concurrency.split(",")]
    report = {
        "benchmark": "intake",
        "runs": runs,
        "throughput_ratio": min(entry["throughput_ratio"] for entry in runs),
        "p99_ratio": min(entry["p99_ratio"] for entry in runs),
        "target_ratio": 0.6,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
