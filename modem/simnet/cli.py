"""``faxgate simline``: run the simulated telephone line with soft-modems on ptys and remote fax machines."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from pathlib import Path
from typing import Any

import click

from modem import faxtiff
from modem.simnet.layout import DEFAULT_LAYOUT, Layout, LayoutError, default_layout, load_layout
from modem.simnet.network import SimNetwork
from modem.simnet.realtime import RealTimeRunner
from modem.simnet.spec import RemoteCallRecord


@click.group()
def simline() -> None:
    """Simulated telephone line: spandsp soft-modems on ptys and remote fax machines on numbers."""


@simline.command("layout")
def show_layout() -> None:
    """Print the built-in layout as TOML (a starting point for --config)."""
    click.echo(DEFAULT_LAYOUT, nl=False)


@simline.command("run")
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="TOML layout (default: the built-in demo layout, see `faxgate simline layout`).",
)
@click.option("--speed", type=float, default=None, help="Pace factor (1 = real time).")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default="./faxgate-data/simline",
    help="Where remote machines keep what they receive, and the logs.",
)
@click.option(
    "--call",
    "calls",
    multiple=True,
    metavar="FROM:TO:TIFF",
    help="After 5 s, remote machine FROM calls modem number TO and sends TIFF (repeatable).",
)
@click.option("--seconds", type=float, default=None, help="Stop after this many seconds (default: Ctrl-C).")
def run(
    config_path: str | None, speed: float | None, data_dir: str, calls: tuple[str, ...], seconds: float | None
) -> None:
    """Run the line until interrupted; prints call progress and one JSON line per finished call."""
    try:
        layout = load_layout(config_path) if config_path else default_layout()
    except (LayoutError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    if speed is not None:
        layout.speed = speed
    asyncio.run(_serve(layout, Path(data_dir), list(calls), seconds))


async def _serve(layout: Layout, data_dir: Path, calls: list[str], seconds: float | None) -> None:
    network = layout.build(workdir=data_dir / "calls")
    runner = RealTimeRunner(
        network,
        {modem.name: modem.pty for modem in layout.modems},
        speed=layout.speed,
        xonxoff=[modem.name for modem in layout.modems if modem.xonxoff],
    )
    for modem in layout.modems:
        click.echo(f"modem {modem.name} number {modem.number} on {modem.pty} -> {runner.lines[modem.name].slave_path}")
    for number, spec in layout.remotes.items():
        click.echo(f"remote {number}: {_describe(spec)}")
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, runner.stop)
    pacer = asyncio.create_task(runner.run(seconds))
    reporter = asyncio.create_task(_report(network, data_dir))
    starter = asyncio.create_task(_place_calls(network, calls))
    try:
        await pacer
    finally:
        for task in (reporter, starter):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        _report_new(network, data_dir, _Seen())
        runner.close()
        network.close()
        click.echo(
            json.dumps(
                {
                    "cpu_percent_of_one_core": round(runner.cpu_percent, 2),
                    "wall_s": round(runner.wall_seconds, 1),
                    "late_ticks": runner.late_ticks,
                }
            )
        )


class _Seen:
    def __init__(self) -> None:
        self.events = 0
        self.records: set[int] = set()


async def _report(network: SimNetwork, data_dir: Path) -> None:
    seen = _Seen()
    while True:
        await asyncio.sleep(0.5)
        _report_new(network, data_dir, seen)


def _report_new(network: SimNetwork, data_dir: Path, seen: _Seen) -> None:
    for event in network.events[seen.events :]:
        click.echo(event)
    seen.events = len(network.events)
    for remote in network.remotes.values():
        for index, record in enumerate(remote.records):
            if id(record) in seen.records or (record.ended_s == 0.0 and record.outcome == "not answered"):
                continue
            seen.records.add(id(record))
            click.echo(json.dumps(_summary(remote.number, index, record, data_dir)))


def _summary(number: str, index: int, record: RemoteCallRecord, data_dir: Path) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "remote": number,
        "direction": record.direction,
        "peer": record.peer,
        "outcome": record.outcome,
        "completion": record.completion,
        "bit_rate": record.bit_rate,
        "ecm": record.ecm,
        "encoding": record.encoding,
        "resolution": record.resolution,
        "remote_ident": record.remote_ident,
        "pages_received": len(record.pages),
        "pages_sent": record.pages_sent,
    }
    base = data_dir / f"{number}-call{index + 1}"
    if record.pages:
        base.parent.mkdir(parents=True, exist_ok=True)
        fine = record.resolution == "fine"
        faxtiff.write_fax_tiff(base.with_suffix(".tif"), record.pages, fine=fine)
        summary["file"] = str(base.with_suffix(".tif"))
    if record.log:
        base.parent.mkdir(parents=True, exist_ok=True)
        base.with_suffix(".log").write_text("\n".join(record.log) + "\n", encoding="utf-8")
        summary["log"] = str(base.with_suffix(".log"))
    return summary


async def _place_calls(network: SimNetwork, calls: list[str]) -> None:
    if not calls:
        return
    await asyncio.sleep(5.0)
    for call in calls:
        try:
            source, target, path = call.split(":", 2)
            pages = list(faxtiff.read_fax_tiff(path))
        except (ValueError, OSError, faxtiff.FaxTiffError) as exc:
            click.echo(f"cannot place call {call!r}: {exc}", err=True)
            continue
        remote = network.remotes.get(source)
        if remote is None:
            click.echo(f"no remote machine {source}", err=True)
            continue
        remote.call(target, [page.bitmap for page in pages], fine=bool(pages and pages[0].fine))


def _describe(spec: Any) -> str:
    behaviour = []
    for name in ("busy", "never_answer", "no_dial_tone", "not_fax"):
        if getattr(spec, name):
            behaviour.append(name.replace("_", " "))
    if spec.busy_first_calls:
        behaviour.append(f"busy for {spec.busy_first_calls} calls")
    if not behaviour:
        behaviour.append(f"answers after {spec.answer_after_rings} rings")
    ecm = "ECM" if spec.ecm else "no ECM"
    return f"{', '.join(behaviour)}; {'/'.join(spec.modems)}, {'/'.join(spec.compressions)}, {ecm}"
