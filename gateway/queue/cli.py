"""`faxgate submit`, `faxgate jobs ...` and `faxgate queue ...`: the outgoing queue from the command line.

They talk to the server through its API (any node: the queue is shared); --offline works on the store directly.
"""

from __future__ import annotations

import getpass
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

import click

from gateway.api.models import OutgoingJob as ApiJob
from gateway.api.models import OutgoingJobDetail
from gateway.api.outgoing import job_detail, job_model
from gateway.cli import emit
from gateway.cli_remote import Target, server_options
from gateway.config import FaxgateConfig
from gateway.enums import JobStatus, Priority, ScheduleType
from gateway.model import OutgoingJob
from gateway.numbers import NumberError, NumberPolicy
from gateway.queue import controls
from gateway.queue.activity import xferfaxlog
from gateway.storage import Database
from gateway.storage import jobs as store

if TYPE_CHECKING:
    from gateway.client import AsyncFaxServer

T = TypeVar("T")
_FILTERS: dict[str, list[int]] = {
    "active": [*map(int, store.WAITING), *map(int, store.ACTIVE), *(int(s | JobStatus.PAUSED) for s in store.WAITING)],
    "failed": [int(JobStatus.RETRIES_EXCEEDED)],
    "done": [int(JobStatus.COMPLETED), int(JobStatus.CANCELED)],
}



def job_json(job: ApiJob) -> dict[str, Any]:
    """A job for --json output, statuses by Windows name and value (the same from the API or the store)."""
    return {
        "id": job.id, "submission_id": job.submission_id, "number": job.recipient.number,
        "name": job.recipient.name, "status": job.queue_status, "status_code": job.status,
        "extended_status": job.extended_status, "extended_status_code": job.extended_status_code,
        "reason": job.extended_status_text, "priority": job.priority, "bulk": job.bulk,
        "pages": job.pages, "pages_sent": job.current_page, "retries": job.retries, "dials": job.dials,
        "next_attempt_at": job.next_attempt_time, "submitted_at": job.submission_time, "device": job.device_name,
        "remote_csid": job.csid, "route": job.route, "final_at": job.final_time,
        "operations": job.available_operations,
    }


def _line(job: dict[str, Any]) -> str:
    when = datetime.fromtimestamp(job["next_attempt_at"]).strftime("%m-%d %H:%M")
    return (f"{job['id']:>6}  {job['number']:<16} {job['status']:<22} {job['extended_status']:<15}"
            f" {job['pages_sent']}/{job['pages']:<4} tries {job['dials']:<3} next {when}  {job['reason'][:40]}")


@click.command()
@server_options("queueing files before the server runs")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--to", "numbers", multiple=True, required=True, help="Fax number (repeat for a broadcast).")
@click.option("--priority", type=click.Choice(["low", "normal", "high"]), default="normal")
@click.option("--at", "send_at", help='Send at a local time: "2026-11-23 20:30" or "20:30"; or "discount".')
@click.option("--receipt", default="", help="Mail the receipt to this address.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def submit(target: Target, files: tuple[Path, ...], numbers: tuple[str, ...], priority: str,
           send_at: str | None, receipt: str, as_json: bool) -> None:
    """Queue FILES as one fax to each --to number (FaxDocument.Submit)."""
    config = target.config
    schedule, when = _schedule(send_at, config)
    if target.offline:
        submission_id, queued = _submit_offline(target, files, numbers, priority, schedule, when, receipt)
    else:
        from gateway.client import FaxApiError, FaxDocument, FaxRecipient

        document = FaxDocument(body=list(files), recipients=[FaxRecipient(number) for number in numbers],
                               subject=files[0].name, priority=priority,  # type: ignore[arg-type]
                               send_at=datetime.fromtimestamp(when, UTC) if when is not None else None,
                               discount=schedule == ScheduleType.DISCOUNT_PERIOD, receipt_address=receipt)

        async def work(server: AsyncFaxServer) -> tuple[str, list[str]]:
            try:
                result = await server.submit(document)
            except FaxApiError as exc:
                if exc.status == 400:
                    click.echo(f"faxgate submit: {exc.detail}", err=True)
                    sys.exit(2)
                raise
            return result.submission_id, [r.number for r in result.recipients]

        submission_id, queued = target.call(work)
    emit({"submission_id": submission_id, "recipients": queued}, as_json,
         f"queued as submission {submission_id} to {', '.join(queued)}")


