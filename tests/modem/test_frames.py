"""T.30 frames: DIS/DCS bit fields both ways, identifiers, FCS, words for the log."""

from __future__ import annotations

import pytest

from modem.class1 import fcs16, strip_fcs
from modem.t30.frames import (
    FALLBACK_ORDER,
    V17_14400,
    V27_4800,
    V29_9600,
    Capabilities,
    Fcf,
    Frame,
    Session,
    ctc_fif,
    decode_fcf,
    decode_ident,
    describe,
    encode_ident,
    modulation_from_ctc,
)

# DIS of spandsp's fax terminal (V.27ter/V.29/V.17, fine, 2D, T.6, ECM), as a Class 1 modem delivers it.
SPANDSP_DIS = bytes.fromhex("ff138000eef8c4809080808018")


def test_spandsp_dis_decodes_to_its_capabilities() -> None:
    frame = Frame.parse(SPANDSP_DIS)
    assert frame is not None and frame.fcf == Fcf.DIS and frame.final
    caps = Capabilities.decode(frame.fif)
    assert (caps.v27ter, caps.v29, caps.v17, caps.fine, caps.mr, caps.mmr, caps.ecm) == (True,) * 7
    assert (caps.can_receive, caps.min_scan_ms, caps.unlimited_length) == (True, 0, True)


def test_dis_round_trip_and_words() -> None:
    offer = Capabilities(v17=False, mmr=False, ecm=True, min_scan_ms=10, fine_scan_halved=True)
    decoded = Capabilities.decode(offer.encode())
    assert decoded == offer
    words = describe(Frame(Fcf.DIS, offer.encode()))
    assert words.startswith("DIS: modems V.27ter/V.29, fine, coding MH/MR, ECM")
    assert "min scan line 10 ms (half at fine)" in words


@pytest.mark.parametrize("modulation", FALLBACK_ORDER, ids=str)
@pytest.mark.parametrize("compression", ["MH", "MR", "MMR"])
def test_dcs_round_trip_for_every_modem_and_coding(modulation: object, compression: str) -> None:
    session = Session(
        modulation=modulation,  # type: ignore[arg-type]
        fine=True,
        compression=compression,  # type: ignore[arg-type]
        ecm=compression == "MMR",
        min_scan_ms=0 if compression == "MMR" else 20,
    )
    assert Session.decode(session.encode()) == session


def test_dcs_words_name_rate_coding_and_ecm() -> None:
    session = Session(V29_9600, fine=False, compression="MR", min_scan_ms=20)
    assert describe(Frame(Fcf.DCS, session.encode())) == (
        "DCS: V.29 9600, standard, MR, no ECM, min scan line 20 ms, length unlimited"
    )
    assert session.min_row_bits() == 192  # 9600 bit/s x 20 ms


def test_minimum_row_bits_vanish_under_ecm() -> None:
    assert Session(V17_14400, compression="MMR", ecm=True, min_scan_ms=20).min_row_bits() == 0


def test_idents_go_on_the_line_reversed_and_come_back_sanitised() -> None:
    fif = encode_ident("+1 555 0100")
    assert len(fif) == 20
    assert fif.endswith(b"0010 555 1+")  # last character first, padding first of all
    assert decode_ident(fif) == "+1 555 0100"
    hostile = b"\x1b[2J\n../../etc/passwd\x00"[::-1].ljust(20, b" ")
    cleaned = decode_ident(hostile)
    assert cleaned.isprintable() and len(cleaned) <= 20 and "\x1b" not in cleaned


def test_x_bit_is_ignored_except_where_it_tells_dis_from_dtc() -> None:
    assert decode_fcf(0x83) == Fcf.DCS
    assert decode_fcf(0x80) == Fcf.DIS
    assert decode_fcf(0x81) == Fcf.DTC
    assert Frame(Fcf.MCF, x_bit=True).octets() == bytes([0xFF, 0x13, 0x8D])


def test_ctc_carries_the_new_rate() -> None:
    assert modulation_from_ctc(ctc_fif(V27_4800)) == V27_4800


def test_fcs_is_checked_and_stripped() -> None:
    body = bytes([0xFF, 0x13, 0x8C])
    fcs = fcs16(body)
    assert strip_fcs(body + bytes([fcs & 0xFF, fcs >> 8])) == body
    assert strip_fcs(body + bytes([fcs & 0xFF ^ 1, fcs >> 8])) is None
