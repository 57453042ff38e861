"""Password guesses per second an attacker gets from faxgate's SMTP AUTH, on loopback (run from a checkout's root).

    python -m benchmarks.auth_guessing [--seconds 20] [--connections 40] [--addresses 1]

A listener on the embedded defaults (plus TLS and one user) runs in this process; `connections` threads guess
alice's password over STARTTLS from `addresses` loopback addresses, reconnecting whenever the server closes.
A guess counts when the server checked it (535 or 235); a 421 before the check (a lockout) is not a guess.
"""

from __future__ import annotations

import argparse
import asyncio
import smtplib
import ssl
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import trustme

from gateway.config import parse_config
from gateway.intake.smtp import SmtpListener
from gateway.passwords import hash_password
from gateway.storage import Database
from tests.support.net import free_port


def _guesser(port: int, tls: ssl.SSLContext, source: str, stop: float, counts: dict[str, int],
             lock: threading.Lock) -> None:
    n = 0
    while time.monotonic() < stop:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=30, source_address=(source, 0)) as client:
                client.starttls(context=tls)
                client.ehlo("guess.test")
                while time.monotonic() < stop:
                    n += 1
                    client.user, client.password = "alice", f"guess {source} {n}"
                    try:
                        code, _ = client.auth("PLAIN", client.auth_plain)
                    except smtplib.SMTPAuthenticationError as exc:
                        code = exc.smtp_code
                    with lock:
                        key = "guessed" if code in (235, 535) else f"refused {code}"
                        counts[key] = counts.get(key, 0) + 1
                    if code == 421:
                        break
        except (smtplib.SMTPException, OSError):
            with lock:
                counts["closed"] = counts.get("closed", 0) + 1
            time.sleep(0.05)


async def main(seconds: float, connections: int, addresses: int) -> None:
    ca = trustme.CA()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cert = ca.issue_cert("127.0.0.1")
        cert.private_key_and_cert_chain_pem.write_to_path(str(folder / "cert.pem"))
        cert.private_key_pem.write_to_path(str(folder / "key.pem"))
        config = parse_config({
            "server": {"data_dir": str(folder / "data")},
            "smtp": {"listen": f"127.0.0.1:{free_port()}", "tls_cert": str(folder / "cert.pem"),
                     "tls_key": str(folder / "key.pem")},
            "security": {"users": [{"name": "alice", "password_hash": hash_password("the real one"),
                                    "email": "alice@example.com"}]},
        })
        db = Database(config.database_url)
        await db.migrate()
        listener = SmtpListener(config, db)
        await listener.start()
        assert listener.address is not None
        tls = ssl.create_default_context()
        ca.configure_trust(tls)
        counts: dict[str, int] = {}
        lock = threading.Lock()
        stop = time.monotonic() + seconds
        sources = [f"127.0.{1 + i // 200}.{1 + i % 200}" for i in range(addresses)]
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(max_workers=connections) as pool:
            await asyncio.gather(*(loop.run_in_executor(pool, _guesser, listener.address[1], tls,
                                                        sources[i % addresses], stop, counts, lock)
                                   for i in range(connections)))
        await listener.stop()
        await db.close()
    print(f"{connections} connections from {addresses} address(es), {seconds:g} s: {counts}; "
          f"{counts.get('guessed', 0) / seconds:.2f} guesses/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=40)
    parser.add_argument("--addresses", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.connections, args.addresses))