def _submit_offline(target: Target, files: tuple[Path, ...], numbers: tuple[str, ...], priority: str,
                    schedule: ScheduleType, when: float | None, receipt: str) -> tuple[str, list[str]]:
    """The submission written to the store directly, as the API would write it."""
    from gateway.queue.submit import (
        FileToFax,
        QueueBlocked,
        Recipient,
        files_as_mail,
        resolve_recipients,
        submit_files,
        submit_options,
    )

    config = target.config
    try:
        recipients = resolve_recipients(NumberPolicy(config.numbers), [Recipient(n) for n in numbers],
                                        ["international"])
    except NumberError as exc:
        click.echo(f"faxgate submit: {exc.reason}", err=True)
        sys.exit(2)
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

    return target.with_db(work), [r["number"] for r in recipients]


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
@server_options("reading the queue when the server is down")
@click.option("--state", type=click.Choice(["all", "active", "failed", "done"]), default="all")
@click.option("--submission", default=None, help="Only the jobs of one submission.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_jobs(target: Target, state: str, submission: str | None, as_json: bool) -> None:
    """List jobs, oldest first."""
    wanted = _FILTERS.get(state)
    if target.offline:
        async def work(db: Database) -> list[ApiJob]:
            async with db.transaction() as conn:
                return [job_model(job) for job in await store.list_jobs(conn, statuses=wanted,
                                                                        submission_id=submission)]

        found = target.with_db(work)
    else:
        async def fetch(server: AsyncFaxServer) -> list[ApiJob]:
            return [job.info for job in await server.folders.outgoing_queue.get_jobs(submission, page_size=500)]

        found = [job for job in target.call(fetch) if wanted is None or job.status in wanted]
    rows = [job_json(job) for job in found]
    emit(rows, as_json, "\n".join(_line(row) for row in rows) or "no jobs")


@jobs.command("show")
@server_options("reading the queue when the server is down")
@click.argument("job_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show(target: Target, job_id: int, as_json: bool) -> None:
    """One job with every call made for it."""
    if target.offline:
        async def work(db: Database) -> OutgoingJobDetail:
            async with db.transaction() as conn:
                job = await store.get_job(conn, job_id)
                if job is None:
                    raise click.ClickException(f"there is no job {job_id}")
                return job_detail(job, await store.list_attempts(conn, job_id=job_id))

        detail = target.with_db(work)
    else:
        async def fetch(server: AsyncFaxServer) -> OutgoingJobDetail:
            reply = await server.request("GET", f"/outgoing/jobs/{job_id}")
            return OutgoingJobDetail.model_validate(reply.json())

        detail = target.call(fetch)
    data = job_json(detail)
    data["attempts"] = [{"device": a.device_name, "started_at": a.started_at, "ended_at": a.ended_at,
                         "result": a.result, "reason": a.reason, "pages_sent": a.pages_sent,
                         "start_page": a.start_page, "bit_rate": a.bit_rate, "ecm": a.ecm,
                         "remote_csid": a.remote_csid, "dialed": a.dialed, "call_id": a.call_id}
                        for a in detail.attempts]
    text = "\n".join(f"{key}: {value}" for key, value in data.items() if key != "attempts")
    for attempt in data["attempts"]:
        started = datetime.fromtimestamp(attempt["started_at"]).strftime("%Y-%m-%d %H:%M:%S")
        text += (f"\n  call {started} on {attempt['device']}: {attempt['result']} ({attempt['reason']}), "
                 f"pages {attempt['start_page'] + 1}..{attempt['start_page'] + attempt['pages_sent']} confirmed")
    emit(data, as_json, text)


def _offline_control(name: str, config: FaxgateConfig, conn: Any, job_id: int) -> Awaitable[OutgoingJob]:
    now = time.time()
    if name == "restart":
        return controls.restart_job(conn, job_id, now, config)
    if name == "cancel":
        return controls.cancel_job(conn, job_id, now, by=getpass.getuser())
    action: Callable[[Any, int, float], Awaitable[OutgoingJob]] = getattr(controls, f"{name}_job")
    return action(conn, job_id, now)


def _control(name: str, helptext: str) -> None:
    @jobs.command(name, help=helptext)
    @server_options("controlling jobs when the server is down")
    @click.argument("job_ids", type=int, nargs=-1, required=True)
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    def command(target: Target, job_ids: tuple[int, ...], as_json: bool) -> None:
        if target.offline:
            async def work(db: Database) -> list[dict[str, Any]]:
                results = []
                for job_id in job_ids:
                    try:
                        async with db.transaction() as conn:
                            job = await _offline_control(name, target.config, conn, job_id)
                        results.append({"id": job_id, "ok": True, "status": controls.describe(job)})
                    except controls.JobControlError as exc:
                        results.append({"id": job_id, "ok": False, "error": str(exc)})
                return results

            results = target.with_db(work)
        else:
            from gateway.client import FaxApiError

            async def remote(server: AsyncFaxServer) -> list[dict[str, Any]]:
                results = []
                for job_id in job_ids:
                    try:
                        reply = await server.request("POST", f"/outgoing/jobs/{job_id}/{name}")
                    except FaxApiError as exc:
                        if exc.status in (401, 403):
                            raise
                        results.append({"id": job_id, "ok": False, "error": exc.detail})
                        continue
                    results.append({"id": job_id, "ok": True,
                                    "status": ApiJob.model_validate(reply.json()).queue_status})
                return results

            results = target.call(remote)
        emit(results, as_json, "\n".join(f"job {r['id']}: {r.get('status') or r.get('error')}" for r in results))
        if not all(r["ok"] for r in results):
            sys.exit(1)


_control("pause", "Hold waiting jobs.")
_control("resume", "Let paused jobs go again.")
_control("cancel", "Cancel jobs (a job being sent stops at the next page boundary).")
_control("restart", "Send jobs whose retries ran out again.")


@jobs.command("copy")
@server_options("copying a job's fax when the server is down")
@click.argument("job_id", type=int)
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["tiff", "pdf"]), default=None,
              help="Default: from OUT's suffix.")
