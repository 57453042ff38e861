"""The tables, in SQLAlchemy Core. Times are UNIX seconds (floats), the same on SQLite, PostgreSQL and virtual time.

Alembic migrations under ``migrations/versions`` create and change these tables; this module mirrors the
newest migration so queries can be written against it.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

from gateway.enums import ACTIVE_STATUSES, WAITING_STATUSES, status_in_sql

metadata = MetaData()

blobs = Table(
    "blobs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
)

submissions = Table(
    "submissions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("source", String(16), nullable=False),
    Column("principal", String(320), nullable=False),
    Column("envelope_from", String(320), nullable=False, server_default=""),
    Column("recipients", JSON, nullable=False),
    Column("subject", Text, nullable=False, server_default=""),
    Column("state", String(16), nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("raw_blob_id", String(36), ForeignKey("blobs.id"), nullable=True),
    Column("document_blob_id", String(36), ForeignKey("blobs.id"), nullable=True),
    Column("pages", Integer, nullable=False, server_default="0"),
    Column("options", JSON, nullable=False),
    Column("claimed_by", String(64), nullable=True),
    Column("claimed_until", Float, nullable=True),
    Column("updated_at", Float, nullable=False),
    # 0004: rate limits counted from the store
    Column("rate_key", String(255), nullable=True),
    Column("fax_count", Integer, nullable=True),
)
Index("ix_submissions_state", submissions.c.state, submissions.c.created_at)
_RATED = text("rate_key IS NOT NULL")
Index("ix_submissions_rate", submissions.c.rate_key, submissions.c.created_at,
      sqlite_where=_RATED, postgresql_where=_RATED)

outgoing_jobs = Table(
    "outgoing_jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("submission_id", String(36), ForeignKey("submissions.id"), nullable=False),
    Column("recipient_number", String(32), nullable=False),
    Column("recipient_name", Text, nullable=False, server_default=""),
    Column("status", Integer, nullable=False),
    Column("extended_status", Integer, nullable=False, server_default="0"),
    Column("extended_status_text", Text, nullable=False, server_default=""),
    Column("priority", Integer, nullable=False),
    Column("schedule_type", Integer, nullable=False, server_default="0"),
    Column("scheduled_at", Float, nullable=True),
    Column("next_attempt_at", Float, nullable=False),
    Column("submitted_at", Float, nullable=False),
    Column("transmission_start", Float, nullable=True),
    Column("transmission_end", Float, nullable=True),
    Column("retries", Integer, nullable=False, server_default="0"),
    Column("dials", Integer, nullable=False, server_default="0"),
    Column("pages", Integer, nullable=False, server_default="0"),
    Column("pages_sent", Integer, nullable=False, server_default="0"),
    Column("device_name", String(64), nullable=True),
    Column("remote_csid", Text, nullable=False, server_default=""),
    Column("tsid", Text, nullable=False, server_default=""),
    Column("receipt_address", String(320), nullable=False, server_default=""),
    Column("billing_code", String(64), nullable=False, server_default=""),
    Column("kill_at", Float, nullable=True),
    Column("claimed_by", String(64), nullable=True),
    Column("claimed_until", Float, nullable=True),
    Column("updated_at", Float, nullable=False),
    # 0002: the outbound queue
    Column("sched_priority", Integer, nullable=False, server_default="127"),
    Column("bulk", Boolean, nullable=False, server_default=false()),
    Column("route", String(160), nullable=False, server_default=""),
    Column("document_blob_id", String(36), nullable=True),
    Column("tries", Integer, nullable=False, server_default="0"),
    Column("result_counts", JSON, nullable=True),
    Column("final_at", Float, nullable=True),
    Column("receipt_sent_at", Float, nullable=True),
    Column("archived_at", Float, nullable=True),
    Column("call_id", String(36), nullable=True),
)
_READY_JOBS = text(status_in_sql("status", WAITING_STATUSES))
Index("ix_outgoing_jobs_ready", outgoing_jobs.c.sched_priority, outgoing_jobs.c.next_attempt_at,
      sqlite_where=_READY_JOBS, postgresql_where=_READY_JOBS)
Index("ix_outgoing_jobs_claims", outgoing_jobs.c.status, outgoing_jobs.c.claimed_until)
_ACTIVE_JOBS = text(status_in_sql("status", ACTIVE_STATUSES))
Index("ix_outgoing_jobs_active", outgoing_jobs.c.recipient_number, sqlite_where=_ACTIVE_JOBS,
      postgresql_where=_ACTIVE_JOBS)
Index("ix_outgoing_jobs_pick", outgoing_jobs.c.status, outgoing_jobs.c.priority, outgoing_jobs.c.next_attempt_at)
Index("ix_outgoing_jobs_submission", outgoing_jobs.c.submission_id)
Index("ix_outgoing_jobs_number", outgoing_jobs.c.recipient_number)

attempts = Table(
    "attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", Integer, ForeignKey("outgoing_jobs.id"), nullable=False),
    Column("device_name", String(64), nullable=False),
    Column("node_id", String(64), nullable=False, server_default=""),
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float, nullable=True),
    Column("extended_status", Integer, nullable=False, server_default="0"),
    Column("reason", Text, nullable=False, server_default=""),
    Column("pages_sent", Integer, nullable=False, server_default="0"),
    Column("bit_rate", Integer, nullable=False, server_default="0"),
    Column("ecm", Boolean, nullable=False, server_default="0"),
    Column("compression", String(8), nullable=False, server_default=""),
    Column("resolution", String(16), nullable=False, server_default=""),
    Column("remote_csid", Text, nullable=False, server_default=""),
    Column("duration_s", Float, nullable=False, server_default="0"),
    Column("session_log", Text, nullable=False, server_default=""),
    # 0002: batched calls, dial strings and resumed sends
    Column("call_id", String(36), nullable=False, server_default=""),
    Column("dialed", String(64), nullable=False, server_default=""),
    Column("start_page", Integer, nullable=False, server_default="0"),
    Column("pages_total", Integer, nullable=False, server_default="0"),
)
Index("ix_attempts_job", attempts.c.job_id)
Index("ix_attempts_started", attempts.c.started_at)

incoming_jobs = Table(
    "incoming_jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device_name", String(64), nullable=False),
    Column("node_id", String(64), nullable=False, server_default=""),
    Column("received_at", Float, nullable=False),
    Column("ended_at", Float, nullable=True),
    Column("caller_id", String(64), nullable=False, server_default=""),
    Column("caller_name", Text, nullable=False, server_default=""),
    Column("did", String(64), nullable=False, server_default=""),
    Column("remote_tsid", Text, nullable=False, server_default=""),
    Column("csid", Text, nullable=False, server_default=""),
    Column("pages", Integer, nullable=False, server_default="0"),
    Column("status", Integer, nullable=False),
    Column("extended_status", Integer, nullable=False, server_default="0"),
    Column("reason", Text, nullable=False, server_default=""),
    Column("tiff_blob_id", String(36), ForeignKey("blobs.id"), nullable=True),
    Column("quality", JSON, nullable=False),
    Column("routing_retries", Integer, nullable=False, server_default="0"),
    Column("next_routing_at", Float, nullable=True),
    Column("routed_at", Float, nullable=True),
    Column("routing_status", Text, nullable=False, server_default=""),
    Column("claimed_by", String(64), nullable=True),
    Column("claimed_until", Float, nullable=True),
    Column("updated_at", Float, nullable=False),
    Column("subaddress", String(64), nullable=False, server_default=""),
    Column("session_log", Text, nullable=False, server_default=""),
    Column("decision", JSON, nullable=True),
    Column("archive_path", Text, nullable=False, server_default=""),
    Column("size", Integer, nullable=False, server_default="0"),
)
Index("ix_incoming_jobs_status", incoming_jobs.c.status, incoming_jobs.c.next_routing_at)
Index("ix_incoming_jobs_received", incoming_jobs.c.received_at)

incoming_deliveries = Table(
    "incoming_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", Integer, ForeignKey("incoming_jobs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(200), nullable=False),
    Column("rule", String(64), nullable=False, server_default=""),
    Column("method_guid", String(38), nullable=False),
    Column("method_name", String(64), nullable=False, server_default=""),
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("config", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text, nullable=False, server_default=""),
    Column("detail", Text, nullable=False, server_default=""),
    Column("delivered_at", Float, nullable=True),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("job_id", "key", name="uq_incoming_deliveries_job_key"),
)

devices = Table(
    "devices",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("node_id", String(64), nullable=False),
    Column("provider", String(32), nullable=False),
    Column("status", Integer, nullable=False, server_default="0"),
    Column("status_text", Text, nullable=False, server_default=""),
    Column("updated_at", Float, nullable=False),
    Column("state", String(16), nullable=False, server_default="initializing"),
    Column("retry_at", Float, nullable=True),
    Column("failures", Integer, nullable=False, server_default="0"),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("topic", Integer, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("node_id", String(64), nullable=False, server_default=""),
    Column("job_id", Integer, nullable=True),
    Column("device_name", String(64), nullable=True),
    Column("payload", JSON, nullable=False),
)
Index("ix_events_at", events.c.at)

extension_data = Table(
    "extension_data",
    metadata,
    Column("device_id", Integer, primary_key=True),
    Column("guid", String(38), primary_key=True),
    Column("data", LargeBinary, nullable=False),
    Column("writer", String(64), nullable=False, server_default=""),
    Column("updated_at", Float, nullable=False),
)

server_state = Table(
    "server_state",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", JSON, nullable=False),
    Column("updated_at", Float, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    # 0005: principals of the HTTP API
    Column("name", String(64), primary_key=True),
    Column("token_hash", String(64), nullable=False),
    Column("rights", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("token_hash", name="uq_api_tokens_hash"),
)

settings = Table(
    "settings",
    metadata,
    # 0007: runtime configuration written through the API; stored values win over the TOML file
    Column("area", String(80), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("value", JSON, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("updated_by", String(64), nullable=False, server_default=""),
)

settings_version = Table(
    "settings_version",
    metadata,
    # 0007: one row; its version grows with every settings change, so a node compares one number to reload
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
)

mailbox_items = Table(
    "mailbox_items",
    metadata,
    # 0008: mail taken from a polled mailbox, recorded before it is moved (exactly once across crashes)
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("mailbox", String(40), nullable=False),
    Column("message_key", String(255), nullable=False),
    Column("item_id", String(255), nullable=False, server_default=""),
    Column("outcome", String(16), nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("submission_id", String(36), ForeignKey("submissions.id"), nullable=True),
    Column("target_folder", String(255), nullable=False),
    Column("bounced", Boolean, nullable=False, server_default=false()),
    Column("moved", Boolean, nullable=False, server_default=false()),
    Column("claimed_by", String(64), nullable=False, server_default=""),
    Column("claimed_until", Float, nullable=False, server_default="0"),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("mailbox", "message_key", name="uq_mailbox_items_key"),
)
