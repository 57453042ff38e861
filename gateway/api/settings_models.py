"""The typed documents of the configuration endpoints: queue, archives, receipts, logging, devices, routing.

Each configuration has a read model (every value in force) and a change model (every field optional: an absent one
stays as it is). Durations are seconds, times of day "HH:MM", as in the Windows objects they follow.
"""

from __future__ import annotations

from typing import Annotated, Literal
from zoneinfo import available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from gateway.api.models import WHOLE, OutgoingJob, WholeNumber

ClockText = str
STATION_ID = r"^[\x20-\x7e]*$"
TIME_PATTERN = r"^([01]?[0-9]|2[0-3]):[0-5][0-9]$"
HEADER_FIELDS = ("sent", "date", "time", "tsid", "sender", "recipient", "recipient_name", "page", "pages")
HEADER_PATTERN = r"^(?:[^{}]|\{\{|\}\}|\{(?:" + "|".join(HEADER_FIELDS) + r")\})*$"
"""Text with {field} placeholders ("{{" and "}}" for braces); format specs are a TOML-only matter."""
TIME_ZONES = tuple(sorted(available_timezones()))


def _known_zone(name: str) -> str:
    if name not in TIME_ZONES:
        raise ValueError(f"unknown time zone {name!r}")
    return name


TimeZoneName = Annotated[str, AfterValidator(_known_zone),
                         WithJsonSchema({"type": "string", "enum": list(TIME_ZONES),
                                         "description": "An IANA time zone this server knows"})]
QUOTA_LIMIT = 2**50
"""1 PiB: far beyond any archive, and exact as a JSON number (a bound near 2**62 is not, in a client's doubles)."""
STRICT = ConfigDict(strict=True)
"""Request bodies take JSON types as they are: "retries": "3" or "enabled": 0 is a mistake, not a conversion."""
ReceiveMode = Literal["no_answer", "auto", "manual"]
RetryResultName = Literal["busy", "no_answer", "no_carrier", "no_dial_tone", "protocol", "line_unavailable", "other"]


class RetryRuleModel(BaseModel):
    """A row of the per-result retry table: the delay before the next call, and how many such results are allowed."""

    model_config = STRICT

    delay_s: float = Field(ge=0, le=7 * 86400)
    max: WholeNumber = Field(ge=0, le=1000)


class OutgoingQueueConfig(BaseModel):
    """IFaxOutgoingQueue configuration (Retries, RetryDelay, DiscountRateStart/End, AgeLimit, Branding,
    UseDeviceTSID) with faxgate's per-result retry table."""

    retries: int = Field(description="Retries of a result without a row of its own in retry_rules")
    retry_delay_s: float = Field(description="RetryDelay, for results without a row of their own")
    discount_rate_start: ClockText = Field(examples=["20:00"])
    discount_rate_end: ClockText = Field(examples=["07:00"])
    age_limit_s: float = Field(description="AgeLimit (HylaFAX dirty days): failed jobs are kept this long; 0: always")
    branding: bool
    branding_format: str
    use_device_tsid: bool
    max_pages: int
    max_recipients: int
    timezone: str
    retry_rules: dict[RetryResultName, RetryRuleModel]


class OutgoingQueueChange(BaseModel):
    """The values to change; absent ones stay."""

    model_config = STRICT

    retries: Annotated[int, Field(ge=0, le=100), WHOLE] | None = None
    retry_delay_s: float | None = Field(default=None, ge=0, le=7 * 86400)
    discount_rate_start: ClockText | None = Field(default=None, pattern=TIME_PATTERN)
    discount_rate_end: ClockText | None = Field(default=None, pattern=TIME_PATTERN)
    age_limit_s: float | None = Field(default=None, ge=0, le=3650 * 86400)
    branding: bool | None = None
    branding_format: str | None = Field(default=None, max_length=500, pattern=HEADER_PATTERN,
                                       description="Columns split by |; placeholders: "
                                       + ", ".join(f"{{{name}}}" for name in HEADER_FIELDS))
    use_device_tsid: bool | None = None
    max_pages: Annotated[int, Field(ge=1, le=100000), WHOLE] | None = None
    max_recipients: Annotated[int, Field(ge=1, le=100000), WHOLE] | None = None
    timezone: TimeZoneName | None = None
    retry_rules: dict[RetryResultName, RetryRuleModel] | None = Field(
        default=None, description="Rows to replace; rows not named stay")


