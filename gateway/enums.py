"""Windows Fax Service enumerations, with the names and numeric values of faxcomex.h and faxdev.h.

One module for every enumeration so that logs, the API and storage speak the same numbers as a
Windows Fax Server. ``ExtendedStatus`` is defined with the device contract in ``modem.result`` (device
providers report it, as an FSP reports FS_* codes from faxdev.h) and re-exported here.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag, StrEnum

# FAX_JOB_EXTENDED_STATUS is the device contract's (modem/ imports nothing from gateway/); re-exported here.
from modem.result import ExtendedStatus as ExtendedStatus


class JobStatus(IntFlag):
    """FAX_JOB_STATUS_ENUM: a job's queue status; PAUSED and NOLINE are modifiers OR-ed onto others."""

    PENDING = 0x001
    INPROGRESS = 0x002
    FAILED = 0x008
    PAUSED = 0x010
    NOLINE = 0x020
    RETRYING = 0x040
    RETRIES_EXCEEDED = 0x080
    COMPLETED = 0x100
    CANCELED = 0x200
    CANCELING = 0x400
    ROUTING = 0x800

    @property
    def base(self) -> JobStatus:
        """The status without the PAUSED and NOLINE modifiers."""
        return self & ~(JobStatus.PAUSED | JobStatus.NOLINE)

    @property
    def is_final(self) -> bool:
        """True once the job will not change again by itself (a receipt reports it; only a restart moves on from
        RETRIES_EXCEEDED)."""
        return self.base in (JobStatus.COMPLETED, JobStatus.CANCELED, JobStatus.FAILED, JobStatus.RETRIES_EXCEEDED)


WAITING_STATUSES = (
    JobStatus.PENDING,
    JobStatus.PENDING | JobStatus.NOLINE,
    JobStatus.RETRYING,
    JobStatus.RETRYING | JobStatus.NOLINE,
)
"""Statuses a device may take an outgoing job from (the partial index ix_outgoing_jobs_ready)."""
ACTIVE_STATUSES = (JobStatus.INPROGRESS, JobStatus.CANCELING)
"""A call is under way for outgoing jobs in these statuses (the partial index ix_outgoing_jobs_active)."""


def status_in_sql(column: str, statuses: tuple[JobStatus, ...]) -> str:
    """``column IN (...)`` as literal SQL text from the enum, for partial indexes and the queries that use them."""
    return f"{column} IN ({', '.join(str(int(status)) for status in statuses)})"


class JobOperations(IntFlag):
    """FAX_JOB_OPERATIONS_ENUM: what may be done to a job now (AvailableOperations)."""

    VIEW = 0x01
    PAUSE = 0x02
    RESUME = 0x04
    RESTART = 0x08
    DELETE = 0x10
    RECIPIENT_INFO = 0x20
    SENDER_INFO = 0x40


class JobType(IntEnum):
    """FAX_JOB_TYPE_ENUM."""

    SEND = 0
    RECEIVE = 1
    ROUTING = 2


class Priority(IntEnum):
    """FAX_PRIORITY_TYPE_ENUM."""

    LOW = 0
    NORMAL = 1
    HIGH = 2


class ScheduleType(IntEnum):
    """FAX_SCHEDULE_TYPE_ENUM."""

    NOW = 0
    SPECIFIC_TIME = 1
    DISCOUNT_PERIOD = 2


class CoverPageType(IntEnum):
    """FAX_COVERPAGE_TYPE_ENUM."""

    NONE = 0
    LOCAL = 1
    SERVER = 2


class ReceiptType(IntFlag):
    """FAX_RECEIPT_TYPE_ENUM."""

    NONE = 0
    MAIL = 1
    MSGBOX = 4


class ReceiveMode(IntEnum):
    """FAX_DEVICE_RECEIVE_MODE_ENUM."""

    NO_ANSWER = 0
    AUTO_ANSWER = 1
    MANUAL_ANSWER = 2


