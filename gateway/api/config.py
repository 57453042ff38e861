"""Server configuration over HTTP: outgoing queue, archives, receipts, logging, what is in force and from where.

Reading needs QUERY_CONFIG, changing MANAGE_CONFIG. A change is stored in the shared store (every node applies it
within about a second, and again at every start) and announced with a CONFIG event per area.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from gateway.api.models import Problem
from gateway.api.security import REFUSALS, ApiError, require
from gateway.api.settings_models import (
    ArchiveChange,
    ArchiveConfig,
    EffectiveConfig,
    EffectiveValue,
    LoggingOptions,
    LoggingOptionsChange,
    OutgoingQueueChange,
    OutgoingQueueConfig,
    ReceiptOptions,
    ReceiptOptionsChange,
    RetryRuleModel,
)
from gateway.config.runtime import DEVICE_PREFIX, REGISTRATIONS, SECTION_AREAS, RuntimeConfig, SettingError
from gateway.config.sections import ArchiveFolderSection
from gateway.enums import AccessRights
from gateway.intake.auth import Principal

if TYPE_CHECKING:
    from gateway.server import FaxServer

ConfigReader = Annotated[Principal, Depends(require(AccessRights.QUERY_CONFIG, "reading the configuration"))]
ConfigManager = Annotated[Principal, Depends(require(AccessRights.MANAGE_CONFIG, "changing the configuration"))]
INVALID: dict[int | str, dict[str, Any]] = {400: {"model": Problem}, 404: {"model": Problem}}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "Conflicts with the settings in force"}}
router = APIRouter(prefix="/config", tags=["configuration"], responses={**REFUSALS, **INVALID})


def fax_server(request: Request) -> FaxServer:
    """The server this app serves."""
    server: FaxServer = request.app.state.fax_server
    return server


def runtime(request: Request) -> RuntimeConfig:
    """The node's runtime configuration."""
    return fax_server(request).runtime


async def store_changes(request: Request, principal: Principal, changes: dict[str, dict[str, Any]]) -> None:
    """Check every area's change first, then store each (one CONFIG event per area); 400 names what is wrong."""
    server = fax_server(request)
    changes = {area: values for area, values in changes.items() if values}
    try:
        for area, values in changes.items():
            server.runtime.check(area, values)
        for area, values in changes.items():
            await server.runtime.change(server.db, area, values, by=principal.name[:64], events=server.events)
    except SettingError as exc:
        raise ApiError(400, "; ".join(exc.problems)) from None
    except KeyError as exc:
        raise ApiError(404, str(exc.args[0])) from None


def _given(change: Any, names: dict[str, str]) -> dict[str, Any]:
    """The fields a change model carries, renamed from API names to configuration keys."""
    values = change.model_dump(exclude_none=True)
    return {key: values[field] for field, key in names.items() if field in values}


# ----------------------------------------------------------------------------------------------- outgoing queue

_OUTBOX = {"retries": "retries", "retry_delay_s": "retry_delay", "discount_rate_start": "discount_start",
           "discount_rate_end": "discount_end", "age_limit_s": "age_limit", "branding": "branding",
           "branding_format": "branding_format", "use_device_tsid": "use_device_tsid", "max_pages": "max_pages",
           "max_recipients": "max_recipients", "timezone": "timezone"}


def outgoing_queue(server: FaxServer) -> OutgoingQueueConfig:
    """The queue configuration in force on this node."""
    from gateway.queue.scheduler import effective_policy

    outbox = server.config.outbox
    retry = effective_policy(server.config).retry
    rules = {name: RetryRuleModel(delay_s=getattr(retry, name).delay.total_seconds(), max=getattr(retry, name).max)
             for name in type(retry).model_fields}
    return OutgoingQueueConfig(
        retries=outbox.retries, retry_delay_s=outbox.retry_delay.total_seconds(),
        discount_rate_start=outbox.discount_start.strftime("%H:%M"),
        discount_rate_end=outbox.discount_end.strftime("%H:%M"), age_limit_s=outbox.age_limit.total_seconds(),
        branding=outbox.branding, branding_format=outbox.branding_format, use_device_tsid=outbox.use_device_tsid,
        max_pages=outbox.max_pages, max_recipients=outbox.max_recipients, timezone=outbox.timezone,
        retry_rules=rules)  # type: ignore[arg-type]


