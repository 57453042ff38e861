"""`faxgate submit`, `faxgate jobs ...` and `faxgate queue ...`: the outgoing queue from the command line.

They work on the shared store directly, so they act on every node's queue at once.
"""

from __future__ import annotations

import getpass
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import click

from gateway.cli import config_from_option, config_option, emit, with_db
from gateway.config import FaxgateConfig
from gateway.enums import JobOperations, JobStatus, Priority, ScheduleType
from gateway.model import OutgoingJob
from gateway.numbers import NumberError, NumberPolicy
from gateway.queue import controls
from gateway.queue.activity import xferfaxlog
from gateway.storage import Database
from gateway.storage import jobs as store

T = TypeVar("T")
_FILTERS: dict[str, list[int]] = {
    "active": [*map(int, store.WAITING), *map(int, store.ACTIVE), *(int(s | JobStatus.PAUSED) for s in store.WAITING)],
    "failed": [int(JobStatus.RETRIES_EXCEEDED)],
    "done": [int(JobStatus.COMPLETED), int(JobStatus.CANCELED)],
}



def job_json(job: OutgoingJob) -> dict[str, Any]:
    """A job for --json output, statuses by Windows name and value."""
    return {
        "id": job.id, "submission_id": job.submission_id, "number": job.recipient_number,
        "name": job.recipient_name, "status": controls.describe(job), "status_code": job.status,
        "extended_status": job.ext_status.name.lower(), "extended_status_code": job.extended_status,
        "reason": job.extended_status_text, "priority": job.job_priority.name.lower(), "bulk": job.bulk,
        "pages": job.pages, "pages_sent": job.pages_sent, "retries": job.retries, "dials": job.dials,
        "next_attempt_at": job.next_attempt_at, "submitted_at": job.submitted_at, "device": job.device_name,
        "remote_csid": job.remote_csid, "route": job.route, "final_at": job.final_at,
        "operations": [str(op.name).lower() for op in JobOperations if op & controls.available_operations(job)],
    }


def _line(job: OutgoingJob) -> str:
    when = datetime.fromtimestamp(job.next_attempt_at).strftime("%m-%d %H:%M")
    return (f"{job.id:>6}  {job.recipient_number:<16} {controls.describe(job):<22} {job.ext_status.name.lower():<15}"
            f" {job.pages_sent}/{job.pages:<4} tries {job.dials:<3} next {when}  {job.extended_status_text[:40]}")


@click.command()
@config_option
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--to", "numbers", multiple=True, required=True, help="Fax number (repeat for a broadcast).")
@click.option("--priority", type=click.Choice(["low", "normal", "high"]), default="normal")
@click.option("--at", "send_at", help='Send at a local time: "2026-11-23 20:30" or "20:30"; or "discount".')
@click.option("--receipt", default="", help="Mail the receipt to this address.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def submit(config_path: Path | None, files: tuple[Path, ...], numbers: tuple[str, ...], priority: str,
           send_at: str | None, receipt: str, as_json: bool) -> None:
    """Queue FILES as one fax to each --to number."""
    from gateway.queue.submit import (
        FileToFax,
        QueueBlocked,
        Recipient,
        files_as_mail,
        resolve_recipients,
        submit_files,
        submit_options,
    )

    config = config_from_option(config_path)
    try:
        recipients = resolve_recipients(NumberPolicy(config.numbers), [Recipient(n) for n in numbers],
                                        ["international"])
    except NumberError as exc:
        click.echo(f"faxgate submit: {exc.reason}", err=True)
        sys.exit(2)
    schedule, when = _schedule(send_at, config)
    options = submit_options(Priority[priority.upper()], schedule, when, receipt=bool(receipt), cover=False)
    raw = files_as_mail([FileToFax(path.name, path.read_bytes()) for path in files],
                        receipt or "faxgate-cli@localhost", files[0].name)

    async def work(db: Database) -> str:
        async with db.transaction() as conn:
            try:
                return await submit_files(conn, config, source="cli", principal="cli", envelope_from=receipt,
                                          recipients=recipients, raw=raw, subject=files[0].name, options=options)
            except QueueBlocked as exc:
                raise click.ClickException(str(exc)) from exc

    submission_id = with_db(config, work)
    emit({"submission_id": submission_id, "recipients": [r["number"] for r in recipients]}, as_json,
         f"queued as submission {submission_id} to {', '.join(r['number'] for r in recipients)}")