class AccessRights(IntFlag):
    """FAX_ACCESS_RIGHTS_ENUM: what a principal may do, checked at every entry point."""

    SUBMIT_LOW = 0x001
    SUBMIT_NORMAL = 0x002
    SUBMIT_HIGH = 0x004
    QUERY_JOBS = 0x008
    MANAGE_JOBS = 0x010
    QUERY_CONFIG = 0x020
    MANAGE_CONFIG = 0x040
    QUERY_IN_ARCHIVE = 0x080
    MANAGE_IN_ARCHIVE = 0x100
    QUERY_OUT_ARCHIVE = 0x200
    MANAGE_OUT_ARCHIVE = 0x400

    def may_submit(self, priority: Priority) -> bool:
        """The submit right caps the priority a principal may ask for."""
        needed = {
            Priority.LOW: AccessRights.SUBMIT_LOW | AccessRights.SUBMIT_NORMAL | AccessRights.SUBMIT_HIGH,
            Priority.NORMAL: AccessRights.SUBMIT_NORMAL | AccessRights.SUBMIT_HIGH,
            Priority.HIGH: AccessRights.SUBMIT_HIGH,
        }[priority]
        return bool(self & needed)


class ServerEvents(IntFlag):
    """FAX_SERVER_EVENTS_TYPE_ENUM: the topics of the event bus (ListenToServerEvents)."""

    NONE = 0x000
    IN_QUEUE = 0x001
    OUT_QUEUE = 0x002
    CONFIG = 0x004
    ACTIVITY = 0x008
    QUEUE_STATE = 0x010
    IN_ARCHIVE = 0x020
    OUT_ARCHIVE = 0x040
    FXSSVC_ENDED = 0x080
    DEVICE_STATUS = 0x100
    INCOMING_CALL = 0x200


class ConfigArea(StrEnum):
    """The configuration areas a CONFIG event names (one IFaxServerNotify2 On...ConfigChange callback each)."""

    RECEIPTS = "receipts"
    """OnReceiptOptionsChange"""
    ACTIVITY_LOGGING = "activity_logging"
    """OnActivityLoggingConfigChange"""
    SECURITY = "security"
    """OnSecurityConfigChange"""
    EVENT_LOGGING = "event_logging"
    """OnEventLoggingConfigChange"""
    OUTGOING_QUEUE = "outgoing_queue"
    """OnOutgoingQueueConfigChange"""
    OUTGOING_ARCHIVE = "outgoing_archive"
    """OnOutgoingArchiveConfigChange"""
    INCOMING_ARCHIVE = "incoming_archive"
    """OnIncomingArchiveConfigChange"""
    DEVICES = "devices"
    """OnDevicesConfigChange"""
    OUTBOUND_ROUTING_GROUPS = "outbound_routing_groups"
    """OnOutboundRoutingGroupsConfigChange"""
    OUTBOUND_ROUTING_RULES = "outbound_routing_rules"
    """OnOutboundRoutingRulesConfigChange"""
    GENERAL = "general"
    """OnGeneralServerConfigChanged"""
    EXTENSION = "extension"
    """A routing extension's or device's GUID-named configuration blob (FaxSetExtensionData)."""


class ProviderStatus(IntEnum):
    """FAX_PROVIDER_STATUS_ENUM: whether a device provider or routing extension loaded."""

    SUCCESS = 0
    SERVER_ERROR = 1
    BAD_GUID = 2
    BAD_VERSION = 3
    CANT_LOAD = 4
    CANT_LINK = 5
    CANT_INIT = 6


class DeviceStatus(IntEnum):
    """FPS_*: a device's (legacy port's) status, as stored in the device table and sent with device events."""

    DIALING = 0x20000001
    SENDING = 0x20000002
    RECEIVING = 0x20000004
    UNAVAILABLE = 0x20000020
    FATAL_ERROR = 0x20000800
    INITIALIZING = 0x20008000
    OFFLINE = 0x20010000
    RINGING = 0x20020000
    AVAILABLE = 0x20100000