@router.get("/outgoing-queue", response_model=OutgoingQueueConfig, summary="IFaxOutgoingQueue configuration")
async def get_outgoing_queue(request: Request, _: ConfigReader) -> OutgoingQueueConfig:
    """Retries, retry delay, discount window, age limit, branding and the per-result retry table in force."""
    return outgoing_queue(fax_server(request))


@router.put("/outgoing-queue", response_model=OutgoingQueueConfig, summary="IFaxOutgoingQueue.Save")
async def put_outgoing_queue(request: Request, principal: ConfigManager,
                             change: OutgoingQueueChange) -> OutgoingQueueConfig:
    """Change queue settings on every node; jobs already waiting are rescheduled by the new policy at their next
    retry (the discount window applies to their next call)."""
    server = fax_server(request)
    changes: dict[str, dict[str, Any]] = {"outbox": _given(change, _OUTBOX)}
    if change.retry_rules:
        rows = server.config.outbound.retry.model_dump(mode="json", exclude_unset=True)
        rows.update({name: {"delay": rule.delay_s, "max": rule.max} for name, rule in change.retry_rules.items()})
        changes["outbound"] = {"retry": rows}
    await store_changes(request, principal, changes)
    return outgoing_queue(server)


# ----------------------------------------------------------------------------------------------------- archives

_ARCHIVE = {"use_archive": "enabled", "archive_folder": "folder", "folder_mode": "folder_mode",
            "size_quota_warning": "quota_warning", "high_quota_water_mark": "high_watermark",
            "low_quota_water_mark": "low_watermark", "age_limit_s": "age_limit"}


def _archive(section: ArchiveFolderSection) -> ArchiveConfig:
    return ArchiveConfig(use_archive=section.enabled, archive_folder=str(section.folder or ""),
                         folder_mode=f"{section.folder_mode:04o}", size_quota_warning=section.quota_warning,
                         high_quota_water_mark=section.high_watermark, low_quota_water_mark=section.low_watermark,
                         age_limit_s=section.age_limit.total_seconds())


def _archive_values(change: ArchiveChange) -> dict[str, Any]:
    values = _given(change, _ARCHIVE)
    if values.get("folder") == "":
        values["folder"] = None
    return values


@router.get("/outgoing-archive", response_model=ArchiveConfig, summary="IFaxOutgoingArchive configuration")
async def get_outgoing_archive(request: Request, _: ConfigReader) -> ArchiveConfig:
    """Whether sent faxes are archived, where, for how long, and the size warnings."""
    return _archive(fax_server(request).config.archive.outgoing)


@router.put("/outgoing-archive", response_model=ArchiveConfig, summary="IFaxOutgoingArchive.Save")
async def put_outgoing_archive(request: Request, principal: ConfigManager, change: ArchiveChange) -> ArchiveConfig:
    """Change the outgoing archive on every node (a new folder is used for the next sent fax)."""
    await store_changes(request, principal, {"archive.outgoing": _archive_values(change)})
    return _archive(fax_server(request).config.archive.outgoing)


@router.get("/incoming-archive", response_model=ArchiveConfig, summary="IFaxIncomingArchive configuration")
async def get_incoming_archive(request: Request, _: ConfigReader) -> ArchiveConfig:
    """Whether received faxes are archived, where, for how long, and the size warnings."""
    return _archive(fax_server(request).config.archive.incoming)


@router.put("/incoming-archive", response_model=ArchiveConfig, summary="IFaxIncomingArchive.Save")
async def put_incoming_archive(request: Request, principal: ConfigManager, change: ArchiveChange) -> ArchiveConfig:
    """Change the incoming archive on every node (a new folder is used for the next received fax)."""
    await store_changes(request, principal, {"archive.incoming": _archive_values(change)})
    return _archive(fax_server(request).config.archive.incoming)


# ----------------------------------------------------------------------------------------------------- receipts

_RECEIPTS = {"enabled": "enabled", "smtp_server": "smtp_host", "smtp_port": "smtp_port", "smtp_sender": "sender",
             "security": "security", "smtp_user": "username", "smtp_password": "password", "attach_fax": "attach_fax",
             "group_broadcast_receipts": "group_broadcast", "use_for_inbound_routing": "use_for_inbound_routing"}


def _receipts(server: FaxServer) -> ReceiptOptions:
    section = server.config.receipts
    return ReceiptOptions(enabled=section.enabled, smtp_server=section.smtp_host, smtp_port=section.smtp_port,
                          smtp_sender=section.sender, security=section.security, smtp_user=section.username,
                          has_password=bool(section.password), attach_fax=section.attach_fax,
                          group_broadcast_receipts=section.group_broadcast,
                          use_for_inbound_routing=section.use_for_inbound_routing)


