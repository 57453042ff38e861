"""A send never takes a line on which a call already rings: the call is answered first, then the send goes.

Dialling out over a ringing line is glare: the line answers the caller while the host speaks as a caller, and both
calls fail (the load benchmark found 28 of 147 sends failing this way at 16 lines). HylaFAX's faxgetty keeps a
ringing modem for the call; so does ``DeviceLine``, and the queue gives no job to a ringing line."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.config import parse_config
from gateway.context import ServiceContext
from gateway.enums import DeviceState, ExtendedStatus
from gateway.events import EventBus
from gateway.lifecycle import DeviceLine
from gateway.queue.devices import DeviceManager, DeviceSlot
from gateway.queue.service import _ringing, _usable
from gateway.storage import Database
from modem.provider import SendJob
from modem.simnet import RemoteFaxSpec, SimNetwork
from tests.modem.conftest import device_on
from tests.modem.pages import document, write_document

NUMBER = "5551000"


@pytest.fixture
def net() -> Iterator[SimNetwork]:
    network = SimNetwork()
    yield network
    network.close()


async def test_a_send_waits_for_the_call_ringing_on_its_line(tmp_path: Path, db: Database, net: SimNetwork) -> None:
    caller = net.add_remote_fax("5550100", RemoteFaxSpec(ident="CALLER"))
    net.add_remote_fax("5550200", RemoteFaxSpec(ident="DEST"))
    device = device_on(net.add_modem("sim0", number=NUMBER), name="sim0")
    config = parse_config({"server": {"data_dir": str(tmp_path / "data")},
                           "devices": [{"name": "sim0", "provider": "simulated"}]})
    events = EventBus()
    await events.start(db, "n1")
    line = DeviceLine("sim0", "simulated", ServiceContext(config, db, events, net.clock, "n1"), lambda: device)
    slot = DeviceSlot("sim0", line, usable=_usable(line), ringing=_ringing(line))
    manager = DeviceManager([slot], clock=net.clock)
    tiff = write_document(tmp_path / "out.tif", document(fine=True, pages=1, seed=5), fine=True)
    try:
        await line.start()
        while line.state is not DeviceState.READY:
            await net.run_for(0.1)
        assert manager.idle() == ["sim0"]
        waiting = asyncio.ensure_future(line.wait_for_call(120.0))
        offered = caller.call(NUMBER, document(fine=True, pages=1, seed=6), fine=True)
        while not line.ringing:  # the first RING has come; the device waits for the second before answering
            await net.run_for(0.1)
        assert manager.idle() == []  # the scheduler gives no job to a ringing line
        assert manager.next_available() is not None  # and looks again, in case the call rings out unanswered
        sending = asyncio.ensure_future(line.send(SendJob(dial_string="5550200", tiff_path=str(tiff)),
                                                  lambda _status, _page: None))
        call = await waiting  # not cut short by the send
        received = await line.answer(call, tmp_path / "in")
        sent = await sending
        await net.run_for(2.0)  # the far machine files its record once the line is clear
    finally:
        await line.stop()
        await events.stop()
    assert received.status == ExtendedStatus.CALL_COMPLETED, received.reason
    assert offered.ok and offered.outcome == "completed"
    assert sent.status == ExtendedStatus.CALL_COMPLETED, sent.reason
    assert [record.outcome for record in net.remotes["5550200"].records] == ["completed"]
