"""The activity log (every call is an attempt row) exported as HylaFAX xferfaxlog SEND records."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.storage.schema import attempts, outgoing_jobs, submissions

_RATES = {2400: 0, 4800: 1, 7200: 2, 9600: 3, 12000: 4, 14400: 5}
_FORMATS = {"MH": 0, "MR": 1, "MMR": 3}


def class2_params(bit_rate: int, ecm: bool, compression: str, resolution: str) -> int:
    """The session packed as xferfaxlog's params: vr 2 bits, br 3, wd 3, ln 2, df 2, ec 1, bf 1, st 3."""
    vr = 1 if resolution == "fine" else 0
    br = _RATES.get(bit_rate, 0)
    width, length = 0, 2  # 1728 pixels, unlimited length
    df = _FORMATS.get(compression, 0)
    return vr | br << 2 | width << 5 | length << 8 | df << 10 | int(ecm) << 12


def _duration(seconds: float) -> str:
    whole = max(0, round(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _quoted(value: str) -> str:
    return '"' + value.replace('"', "'").replace("\t", " ").replace("\n", " ") + '"'


async def xferfaxlog(conn: AsyncConnection, *, since: float | None = None, timezone: str = "UTC") -> list[str]:
    """One tab-separated SEND line per call, oldest first, in xferfaxlog(5) field order."""
    zone = ZoneInfo(timezone)
    query = (
        select(attempts, outgoing_jobs.c.recipient_number, outgoing_jobs.c.submission_id,
               outgoing_jobs.c.pages.label("job_pages"), submissions.c.principal, submissions.c.envelope_from,
               outgoing_jobs.c.submitted_at)
        .join(outgoing_jobs, outgoing_jobs.c.id == attempts.c.job_id)
        .join(submissions, submissions.c.id == outgoing_jobs.c.submission_id)
        .order_by(attempts.c.started_at, attempts.c.id)
    )
    if since is not None:
        query = query.where(attempts.c.started_at >= since)
    lines = []
    for row in await conn.execute(query):
        ended = row.ended_at or row.started_at
        fields = [
            datetime.fromtimestamp(row.started_at, zone).strftime("%m/%d/%y %H:%M"),
            "SEND",
            f"{row.id:08d}",
            row.device_name,
            str(row.job_id),
            row.submission_id,
            row.envelope_from or row.principal,
            _quoted(row.dialed or row.recipient_number),
            _quoted(row.remote_csid),
            str(class2_params(row.bit_rate, bool(row.ecm), row.compression, row.resolution)),
            str(row.pages_sent),
            _duration(ended - row.submitted_at),
            _duration(row.duration_s or ended - row.started_at),
            _quoted(row.reason),
            '""', '""', '""',
            _quoted(row.principal),
            _quoted(""),
        ]
        lines.append("\t".join(fields))
    return lines