class ArchiveConfig(BaseModel):
    """IFaxOutgoingArchive / IFaxIncomingArchive: UseArchive, ArchiveFolder, SizeQuotaWarning, High/LowQuotaWaterMark
    (bytes), AgeLimit."""

    use_archive: bool
    archive_folder: str = Field(description="Empty: the folder under the data directory")
    folder_mode: str = Field(examples=["0700"])
    size_quota_warning: bool
    high_quota_water_mark: int
    low_quota_water_mark: int
    age_limit_s: float


class ArchiveChange(BaseModel):
    """The values to change; absent ones stay."""

    model_config = STRICT

    use_archive: bool | None = None
    archive_folder: str | None = Field(default=None, max_length=1000, pattern=r"^(/[^\x00-\x1f\x7f]*)?$",
                                       description="An absolute path, or empty for the default")
    folder_mode: str | None = Field(default=None, pattern=r"^0?7[0-7]{2}$",
                                    description="Octal; the owner (faxgate) keeps rwx")
    size_quota_warning: bool | None = None
    high_quota_water_mark: Annotated[int, Field(ge=0, le=QUOTA_LIMIT), WHOLE] | None = None
    low_quota_water_mark: Annotated[int, Field(ge=0, le=QUOTA_LIMIT), WHOLE] | None = None
    age_limit_s: float | None = Field(default=None, ge=0, le=3650 * 86400)


class ReceiptOptions(BaseModel):
    """IFaxReceiptOptions: the SMTP server that carries receipts (and faxes routed by e-mail). The password is
    never shown: ``has_password`` says whether one is set."""

    enabled: bool
    smtp_server: str
    smtp_port: int
    smtp_sender: str
    security: Literal["none", "starttls", "tls"]
    smtp_user: str
    has_password: bool
    attach_fax: bool
    group_broadcast_receipts: bool
    use_for_inbound_routing: bool


class ReceiptOptionsChange(BaseModel):
    """The values to change; absent ones stay. A password needs security "starttls" or "tls" (409 otherwise),
    unless the file allows clear text."""

    model_config = STRICT

    enabled: bool | None = None
    smtp_server: str | None = Field(default=None, min_length=1, max_length=255)
    smtp_port: Annotated[int, Field(ge=1, le=65535), WHOLE] | None = None
    smtp_sender: str | None = Field(default=None, max_length=320)
    security: Literal["none", "starttls", "tls"] | None = None
    smtp_user: str | None = Field(default=None, max_length=320)
    smtp_password: str | None = Field(default=None, max_length=1000)
    attach_fax: bool | None = None
    group_broadcast_receipts: bool | None = None
    use_for_inbound_routing: bool | None = None


LevelName = Literal["none", "min", "med", "max"]


class LoggingOptions(BaseModel):
    """IFaxLoggingOptions / IFaxEventLogging: the threshold per event category and the line format."""

    init_events_level: LevelName
    inbound_events_level: LevelName
    outbound_events_level: LevelName
    general_events_level: LevelName
    format: Literal["text", "json"]


class LoggingOptionsChange(BaseModel):
    """The values to change; absent ones stay."""

    model_config = STRICT

    init_events_level: LevelName | None = None
    inbound_events_level: LevelName | None = None
    outbound_events_level: LevelName | None = None
    general_events_level: LevelName | None = None
    format: Literal["text", "json"] | None = None


class EffectiveValue(BaseModel):
    """One configuration value in force and where it came from."""

    path: str
    value: object
    source: Literal["default", "file", "store"]
    updated_by: str = ""
    updated_at: float | None = None


class EffectiveConfig(BaseModel):
    """Every value in force with its source, and the areas whose stored values are not applied (and why)."""

    values: list[EffectiveValue]
    problems: dict[str, str] = Field(description="area -> why its stored values are not applied")


class AnswerRequested(BaseModel):
    """AnswerCall for a device of another node: the request is stored for that node, which answers the call if it
    still rings when the request reaches it (Windows' AnswerCall is asynchronous too); watch INCOMING_CALL events
    (call.answered) for the outcome."""

    device: str
    node_id: str = Field(description="The node that runs the device and will answer")


class DeviceRoutingMethod(BaseModel):
    """A routing method as one device uses it (IFaxDevice.UsedRoutingMethods / UseRoutingMethod)."""

    guid: str
    name: str
    friendly_name: str
    priority: int
    enabled: bool


