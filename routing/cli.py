"""`faxgate route test|methods` (dry-run the rules) and `faxgate inbox list|show|reroute|delete`."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import click

from gateway.cli import config_from_option, config_option, emit, with_db
from gateway.enums import ExtendedStatus, JobStatus
from gateway.storage import Database
from gateway.storage import incoming as store
from gateway.textsafe import safe_text
from routing.dryrun import dry_run
from routing.registry import MethodRegistry

T = TypeVar("T")
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def _when(value: str | None, zone: str) -> float:
    """"2026-11-18T10:30", "10:30" (today) or nothing (now), in the rules' time zone."""
    tz = ZoneInfo(zone)
    if not value:
        return datetime.now(UTC).timestamp()
    try:
        if len(value) <= 5:
            hour, minute = (int(part) for part in value.split(":"))
            return datetime.now(tz).replace(hour=hour, minute=minute, second=0, microsecond=0).timestamp()
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"expected HH:MM or YYYY-MM-DDTHH:MM, got {value!r}", param_hint="--at") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)).timestamp()


@click.group()
def route() -> None:
    """Inbound routing rules and methods."""


@route.command("test")
@config_option
@click.option("--device", "-d", default="", help="Receiving device name (default: the first device).")
@click.option("--did", default="", help="Dialled number (DID/DNIS).")
@click.option("--cid", "caller_id", default="", help="Caller ID number.")
@click.option("--name", "caller_name", default="", help="Caller ID name.")
@click.option("--tsid", default="", help="The sender's station id (TSI).")
@click.option("--subaddress", default="", help="T.30 subaddress.")
@click.option("--at", "at", default=None, help='Reception time, "HH:MM" or "YYYY-MM-DDTHH:MM" (default: now).')
@click.option("--pages", default=1, show_default=True, help="Pages, for templates.")
@json_option
def route_test(config_path: Path | None, device: str, did: str, caller_id: str, caller_name: str, tsid: str,
               subaddress: str, at: str | None, pages: int, as_json: bool) -> None:
    """Show which rules match a call like this and what would be done with the fax."""
    config = config_from_option(config_path)
    data = dry_run(config, device=device, did=did, caller_id=caller_id, caller_name=caller_name, tsid=tsid,
                   subaddress=subaddress, received_at=_when(at, config.inbound.timezone), pages=pages)
    device = data["fax"]["device"]
    lines = [f"call to {did or '-'} from {caller_id or '-'} {caller_name} (TSID {tsid or '-'}) on {device or '-'}"]
    for check in data["rules"]:
        mark = "MATCH" if check["matched"] else ("skip " if check["skipped"] else "no   ")
        lines.append(f"  {mark} {check['rule']}: {'; '.join(check['reasons'])}")
    lines.append(f"decision: {data['why']}")
    for delivery in data["deliveries"]:
        lines.append(f"  {delivery['priority']}. {delivery['method']} ({delivery['rule']}): {delivery['action']}")
    lines.extend(f"  note: {note}" for note in data["notes"])
    emit(data, as_json, "\n".join(lines))


@route.command("methods")
@config_option
@json_option
def route_methods(config_path: Path | None, as_json: bool) -> None:
    """List routing methods in priority order, with where they came from and the devices that use them."""
    config = config_from_option(config_path)
    registry = MethodRegistry(config.inbound)
    registry.discover()
    rows: list[dict[str, Any]] = [{"priority": registry.priority(m), "name": m.name, "guid": m.guid,
                                   "friendly_name": m.friendly_name,
             "devices": [d.name for d in config.devices if registry.enabled_on(m, d.name)]}
            for m in registry.ordered()]
    failures = [{"name": load.name, "source": load.source, "status": load.status.name, "error": load.error}
                for load in registry.loads if load.error]
    text = "\n".join(f"{r['priority']:>3}  {r['name']:<10} {r['guid']}  {r['friendly_name']}  "
                     f"devices: {', '.join(r['devices']) or '-'}" for r in rows)
    text += "".join(f"\nFAILED {f['name']} ({f['source']}): {f['error']}" for f in failures)
    emit({"methods": rows, "failed": failures}, as_json, text)