class DeviceState(StrEnum):
    """A line's lifecycle state (Home Assistant's config-entry states), shared by sending and receiving."""

    INITIALIZING = "initializing"
    READY = "ready"
    SENDING = "sending"
    RECEIVING = "receiving"
    RINGING = "ringing"
    RETRYING = "retrying"
    """The port vanished or the modem stopped answering: started again after a backoff (ConfigEntryNotReady)."""
    NOT_READY = "not_ready"
    """The provider failed to load or to start with an error no retry changes; fixed by config and a restart."""
    DISABLED = "disabled"

    @property
    def fps(self) -> DeviceStatus:
        """The FPS_* status a Windows client would see for this state."""
        return _STATE_FPS[self]

    @property
    def event(self) -> EventId:
        """The FEI_* event a change to this state publishes."""
        return _STATE_EVENT[self]


class GroupStatus(IntEnum):
    """FAX_GROUP_STATUS_ENUM."""

    ALL_DEV_VALID = 0
    EMPTY = 1
    ALL_DEV_NOT_VALID = 2
    SOME_DEV_NOT_VALID = 3


class RuleStatus(IntEnum):
    """FAX_RULE_STATUS_ENUM."""

    VALID = 0
    EMPTY_GROUP = 1
    ALL_GROUP_DEV_NOT_VALID = 2
    SOME_GROUP_DEV_NOT_VALID = 3
    BAD_DEVICE = 4


class LogLevel(IntEnum):
    """FAX_LOG_LEVEL_ENUM: per-category event logging threshold."""

    NONE = 0
    MIN = 1
    MED = 2
    MAX = 3


class LogCategory(IntEnum):
    """FAXLOG_CATEGORY_*: the event-logging categories."""

    INIT = 1
    OUTBOUND = 2
    INBOUND = 3
    UNKNOWN = 4


class EventId(IntEnum):
    """FEI_*: legacy event ids, kept as the ``kind`` of device and job events."""

    DIALING = 1
    SENDING = 2
    RECEIVING = 3
    COMPLETED = 4
    BUSY = 5
    NO_ANSWER = 6
    BAD_ADDRESS = 7
    NO_DIAL_TONE = 8
    DISCONNECTED = 9
    FATAL_ERROR = 10
    NOT_FAX_CALL = 11
    CALL_DELAYED = 12
    CALL_BLACKLISTED = 13
    RINGING = 14
    ABORTING = 15
    ROUTING = 16
    MODEM_POWERED_ON = 17
    MODEM_POWERED_OFF = 18
    IDLE = 19
    FAXSVC_ENDED = 20
    ANSWERED = 21
    JOB_QUEUED = 22
    DELETED = 23
    INITIALIZING = 24
    LINE_UNAVAILABLE = 25
    HANDLED = 26
    FAXSVC_STARTED = 27


MS_FAXROUTE_EMAIL_GUID = "{6bbf7bfe-9af2-11d0-abf7-00c04fd91a4e}"
MS_FAXROUTE_FOLDER_GUID = "{92041a90-9af2-11d0-abf7-00c04fd91a4e}"
MS_FAXROUTE_PRINTING_GUID = "{aec1b37c-9af2-11d0-abf7-00c04fd91a4e}"
ALL_DEVICES_GROUP = "<All Devices>"


_STATE_FPS = {
    DeviceState.INITIALIZING: DeviceStatus.INITIALIZING,
    DeviceState.READY: DeviceStatus.AVAILABLE,
    DeviceState.SENDING: DeviceStatus.SENDING,
    DeviceState.RECEIVING: DeviceStatus.RECEIVING,
    DeviceState.RINGING: DeviceStatus.RINGING,
    DeviceState.RETRYING: DeviceStatus.UNAVAILABLE,
    DeviceState.NOT_READY: DeviceStatus.FATAL_ERROR,
    DeviceState.DISABLED: DeviceStatus.OFFLINE,
}
_STATE_EVENT = {
    DeviceState.INITIALIZING: EventId.INITIALIZING,
    DeviceState.READY: EventId.IDLE,
    DeviceState.SENDING: EventId.SENDING,
    DeviceState.RECEIVING: EventId.RECEIVING,
    DeviceState.RINGING: EventId.RINGING,
    DeviceState.RETRYING: EventId.MODEM_POWERED_OFF,
    DeviceState.NOT_READY: EventId.MODEM_POWERED_OFF,
    DeviceState.DISABLED: EventId.MODEM_POWERED_OFF,
}