def copy(target: Target, job_id: int, out: Path, fmt: str | None) -> None:
    """Copy a job's fax out as TIFF Class F or PDF (CopyTiff)."""
    chosen = fmt or ("pdf" if out.suffix.lower() == ".pdf" else "tiff")
    if target.offline:
        async def work(db: Database) -> bytes:
            async with db.transaction() as conn:
                try:
                    return await controls.job_document(conn, job_id, chosen)
                except controls.JobControlError as exc:
                    raise click.ClickException(str(exc)) from exc

        data = target.with_db(work)
    else:
        async def fetch(server: AsyncFaxServer) -> bytes:
            return (await server.request("GET", f"/outgoing/jobs/{job_id}/{chosen}")).content

        data = target.call(fetch)
    out.write_bytes(data)
    click.echo(f"job {job_id} written to {out} ({chosen})")


@jobs.command("log")
@server_options("reading the log when the server is down")
@click.option("--since", type=float, default=None, help="Only calls started at or after this UNIX time.")
def activity_log(target: Target, since: float | None) -> None:
    """The activity log of every call, in HylaFAX xferfaxlog format."""
    if target.offline:
        async def work(db: Database) -> list[str]:
            async with db.transaction() as conn:
                return await xferfaxlog(conn, since=since, timezone=target.config.outbox.timezone)

        lines = target.with_db(work)
    else:
        async def fetch(server: AsyncFaxServer) -> list[str]:
            return await server.get_activity_log(since)

        lines = target.call(fetch)
    for line in lines:
        click.echo(line)


@click.group()
def queue() -> None:
    """The outgoing queue as a whole (IFaxOutgoingQueue Paused and Blocked)."""


def _switch(name: str, helptext: str, **change: bool) -> None:
    @queue.command(name, help=helptext)
    @server_options("changing the queue before the server runs")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    def command(target: Target, as_json: bool) -> None:
        if target.offline:
            async def work(db: Database) -> dict[str, Any]:
                config = target.config
                async with db.transaction() as conn:
                    if change:
                        switches = await controls.set_switches(conn, time.time(), config, **change)
                    else:
                        switches = await controls.queue_switches(conn, config)
                    queued, sending = await controls.queue_counts(conn)
                return {"paused": switches["paused"], "blocked": switches["blocked"], "queued": queued,
                        "sending": sending}

            data = target.with_db(work)
        else:
            async def remote(server: AsyncFaxServer) -> dict[str, Any]:
                queue = server.folders.outgoing_queue
                state = await (queue.set_state(**change) if change else queue.get_state())
                return state.model_dump()

            data = target.call(remote)
        emit(data, as_json, f"queue {'paused' if data['paused'] else 'running'}, submissions "
                            f"{'blocked' if data['blocked'] else 'accepted'}; {data['queued']} queued, "
                            f"{data['sending']} sending")


_switch("pause", "Stop sending (jobs stay queued).", paused=True)
_switch("resume", "Send again.", paused=False)
_switch("block", "Refuse new submissions.", blocked=True)
_switch("unblock", "Accept new submissions again.", blocked=False)
_switch("status", "Show the switches and counts.")