def _summary(record: store.IncomingRecord) -> dict[str, Any]:
    job = record.job
    return {
        "id": job.id, "device": job.device_name, "received_at": job.received_at,
        "received": datetime.fromtimestamp(job.received_at, UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "status": str(JobStatus(job.status).name).lower(), "extended_status": ExtendedStatus(job.extended_status).name,
        "caller_id": job.caller_id, "caller_name": job.caller_name, "did": job.did, "tsid": job.remote_tsid,
        "csid": job.csid, "subaddress": record.subaddress, "pages": job.pages, "reason": job.reason,
        "routing_status": job.routing_status, "routing_retries": job.routing_retries,
        "next_routing_at": job.next_routing_at, "routed_at": job.routed_at, "quality": job.quality,
        "archive_path": record.archive_path, "size": record.size,
    }


@click.group()
def inbox() -> None:
    """Received faxes: list, show, route again, delete."""


@inbox.command("list")
@config_option
@click.option("--limit", default=50, show_default=True, help="At most this many, newest first.")
@json_option
def inbox_list(config_path: Path | None, limit: int, as_json: bool) -> None:
    """List received faxes, newest first."""
    config = config_from_option(config_path)

    async def work(db: Database) -> list[dict[str, Any]]:
        async with db.transaction() as conn:
            return [_summary(r) for r in await store.list_jobs(conn, limit=limit)]

    rows = with_db(config, work)
    text = "\n".join(
        f"{r['id']:>6}  {r['received']}  {r['device']:<8} {r['status']:<16} {r['pages']:>3}p  "
        f"from {safe_text(r['caller_id'] or r['tsid'] or '-', 24):<24} to {safe_text(r['did'] or '-', 12):<12} "
        f"{safe_text(r['routing_status'], 60)}" for r in rows) or "no received faxes"
    emit(rows, as_json, text)


@inbox.command("show")
@config_option
@click.argument("job_id", type=int)
@click.option("--log", "with_log", is_flag=True, help="Include the call's session log.")
@json_option
def inbox_show(config_path: Path | None, job_id: int, with_log: bool, as_json: bool) -> None:
    """Show one received fax: the call, the routing decision and every delivery."""
    config = config_from_option(config_path)

    async def work(db: Database) -> dict[str, Any] | None:
        async with db.transaction() as conn:
            record = await store.get(conn, job_id)
            if record is None:
                return None
            data = _summary(record)
            data["decision"] = record.decision
            data["deliveries"] = [
                {"key": d.key, "method": d.method_name, "state": d.state, "attempts": d.attempts,
                 "last_error": d.last_error, "detail": d.detail, "delivered_at": d.delivered_at}
                for d in await store.deliveries(conn, job_id)]
            if with_log:
                data["session_log"] = record.session_log
            return data

    data = with_db(config, work)
    if data is None:
        click.echo(f"no received fax {job_id}", err=True)
        sys.exit(1)
    lines = [f"{key}: {safe_text(data[key], 200)}" for key in (
        "id", "received", "device", "status", "extended_status", "caller_id", "caller_name", "did", "tsid",
        "csid", "pages", "reason", "routing_status", "archive_path")]
    decision = data["decision"] or {}
    if decision:
        lines.append(f"decision: {safe_text(decision.get('why', ''), 200)}")
        for check in decision.get("checks", []):
            lines.append(f"  {'MATCH' if check['matched'] else 'no   '} {check['rule']}: "
                         f"{safe_text('; '.join(check['reasons']), 200)}")
    for d in data["deliveries"]:
        lines.append(f"  {d['key']}: {d['state']} after {d['attempts']} attempt(s) "
                     f"{safe_text(d['detail'] or d['last_error'], 200)}")
    if with_log:
        lines.append("session log:\n" + data["session_log"])
    emit(data, as_json, "\n".join(lines))


@inbox.command("reroute")
@config_option
@click.argument("job_id", type=int)
@json_option
def inbox_reroute(config_path: Path | None, job_id: int, as_json: bool) -> None:
    """Route a received fax again with the rules as they are now (every method runs again)."""
    config = config_from_option(config_path)

    async def work(db: Database) -> bool:
        async with db.transaction() as conn:
            return await store.reroute(conn, job_id, datetime.now(UTC).timestamp())

    done = with_db(config, work)
    emit({"id": job_id, "rerouted": done}, as_json,
         f"fax {job_id} will be routed again" if done else f"no received fax {job_id} with pages to route")
    if not done:
        sys.exit(1)


@inbox.command("delete")
@config_option
@click.argument("job_id", type=int)
@json_option
def inbox_delete(config_path: Path | None, job_id: int, as_json: bool) -> None:
    """Delete a received fax and its stored TIFF (copies already delivered stay where they went)."""
    config = config_from_option(config_path)

    async def work(db: Database) -> bool:
        async with db.transaction() as conn:
            return await store.delete_job(conn, job_id)

    done = with_db(config, work)
    emit({"id": job_id, "deleted": done}, as_json, f"fax {job_id} deleted" if done else f"no received fax {job_id}")
    if not done:
        sys.exit(1)
