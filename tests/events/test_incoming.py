"""The events of a received fax's record on both engines: a call that kept no page says why with its FEI_ event."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from gateway.enums import ExtendedStatus, JobStatus, ServerEvents
from gateway.storage import Database, incoming
from gateway.storage.schema import events

NOW = 1_800_000_000.0


@pytest.mark.parametrize(("status", "extended", "fei"), [
    (JobStatus.FAILED, ExtendedStatus.NOT_FAX_CALL, "FEI_NOT_FAX_CALL"),
    (JobStatus.FAILED, ExtendedStatus.DISCONNECTED, "FEI_DISCONNECTED"),
    (JobStatus.CANCELED, ExtendedStatus.CALL_BLACKLISTED, "FEI_CALL_BLACKLISTED"),
])
async def test_a_call_that_kept_no_page_records_the_fei_event_of_its_outcome(
        db: Database, status: JobStatus, extended: ExtendedStatus, fei: str) -> None:
    async with db.transaction() as conn:
        mark = int((await conn.execute(text("SELECT coalesce(max(id), 0) FROM events"))).scalar_one())
        job_id = await incoming.create_received(
            conn, device_name="sim1", node_id="n1", received_at=NOW, ended_at=NOW, tiff=None, pages=0,
            status=status, extended_status=extended, caller_id="5550100", device_id=2)
    async with db.transaction() as conn:
        rows = (await conn.execute(select(events).where(events.c.id > mark).order_by(events.c.id))).all()
    names = [row.payload["fei"] if row.kind == "fei" else row.kind for row in rows]
    assert names == ["job.added", fei, "job.removed", "FEI_DELETED"]
    assert {row.topic for row in rows} == {int(ServerEvents.IN_QUEUE)}
    outcome = rows[1].payload
    assert (outcome["job_id"], outcome["device_id"], outcome["device"]) == (job_id, 2, "sim1")
