"""`faxgate route test|methods` (dry-run the rules, list the methods) and `faxgate inbox ...`: through the API, or
the config file and the store with --offline."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

import click

from gateway.api.incoming import incoming_model, routing_model
from gateway.api.models import IncomingJob, IncomingRouting, RouteTest
from gateway.api.routing import extension_infos, method_infos
from gateway.api.settings_models import ExtensionInfo, RoutingMethodInfo
from gateway.cli import emit
from gateway.cli_remote import Target, server_options
from gateway.config.runtime import RuntimeConfig
from gateway.enums import JobStatus
from gateway.storage import Database
from gateway.storage import incoming as store
from gateway.textsafe import safe_text
from routing.dryrun import dry_run
from routing.registry import MethodRegistry

if TYPE_CHECKING:
    from gateway.client import AsyncFaxServer

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
@server_options("dry-running the local config's rules when the server is down")
@click.option("--device", "-d", default="", help="Receiving device name (default: the first device).")
@click.option("--did", default="", help="Dialled number (DID/DNIS).")
@click.option("--cid", "caller_id", default="", help="Caller ID number.")
@click.option("--name", "caller_name", default="", help="Caller ID name.")
@click.option("--tsid", default="", help="The sender's station id (TSI).")
@click.option("--subaddress", default="", help="T.30 subaddress.")
@click.option("--at", "at", default=None, help='Reception time, "HH:MM" or "YYYY-MM-DDTHH:MM" (default: now).')
@click.option("--pages", default=1, show_default=True, type=click.IntRange(1, 10_000), help="Pages, for templates.")
@json_option
def route_test(target: Target, device: str, did: str, caller_id: str, caller_name: str, tsid: str,
               subaddress: str, at: str | None, pages: int, as_json: bool) -> None:
    """Show which rules match a call like this and what would be done with the fax (the server's rules in force,
    or with --offline the config file's and the store's)."""
    if target.offline:
        async def work(db: Database) -> RouteTest:
            config = (await _in_force(target, db)).live
            return RouteTest.model_validate(dry_run(
                config, device=device, did=did, caller_id=caller_id, caller_name=caller_name, tsid=tsid,
                subaddress=subaddress, received_at=_when(at, config.inbound.timezone), pages=pages))

        data = target.with_db(work)
    else:
        async def fetch(server: AsyncFaxServer) -> RouteTest:
            routing = server.inbound_routing
            when = _when(at, (await routing.get_rules()).timezone) if at else None
            return await routing.test_route(device=device, did=did, caller_id=caller_id, caller_name=caller_name,
                                            tsid=tsid, subaddress=subaddress, at=when, pages=pages)

        data = target.call(fetch)
    fax = data.fax
    lines = [f"call to {safe_text(did or '-', 40)} from {safe_text(caller_id or '-', 40)} "
             f"{safe_text(caller_name, 60)} (TSID {safe_text(tsid or '-', 40)}) on {safe_text(fax.device or '-', 40)}"]
    for check in data.rules:
        mark = "MATCH" if check.matched else ("skip " if check.skipped else "no   ")
        lines.append(f"  {mark} {check.rule}: {'; '.join(check.reasons)}")
    lines.append(f"decision: {data.why}")
    for delivery in data.deliveries:
        lines.append(f"  {delivery.priority}. {delivery.method} ({delivery.rule}): {delivery.action}")
    lines.extend(f"  note: {note}" for note in data.notes)
    emit(data.model_dump(), as_json, "\n".join(lines))


async def _in_force(target: Target, db: Database) -> RuntimeConfig:
    """--offline: the config file with the values set through the API (the store) over it, as a node has them."""
    runtime = RuntimeConfig(target.config, from_file=target.config_path is not None)
    await runtime.load(db)
    return runtime


@route.command("methods")
@server_options("listing the local config's methods when the server is down")
@json_option
def route_methods(target: Target, as_json: bool) -> None:
    """List routing methods in priority order, with where they came from and the devices that use them."""
    if target.offline:
        async def work(db: Database) -> tuple[list[RoutingMethodInfo], list[ExtensionInfo]]:
            runtime = await _in_force(target, db)
            registry = MethodRegistry(runtime.live.inbound, runtime.device_methods)
            registry.start(runtime.registrations("routing"))
            return (method_infos(runtime.live, registry),
                    extension_infos(registry, runtime.registrations("routing")))

        methods, extensions = target.with_db(work)
    else:
        async def fetch(server: AsyncFaxServer) -> tuple[list[RoutingMethodInfo], list[ExtensionInfo]]:
            routing = server.inbound_routing
            return await routing.get_methods(), await routing.get_extensions()

        methods, extensions = target.call(fetch)
    failures = [{"name": e.name, "source": e.source, "status": e.status, "error": e.init_error}
                for e in extensions if e.init_error]
    text = "\n".join(f"{m.priority:>3}  {m.name:<10} {m.guid}  {m.friendly_name}  "
                     f"devices: {', '.join(m.devices) or '-'}" for m in methods)
    text += "".join(f"\nFAILED {f['name']} ({f['source']}): {safe_text(f['error'], 300)}" for f in failures)
    emit({"methods": [m.model_dump() for m in methods], "failed": failures}, as_json, text)


def _summary(job: IncomingJob) -> dict[str, Any]:
    """A received fax for --json output (the same from the API or the store)."""
    return {
        "id": job.id, "device": job.device_name, "received_at": job.transmission_start,
        "received": datetime.fromtimestamp(job.transmission_start, UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "status": str(JobStatus(job.status).name).lower(), "extended_status": job.extended_status.upper(),
        "caller_id": job.caller_id, "caller_name": job.caller_name, "did": job.routing_information,
        "tsid": job.tsid, "csid": job.csid, "subaddress": job.subaddress, "pages": job.pages, "reason": job.reason,
        "routing_status": job.routing_status, "routing_retries": job.retries,
        "next_routing_at": job.next_routing_at, "routed_at": job.routed_at, "quality": job.quality,
        "archive_path": job.archive_path, "size": job.size,
    }


@click.group()
def inbox() -> None:
    """Received faxes: list, show, route again, delete (IFaxIncomingArchive)."""


@inbox.command("list")
@server_options("reading received faxes when the server is down")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 500),
              help="At most this many, newest first.")
@json_option
def inbox_list(target: Target, limit: int, as_json: bool) -> None:
    """List received faxes, newest first."""
    if target.offline:
        async def work(db: Database) -> list[IncomingJob]:
            async with db.transaction() as conn:
                return [incoming_model(r) for r in await store.list_jobs(conn, limit=limit)]

        found = target.with_db(work)
    else:
        async def fetch(server: AsyncFaxServer) -> list[IncomingJob]:
            return (await server.folders.incoming_archive.get_messages(limit)).jobs

        found = target.call(fetch)
    rows = [_summary(job) for job in found]
    text = "\n".join(
        f"{r['id']:>6}  {r['received']}  {r['device']:<8} {r['status']:<16} {r['pages']:>3}p  "
        f"from {safe_text(r['caller_id'] or r['tsid'] or '-', 24):<24} to {safe_text(r['did'] or '-', 12):<12} "
        f"{safe_text(r['routing_status'], 60)}" for r in rows) or "no received faxes"
    emit(rows, as_json, text)


@inbox.command("show")
@server_options("reading received faxes when the server is down")
@click.argument("job_id", type=int)
@click.option("--log", "with_log", is_flag=True, help="Include the call's session log.")
@json_option
def inbox_show(target: Target, job_id: int, with_log: bool, as_json: bool) -> None:
    """Show one received fax: the call, the routing decision and every delivery."""
    if target.offline:
        async def work(db: Database) -> tuple[IncomingJob, IncomingRouting] | None:
            async with db.transaction() as conn:
                record = await store.get(conn, job_id)
                if record is None:
                    return None
                return incoming_model(record), routing_model(record, await store.deliveries(conn, job_id))

        found = target.with_db(work)
    else:
        from gateway.client import FaxApiError

        async def fetch(server: AsyncFaxServer) -> tuple[IncomingJob, IncomingRouting] | None:
            archive = server.folders.incoming_archive
            try:
                return await archive.get_message(job_id), await archive.get_routing(job_id)
            except FaxApiError as exc:
                if exc.status == 404:
                    return None
                raise

        found = target.call(fetch)
    if found is None:
        click.echo(f"no received fax {job_id}", err=True)
        sys.exit(1)
    job, routing = found
    data = _summary(job)
    data["decision"] = routing.decision
    data["deliveries"] = [d.model_dump() for d in routing.deliveries]
    if with_log:
        data["session_log"] = routing.session_log
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
@server_options("routing again when the server is down")
@click.argument("job_id", type=int)
@json_option
def inbox_reroute(target: Target, job_id: int, as_json: bool) -> None:
    """Route a received fax again with the rules as they are now (every method runs again)."""
    if target.offline:
        async def work(db: Database) -> bool:
            async with db.transaction() as conn:
                return await store.reroute(conn, job_id, datetime.now(UTC).timestamp())

        done = target.with_db(work)
    else:
        done = target.call(_remote_or_missing(lambda server: server.folders.incoming_archive.reroute(job_id)))
    emit({"id": job_id, "rerouted": done}, as_json,
         f"fax {job_id} will be routed again" if done else f"no received fax {job_id} with pages to route")
    if not done:
        sys.exit(1)


@inbox.command("delete")
@server_options("deleting when the server is down")
@click.argument("job_id", type=int)
@json_option
def inbox_delete(target: Target, job_id: int, as_json: bool) -> None:
    """Delete a received fax and its stored TIFF (copies already delivered stay where they went)."""
    if target.offline:
        async def work(db: Database) -> bool:
            async with db.transaction() as conn:
                return await store.delete_job(conn, job_id)

        done = target.with_db(work)
    else:
        done = target.call(_remote_or_missing(lambda server: server.folders.incoming_archive.delete(job_id)))
    emit({"id": job_id, "deleted": done}, as_json, f"fax {job_id} deleted" if done else f"no received fax {job_id}")
    if not done:
        sys.exit(1)


def _remote_or_missing(action: Callable[[AsyncFaxServer], Awaitable[None]]
                       ) -> Callable[[AsyncFaxServer], Awaitable[bool]]:
    """True when the server did it, False when it has no such fax (404); any other refusal is raised."""
    from gateway.client import FaxApiError

    async def run(server: AsyncFaxServer) -> bool:
        try:
            await action(server)
        except FaxApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    return run
