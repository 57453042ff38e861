"""spandsp's fax terminal sends to faxgate on the simulated network: every rate x coding x resolution."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gateway.enums import ExtendedStatus
from modem.faxtiff import read_fax_tiff
from modem.rxspool import SPOOL_FOLDER, spooled_pages
from modem.simnet import RemoteFaxSpec, SimNetwork
from tests.modem.conftest import FAXGATE_IDENT, FAXGATE_NUMBER, device_on
from tests.modem.matrix import line_matrix
from tests.modem.pages import document


@line_matrix
async def test_receive_from_spandsp_terminal(
    net: SimNetwork,
    tmp_path: Path,
    modem_name: str,
    bit_rate: int,
    coding: str,
    ecm: bool,
    compression: str,
    fine: bool,
) -> None:
    remote = net.add_remote_fax(
        "5550100", RemoteFaxSpec(ident="+1 555 0100", modems=(modem_name,), compressions=(coding,), ecm=ecm)
    )
    device = device_on(net.add_modem("sim0", number=FAXGATE_NUMBER))
    pages = document(fine=fine, pages=2, seed=7)
    record = remote.call(FAXGATE_NUMBER, pages=pages, fine=fine, caller_id="5550100", caller_name="ACME")

    call = await device.wait_for_call(timeout=60.0)
    result = await device.answer(call, tmp_path / "in", csid=FAXGATE_IDENT)
    await net.run_for(2.0)

    assert result.status == ExtendedStatus.CALL_COMPLETED, result.reason
    assert (result.pages, result.bit_rate, result.ecm, result.compression) == (2, bit_rate, ecm, compression)
    assert result.resolution == ("fine" if fine else "standard")
    assert (result.remote_csid, result.caller_id, result.caller_name) == ("+1 555 0100", "5550100", "ACME")
    assert record.ok, record.completion
    assert record.remote_ident == FAXGATE_IDENT
    stored = list(read_fax_tiff(result.files[0]))
    assert [page.remote_id for page in stored] == ["+1 555 0100"] * 2
    assert all(page.fine == fine for page in stored)
    for page, sent in zip(stored, pages, strict=True):
        assert page.bitmap.shape == sent.shape
        assert np.array_equal(page.bitmap, sent)
    # Each page was also kept on disk as it came (ECM pages once decoded), for recovery after a crash.
    kept = spooled_pages(tmp_path / "in" / SPOOL_FOLDER)
    assert [(page.fine, page.bitmap.tobytes()) for page in kept] == [(fine, sent.tobytes()) for sent in pages]