@router.get("/receipts", response_model=ReceiptOptions, summary="IFaxReceiptOptions")
async def get_receipts(request: Request, _: ConfigReader) -> ReceiptOptions:
    """The smarthost that carries receipts; the password is never shown."""
    return _receipts(fax_server(request))


@router.put("/receipts", response_model=ReceiptOptions, summary="IFaxReceiptOptions.Save", responses=CONFLICT)
async def put_receipts(request: Request, principal: ConfigManager, change: ReceiptOptionsChange) -> ReceiptOptions:
    """Change the receipt options on every node (used by the next receipt sent); 409 when a password would cross
    a connection without TLS and the configuration file does not allow that."""
    section = fax_server(request).config.receipts
    security = change.security or section.security
    password = section.password if change.smtp_password is None else change.smtp_password
    if password and security == "none" and not section.allow_cleartext_password:
        raise ApiError(409, 'the SMTP password would be sent in clear text with security = "none": use "starttls" or '
                            '"tls" (or allow_cleartext_password = true in the file, for a trusted wire only)')
    await store_changes(request, principal, {"receipts": _given(change, _RECEIPTS)})
    return _receipts(fax_server(request))


# ------------------------------------------------------------------------------------------------------ logging

def _logging(server: FaxServer) -> LoggingOptions:
    section = server.config.logging
    return LoggingOptions(init_events_level=section.events.init, inbound_events_level=section.events.inbound,
                          outbound_events_level=section.events.outbound, general_events_level=section.events.general,
                          format=section.format)


@router.get("/logging", response_model=LoggingOptions, summary="IFaxLoggingOptions")
async def get_logging(request: Request, _: ConfigReader) -> LoggingOptions:
    """The event thresholds per category and the log line format."""
    return _logging(fax_server(request))


@router.put("/logging", response_model=LoggingOptions, summary="IFaxLoggingOptions.Save")
async def put_logging(request: Request, principal: ConfigManager, change: LoggingOptionsChange) -> LoggingOptions:
    """Change logging on every node at once (no restart)."""
    server = fax_server(request)
    values: dict[str, Any] = {}
    levels = {category: getattr(change, f"{category}_events_level")
              for category in ("init", "inbound", "outbound", "general")}
    if any(level is not None for level in levels.values()):
        events = server.config.logging.events.model_dump()
        events.update({category: level for category, level in levels.items() if level is not None})
        values["events"] = events
    if change.format is not None:
        values["format"] = change.format
    await store_changes(request, principal, {"logging": values})
    return _logging(server)


# ---------------------------------------------------------------------------------------------------- in force

def effective_config(rt: RuntimeConfig) -> EffectiveConfig:
    """What a loaded runtime configuration has in force (the API and `faxgate config effective --offline`)."""
    return EffectiveConfig(values=[EffectiveValue(path=item.path, value=item.value,
                                                  source=item.source,  # type: ignore[arg-type]
                                                  updated_by=item.updated_by, updated_at=item.updated_at)
                                   for item in rt.effective()], problems=dict(sorted(rt.problems.items())))


@router.get("/effective", response_model=EffectiveConfig, summary="The configuration in force, by source")
async def get_effective(request: Request, _: ConfigReader) -> EffectiveConfig:
    """Every value this node uses and where it came from (default, the TOML file, or the store, set at runtime),
    and the areas whose stored values this node cannot apply."""
    rt = runtime(request)
    await rt.load(fax_server(request).db)
    return effective_config(rt)


AREA_PATTERN = "^(" + "|".join(area.replace(".", r"\.") for area in [*SECTION_AREAS, REGISTRATIONS]) + \
    "|" + DEVICE_PREFIX + r"[A-Za-z0-9_.-]{1,32})$"


@router.delete("/stored", status_code=204, response_class=Response, summary="Forget stored values of an area")
async def delete_stored(request: Request, principal: ConfigManager,
                        area: Annotated[str, Query(pattern=AREA_PATTERN, description="outbox, device:NAME, ...")],
                        key: Annotated[list[str] | None, Query(max_length=50)] = None) -> Response:
    """Drop the values set through the API for an area (or some keys of it): the file's values apply again."""
    server = fax_server(request)
    await server.runtime.reset(server.db, area, key, principal.name[:64], server.events)
    return Response(status_code=204)