def _schedule(send_at: str | None, config: FaxgateConfig) -> tuple[ScheduleType, float | None]:
    if not send_at:
        return ScheduleType.NOW, None
    if send_at.lower() == "discount":
        return ScheduleType.DISCOUNT_PERIOD, None
    zone = ZoneInfo(config.outbox.timezone)
    now = datetime.now(zone)
    for fmt in ("%Y-%m-%d %H:%M", "%H:%M"):
        try:
            parsed = datetime.strptime(send_at, fmt)
        except ValueError:
            continue
        if fmt == "%H:%M":
            moment = now.replace(hour=parsed.hour, minute=parsed.minute, second=0, microsecond=0)
            if moment < now:
                moment += timedelta(days=1)
        else:
            moment = parsed.replace(tzinfo=zone)
        return ScheduleType.SPECIFIC_TIME, moment.timestamp()
    raise click.BadParameter(f'expected "YYYY-MM-DD HH:MM", "HH:MM" or "discount", got {send_at!r}', param_hint="--at")


@click.group()
def jobs() -> None:
    """Outgoing jobs: list, show, and control them (Windows IFaxOutgoingJob)."""


@jobs.command("list")
@config_option
@click.option("--state", type=click.Choice(["all", "active", "failed", "done"]), default="all")
@click.option("--submission", default=None, help="Only the jobs of one submission.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_jobs(config_path: Path | None, state: str, submission: str | None, as_json: bool) -> None:
    """List jobs, oldest first."""
    config = config_from_option(config_path)

    async def work(db: Database) -> list[OutgoingJob]:
        async with db.transaction() as conn:
            return await store.list_jobs(conn, statuses=_FILTERS.get(state), submission_id=submission)

    found = with_db(config, work)
    emit([job_json(job) for job in found], as_json, "\n".join(_line(job) for job in found) or "no jobs")


@jobs.command("show")
@config_option
@click.argument("job_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show(config_path: Path | None, job_id: int, as_json: bool) -> None:
    """One job with every call made for it."""
    config = config_from_option(config_path)

    async def work(db: Database) -> dict[str, Any]:
        async with db.transaction() as conn:
            job = await store.get_job(conn, job_id)
            if job is None:
                raise click.ClickException(f"there is no job {job_id}")
            calls = await store.list_attempts(conn, job_id=job_id)
        data = job_json(job)
        data["attempts"] = [{"device": a.device_name, "started_at": a.started_at, "ended_at": a.ended_at,
                             "result": _ext_name(a.extended_status), "reason": a.reason, "pages_sent": a.pages_sent,
                             "start_page": a.start_page, "bit_rate": a.bit_rate, "ecm": a.ecm,
                             "remote_csid": a.remote_csid, "dialed": a.dialed, "call_id": a.call_id}
                            for a in calls]
        return data

    data = with_db(config, work)
    text = "\n".join(f"{key}: {value}" for key, value in data.items() if key != "attempts")
    for attempt in data["attempts"]:
        started = datetime.fromtimestamp(attempt["started_at"]).strftime("%Y-%m-%d %H:%M:%S")
        text += (f"\n  call {started} on {attempt['device']}: {attempt['result']} ({attempt['reason']}), "
                 f"pages {attempt['start_page'] + 1}..{attempt['start_page'] + attempt['pages_sent']} confirmed")
    emit(data, as_json, text)


def _ext_name(value: int) -> str:
    from gateway.enums import ExtendedStatus

    try:
        return ExtendedStatus(value).name.lower()
    except ValueError:
        return str(value)


def _control(name: str, action: Callable[..., Awaitable[OutgoingJob]], helptext: str) -> None:
    @jobs.command(name, help=helptext)
    @config_option
    @click.argument("job_ids", type=int, nargs=-1, required=True)
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    def command(config_path: Path | None, job_ids: tuple[int, ...], as_json: bool) -> None:
        config = config_from_option(config_path)

        async def work(db: Database) -> list[dict[str, Any]]:
            results = []
            for job_id in job_ids:
                try:
                    async with db.transaction() as conn:
                        if action is controls.restart_job:
                            job = await controls.restart_job(conn, job_id, time.time(), config)
                        elif action is controls.cancel_job:
                            job = await controls.cancel_job(conn, job_id, time.time(), by=getpass.getuser())
                        else:
                            job = await action(conn, job_id, time.time())
                    results.append({"id": job_id, "ok": True, "status": controls.describe(job)})
                except controls.JobControlError as exc:
                    results.append({"id": job_id, "ok": False, "error": str(exc)})
            return results

        results = with_db(config, work)
        emit(results, as_json, "\n".join(f"job {r['id']}: {r.get('status') or r.get('error')}" for r in results))
        if not all(r["ok"] for r in results):
            sys.exit(1)


_control("pause", controls.pause_job, "Hold waiting jobs.")
_control("resume", controls.resume_job, "Let paused jobs go again.")
_control("cancel", controls.cancel_job, "Cancel jobs (a job being sent stops at the next page boundary).")
_control("restart", controls.restart_job, "Send jobs whose retries ran out again.")


@jobs.command("copy")
@config_option
@click.argument("job_id", type=int)
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["tiff", "pdf"]), default=None,
              help="Default: from OUT's suffix.")
