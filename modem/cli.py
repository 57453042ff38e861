"""``faxgate modem``: probe a modem, send one fax, receive one fax (no queue), printing JSON."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from modem.at import AtChannel, AtTimeout, ModemGone
from modem.faxtiff import FaxTiffWriter, read_fax_tiff
from modem.port import ModemPort
from modem.probe import PROFILES, probe
from modem.provider import Class1Device, DeviceConfig, SendJob, serial_opener
from modem.result import CallResult, ExtendedStatus
from modem.serialport import DEFAULT_LOCK_DIR, SerialModemPort
from modem.sessionlog import SessionLog

_port_option = click.option("--port", "port_path", required=True, help="Serial device or pty of the modem.")
_lock_option = click.option(
    "--lock-dir",
    type=click.Path(path_type=Path),
    default=DEFAULT_LOCK_DIR,
    show_default=True,
    help="UUCP lock directory shared with other programs using the line.",
)
_profile_option = click.option(
    "--profile", type=click.Choice(sorted(PROFILES)), default="generic", show_default=True, help="Init profile."
)
_log_option = click.option("--log", "show_log", is_flag=True, help="Print the session log to stderr.")


@click.group()
def modem() -> None:
    """Fax modems (Class 1): probe, send or receive one fax."""


def _emit(data: dict[str, Any]) -> None:
    click.echo(json.dumps(data, sort_keys=True))


def _emit_result(result: CallResult, show_log: bool) -> None:
    if show_log:
        click.echo("\n".join(result.session_log), err=True)
    _emit(result.to_json())
    if not result.ok:
        sys.exit(1)


@modem.command("probe")
@_port_option
@_lock_option
def probe_command(port_path: str, lock_dir: Path) -> None:
    """Identify the modem and list its Class 1 modulations."""

    async def run() -> dict[str, Any]:
        port: ModemPort = await SerialModemPort.open(port_path, lock_dir=lock_dir)
        try:
            at = AtChannel(port, SessionLog(port.clock.now, port_path))
            return (await probe(at)).to_json()
        finally:
            await port.close()

    try:
        _emit(asyncio.run(run()))
    except (AtTimeout, OSError) as exc:
        _emit({"error": f"the modem on {port_path} is not available: {exc}"})
        sys.exit(1)


def _combined(files: tuple[Path, ...], workdir: Path) -> Path:
    """One TIFF of all pages of ``files`` (the engine sends one document per call)."""
    if len(files) == 1:
        return files[0]
    path = workdir / "document.tif"
    with FaxTiffWriter(path, compression="g4") as writer:
        for file in files:
            for page in read_fax_tiff(file):
                writer.add_page(page.bitmap, yres=page.yres)
    return path


@modem.command("send")
@_port_option
@_lock_option
@_profile_option
@_log_option
@click.option("--to", "number", required=True, help="Number to dial (dial string).")
@click.option("--tsid", default="", help="This station's identifier (TSI), up to 20 characters.")
@click.option("--max-rate", type=click.Choice(["2400", "4800", "7200", "9600", "12000", "14400"]), default="14400")
@click.option("--no-ecm", is_flag=True, help="Do not use error correction mode.")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def send_command(
    port_path: str,
    lock_dir: Path,
    profile: str,
    show_log: bool,
    number: str,
    tsid: str,
    max_rate: str,
    no_ecm: bool,
    files: tuple[Path, ...],
) -> None:
    """Send FILE... (fax TIFFs) in one call and print the result as JSON."""
    config = DeviceConfig(name=port_path, profile=PROFILES[profile])
    device = Class1Device(config, serial_opener(port_path, lock_dir=lock_dir))

    async def run() -> CallResult:
        with tempfile.TemporaryDirectory(prefix="faxgate-send-") as workdir:
            job = SendJob(
                dial_string=number,
                tiff_path=str(_combined(files, Path(workdir))),
                tsid=tsid,
                max_bit_rate=int(max_rate),
                ecm=not no_ecm,
            )
            try:
                return await device.send(job, _status_to_stderr)
            finally:
                await device.close()

    _emit_result(asyncio.run(run()), show_log)


@modem.command("receive")
@_port_option
@_lock_option
@_profile_option
@_log_option
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--csid", default="", help="This station's identifier (CSI), up to 20 characters.")
@click.option("--rings", default=1, show_default=True, help="Answer after this many rings.")
@click.option("--wait", default=3600.0, show_default=True, help="Seconds to wait for a call.")
def receive_command(
    port_path: str,
    lock_dir: Path,
    profile: str,
    show_log: bool,
    out_dir: Path,
    csid: str,
    rings: int,
    wait: float,
) -> None:
    """Wait for one call, answer it, store the fax in OUT and print the result as JSON."""
    config = DeviceConfig(name=port_path, profile=PROFILES[profile], csid=csid, rings_to_answer=rings)
    device = Class1Device(config, serial_opener(port_path, lock_dir=lock_dir))

    async def run() -> CallResult:
        try:
            try:
                call = await device.wait_for_call(timeout=wait)
            except TimeoutError:
                return CallResult(status=ExtendedStatus.NO_ANSWER, reason=f"no call came in within {wait:.0f} s")
            except (AtTimeout, ModemGone, OSError) as exc:
                return CallResult(status=ExtendedStatus.LINE_UNAVAILABLE, reason=f"the modem is not available: {exc}")
            return await device.answer(call, out_dir, csid)
        finally:
            await device.close()

    _emit_result(asyncio.run(run()), show_log)


def _status_to_stderr(status: ExtendedStatus, page: int) -> None:
    """Progress for people watching the command."""
    suffix = f" page {page}" if page and status == ExtendedStatus.TRANSMITTING else ""
    click.echo(f"{status.name.lower()}{suffix}", err=True)
