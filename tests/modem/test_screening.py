"""Screening inside the call: a blocked sender TSI and a page limit end the call with DCN while it runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gateway.enums import ExtendedStatus
from modem.faxtiff import read_fax_tiff
from modem.simnet import RemoteFaxSpec, SimNetwork
from tests.modem.conftest import FAXGATE_IDENT, FAXGATE_NUMBER, device_on
from tests.modem.pages import document


@pytest.mark.parametrize("ecm", [False, True], ids=["plain", "ecm"])
async def test_blocked_tsid_ends_the_call_before_any_page(net: SimNetwork, tmp_path: Path, ecm: bool) -> None:
    remote = net.add_remote_fax("5550100", RemoteFaxSpec(ident="CHEAP JUNK DEALS", ecm=ecm))
    device = device_on(net.add_modem("sim0", number=FAXGATE_NUMBER))
    record = remote.call(FAXGATE_NUMBER, pages=document(pages=2, seed=3), fine=False, caller_id="5550100")
    seen: list[str] = []

    def screen(tsid: str) -> bool:
        seen.append(tsid)
        return "JUNK" not in tsid

    call = await device.wait_for_call(timeout=60.0)
    result = await device.answer(call, tmp_path / "in", csid=FAXGATE_IDENT, screen_tsid=screen)
    await net.run_for(5.0)

    assert seen == ["CHEAP JUNK DEALS"]
    assert result.status == ExtendedStatus.CALL_BLACKLISTED
    assert result.reason == "sender station id is on the block list"
    assert (result.pages, result.files, result.remote_csid) == (0, [], "CHEAP JUNK DEALS")
    assert (record.pages_sent, record.ok) == (0, False)
    assert record.completion == "Received bad response to DCS or training"  # our DCN answered its DCS
    assert result.duration_s < 20.0  # DCN right after training, not after two pages


@pytest.mark.parametrize("ecm", [False, True], ids=["plain", "ecm"])
async def test_page_limit_keeps_two_of_three_and_ends_the_call(net: SimNetwork, tmp_path: Path, ecm: bool) -> None:
    remote = net.add_remote_fax("5550100", RemoteFaxSpec(ident="FRIEND", ecm=ecm))
    device = device_on(net.add_modem("sim0", number=FAXGATE_NUMBER))
    pages = document(pages=3, seed=5)
    record = remote.call(FAXGATE_NUMBER, pages=pages, fine=False, caller_id="5550100", caller_name="ACME")

    call = await device.wait_for_call(timeout=60.0)
    result = await device.answer(call, tmp_path / "in", csid=FAXGATE_IDENT, screen_tsid=lambda _: True, max_pages=2)
    await net.run_for(5.0)

    assert result.status == ExtendedStatus.PARTIALLY_RECEIVED
    assert result.reason == "2 pages kept (the limit for one call); the rest were refused"
    assert result.pages == 2
    stored = list(read_fax_tiff(result.files[0]))
    assert len(stored) == 2
    for page, sent in zip(stored, pages[:2], strict=True):
        assert np.array_equal(page.bitmap, sent)
    assert [(page.caller_id, page.caller_name) for page in stored] == [("5550100", "ACME")] * 2
    assert (record.pages_sent, record.ok) == (2, False)  # the third page was never confirmed
    assert record.completion == "Unexpected message received"  # our DCN instead of the third page's end


async def test_page_limit_not_reached_completes_normally(net: SimNetwork, tmp_path: Path) -> None:
    remote = net.add_remote_fax("5550100", RemoteFaxSpec(ident="FRIEND"))
    device = device_on(net.add_modem("sim0", number=FAXGATE_NUMBER))
    record = remote.call(FAXGATE_NUMBER, pages=document(pages=2, seed=5), fine=False)
    call = await device.wait_for_call(timeout=60.0)
    result = await device.answer(call, tmp_path / "in", csid=FAXGATE_IDENT, max_pages=2)
    await net.run_for(2.0)
    assert (result.status, result.pages) == (ExtendedStatus.CALL_COMPLETED, 2)
    assert record.ok and record.pages_sent == 2, record.completion
