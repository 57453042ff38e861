"""A remote fax machine sends a T.30 subaddress (SUB with DCS): faxgate reports it and writes it into the TIFF."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.enums import ExtendedStatus
from modem.faxtiff import read_fax_tiff
from modem.simnet import RemoteFaxSpec, SimNetwork
from modem.t30.frames import decode_subaddress
from tests.modem.conftest import FAXGATE_IDENT, FAXGATE_NUMBER, device_on
from tests.modem.pages import document


@pytest.mark.parametrize("ecm", [False, True], ids=["plain", "ecm"])
async def test_subaddress_from_the_sender_reaches_result_and_tiff(net: SimNetwork, tmp_path: Path, ecm: bool) -> None:
    remote = net.add_remote_fax("5550100", RemoteFaxSpec(ident="+1 555 0100", ecm=ecm))
    device = device_on(net.add_modem("sim0", number=FAXGATE_NUMBER))
    record = remote.call(FAXGATE_NUMBER, pages=document(pages=2, seed=3), caller_id="5550100", subaddress="1234")

    call = await device.wait_for_call(timeout=60.0)
    result = await device.answer(call, tmp_path / "in", csid=FAXGATE_IDENT)
    await net.run_for(2.0)

    assert record.ok, record.completion
    assert result.status == ExtendedStatus.CALL_COMPLETED, result.reason
    assert result.subaddress == "1234"
    assert result.to_json()["subaddress"] == "1234"
    assert [page.sub_address for page in read_fax_tiff(result.files[0])] == ["1234", "1234"]
    assert 'T30 <- SUB: "1234"' in "\n".join(result.session_log)


async def test_no_subaddress_gives_empty_and_the_tiff_keeps_the_did(net: SimNetwork, tmp_path: Path) -> None:
    remote = net.add_remote_fax("5550100", RemoteFaxSpec(ident="+1 555 0100"))
    device = device_on(net.add_modem("sim0", number=FAXGATE_NUMBER))
    record = remote.call(FAXGATE_NUMBER, pages=document(pages=1, seed=3), caller_id="5550100", did="100")

    call = await device.wait_for_call(timeout=60.0)
    result = await device.answer(call, tmp_path / "in", csid=FAXGATE_IDENT)
    await net.run_for(2.0)

    assert record.ok, record.completion
    assert result.status == ExtendedStatus.CALL_COMPLETED, result.reason
    assert (result.subaddress, result.did) == ("", "100")
    assert [page.sub_address for page in read_fax_tiff(result.files[0])] == ["100"]


def test_hostile_subaddress_keeps_only_digits_hash_star_and_space() -> None:
    assert decode_subaddress("1\x1b[2;3*#\n/..;x 9".ljust(20)[::-1].encode("latin-1")) == "123*# 9"
    assert decode_subaddress(("5" * 40).encode()) == "5" * 20
