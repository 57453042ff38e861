"""faxgate sends to spandsp's fax terminal on the simulated network: every rate x coding x resolution."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gateway.enums import ExtendedStatus
from modem.provider import SendJob
from modem.simnet import RemoteFaxSpec, SimNetwork
from tests.modem.conftest import FAXGATE_IDENT, device_on
from tests.modem.matrix import line_matrix
from tests.modem.pages import document, write_document


@line_matrix
async def test_send_to_spandsp_terminal(
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
    pages = document(fine=fine, pages=2)
    tiff = write_document(tmp_path / "doc.tif", pages, fine)
    device = device_on(net.add_modem("sim0", number="5551000"))

    result = await device.send(SendJob(dial_string="5550100", tiff_path=str(tiff), tsid=FAXGATE_IDENT))
    await net.run_for(2.0)

    assert result.status == ExtendedStatus.CALL_COMPLETED, result.reason
    assert (result.pages, result.bit_rate, result.ecm, result.compression) == (2, bit_rate, ecm, compression)
    assert result.resolution == ("fine" if fine else "standard")
    assert result.remote_csid == "+1 555 0100"
    record = remote.last
    assert record.ok, record.completion
    assert (record.bit_rate, record.encoding, record.remote_ident) == (bit_rate, compression, FAXGATE_IDENT)
    assert len(record.pages) == 2
    for received, sent in zip(record.pages, pages, strict=True):
        assert received.shape == sent.shape
        assert np.array_equal(received, sent)