def copy(config_path: Path | None, job_id: int, out: Path, fmt: str | None) -> None:
    """Copy a job's fax out as TIFF Class F or PDF (CopyTiff)."""
    config = config_from_option(config_path)
    chosen = fmt or ("pdf" if out.suffix.lower() == ".pdf" else "tiff")

    async def work(db: Database) -> bytes:
        async with db.transaction() as conn:
            try:
                return await controls.job_document(conn, job_id, chosen)
            except controls.JobControlError as exc:
                raise click.ClickException(str(exc)) from exc

    out.write_bytes(with_db(config, work))
    click.echo(f"job {job_id} written to {out} ({chosen})")


@jobs.command("log")
@config_option
@click.option("--since", type=float, default=None, help="Only calls started at or after this UNIX time.")
def activity_log(config_path: Path | None, since: float | None) -> None:
    """The activity log of every call, in HylaFAX xferfaxlog format."""
    config = config_from_option(config_path)

    async def work(db: Database) -> list[str]:
        async with db.transaction() as conn:
            return await xferfaxlog(conn, since=since, timezone=config.outbox.timezone)

    for line in with_db(config, work):
        click.echo(line)


@click.group()
def queue() -> None:
    """The outgoing queue as a whole (IFaxOutgoingQueue Paused and Blocked)."""


def _switch(name: str, helptext: str, **change: bool) -> None:
    @queue.command(name, help=helptext)
    @config_option
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    def command(config_path: Path | None, as_json: bool) -> None:
        config = config_from_option(config_path)

        async def work(db: Database) -> dict[str, Any]:
            async with db.transaction() as conn:
                if change:
                    switches = await controls.set_switches(conn, time.time(), config, **change)
                else:
                    switches = await controls.queue_switches(conn, config)
                queued, sending = await controls.queue_counts(conn)
            return {**switches, "queued": queued, "sending": sending}

        data = with_db(config, work)
        emit(data, as_json, f"queue {'paused' if data['paused'] else 'running'}, submissions "
                            f"{'blocked' if data['blocked'] else 'accepted'}; {data['queued']} queued, "
                            f"{data['sending']} sending")


_switch("pause", "Stop sending (jobs stay queued).", paused=True)
_switch("resume", "Send again.", paused=False)
_switch("block", "Refuse new submissions.", blocked=True)
_switch("unblock", "Accept new submissions again.", blocked=False)
_switch("status", "Show the switches and counts.")