class DeviceSettings(BaseModel):
    """IFaxDevice properties that may change while the server runs, for a device of any node."""

    name: str
    node_id: str = Field(description="The node that runs the device, as it last reported")
    tsid: str
    csid: str
    send_enabled: bool
    receive_mode: ReceiveMode
    rings_before_answer: int
    description: str
    ringing: bool = Field(description="A call rings now, waiting for AnswerCall (manual mode, on this node)")
    routing_methods: list[DeviceRoutingMethod]


class DeviceSettingsChange(BaseModel):
    """The values to change; absent ones stay."""

    model_config = STRICT

    tsid: str | None = Field(default=None, max_length=20, pattern=STATION_ID,
                             description="T.30 station id: printable ASCII, at most 20 characters")
    csid: str | None = Field(default=None, max_length=20, pattern=STATION_ID,
                             description="T.30 station id: printable ASCII, at most 20 characters")
    send_enabled: bool | None = None
    receive_mode: ReceiveMode | None = None
    rings_before_answer: Annotated[int, Field(ge=1, le=20), WHOLE] | None = None
    description: str | None = Field(default=None, max_length=256)


class RoutingMethodUse(BaseModel):
    """IFaxDevice.UseRoutingMethod: switch one method on or off for one device."""

    model_config = STRICT

    enabled: bool


class AnswerResult(BaseModel):
    """IFaxDevice.AnswerCall: the ringing call is being answered; its fax appears in the incoming queue."""

    device: str
    answered: bool


class ProviderInfo(BaseModel):
    """IFaxDeviceProvider: a device provider, whether it loaded, and what is registered for the next start."""

    name: str
    status: str = Field(description="FAX_PROVIDER_STATUS_ENUM name: success, cant_load, ...")
    init_error: str
    registered: bool = Field(description="What the next start will do (Register/UnregisterDeviceProvider)")
    target: str


class Registration(BaseModel):
    """Register an extension or device provider by its "module:attribute"; in force at the next start."""

    model_config = STRICT

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    target: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_.]*$", max_length=200)


class RegistrationResult(BaseModel):
    """Stored; takes effect when the server starts again (as in Windows)."""

    name: str
    registered: bool
    restart_required: bool = True


class ExtensionInfo(BaseModel):
    """IFaxInboundRoutingExtension: how loading it went and what is registered for the next start."""

    name: str
    source: str
    status: str
    init_error: str
    registered: bool
    methods: list[str]


class RoutingMethodInfo(BaseModel):
    """IFaxInboundRoutingMethod: a method in global order, and the devices of this node that use it."""

    guid: str
    name: str
    friendly_name: str
    extension: str
    priority: int
    devices: list[str]


class MethodOrder(BaseModel):
    """The methods (names or GUIDs) in the order they should run; methods not named follow, in their order."""

    model_config = STRICT

    methods: list[str] = Field(min_length=1, max_length=100)


class OutboundGroup(BaseModel):
    """IFaxOutboundRoutingGroup: an ordered device list (the built-in <All Devices> group is not listed)."""

    model_config = STRICT

    name: str = Field(min_length=1, max_length=128)
    devices: list[str] = Field(default_factory=list, max_length=256)


class OutboundRule(BaseModel):
    """IFaxOutboundRoutingRule: country and area code (0 = any area) to a group or a device."""

    model_config = ConfigDict(strict=True, json_schema_extra={"oneOf": [
        {"required": ["group"], "properties": {"group": {"minLength": 1}, "device": {"maxLength": 0}}},
        {"required": ["device"], "properties": {"device": {"minLength": 1}, "group": {"maxLength": 0}}},
    ]})  # exactly one target, as the rule section demands

    country_code: WholeNumber = Field(ge=1, le=999)
    area_code: WholeNumber = Field(default=0, ge=0, le=2**31 - 1)
    group: str = Field(default="", max_length=128)
    device: str = Field(default="", max_length=64)

    @model_validator(mode="after")
    def _one_target(self) -> OutboundRule:
        if bool(self.group) == bool(self.device):
            raise ValueError("give exactly one of group or device")
        return self


class ArchivedJob(OutgoingJob):
    """IFaxOutgoingMessage: a sent fax kept in the outgoing archive."""

    archived_time: float | None


class ArchivedJobPage(BaseModel):
    """One page of sent faxes, newest first; pass ``next_before`` as ``before`` for older ones."""

    messages: list[ArchivedJob]
    next_before: int | None
