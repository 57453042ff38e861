"""T.30 frames from the line: whatever octets arrive, decoding returns a frame, None or an empty result (the
decoders document no error), and every string that comes out is printable for the session log."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from modem.class1 import fcs16, strip_fcs
from modem.t30 import ecm
from modem.t30.frames import (
    ADDRESS,
    CONTROL_FINAL,
    CONTROL_NON_FINAL,
    FALLBACK_ORDER,
    IDENT_LEN,
    Capabilities,
    Fcf,
    Frame,
    Session,
    decode_fcf,
    decode_ident,
    decode_subaddress,
    describe,
    fcf_name,
    modulation_from_ctc,
)
from tests.fuzz.mutate import bytes_or_mutated


def _printable(text: str) -> bool:
    return all(" " <= ch <= "~" for ch in text)


_capabilities = st.builds(
    Capabilities, v27ter=st.booleans(), v29=st.booleans(), v17=st.booleans(), fine=st.booleans(), mr=st.booleans(),
    mmr=st.booleans(), ecm=st.booleans(), ecm_64_preferred=st.booleans(),
    min_scan_ms=st.sampled_from([0, 5, 10, 20, 40]), unlimited_length=st.booleans(), b4_length=st.booleans(),
    can_receive=st.booleans(), can_transmit=st.booleans(), subaddressing=st.booleans(),
)
_sessions = st.builds(
    Session, modulation=st.sampled_from(FALLBACK_ORDER), fine=st.booleans(),
    compression=st.sampled_from(["MH", "MR", "MMR"]), ecm=st.booleans(), ecm_frame_size=st.sampled_from([64, 256]),
    min_scan_ms=st.sampled_from([0, 5, 10, 20, 40]), unlimited_length=st.booleans(), b4_length=st.booleans(),
)
_fifs = st.one_of(
    _capabilities.map(Capabilities.encode),
    _sessions.map(Session.encode),
    st.text(max_size=IDENT_LEN).map(lambda text: text.encode("utf-8", "replace")[::-1]),
    st.binary(max_size=64),
)
_valid_frames = st.builds(
    lambda fcf, fif, final: bytes([ADDRESS, CONTROL_FINAL if final else CONTROL_NON_FINAL, fcf]) + fif,
    st.sampled_from([int(f) for f in Fcf] + [int(f) | 1 for f in Fcf]), _fifs, st.booleans(),
)
_frames = bytes_or_mutated(_valid_frames, max_size=300)


def _check_frame(frame: Frame) -> None:
    """Everything the receiver, the sender and the session log read from one parsed frame."""
    text = describe(frame)
    assert _printable(text), text
    assert _printable(fcf_name(frame.fif[0] if frame.fif else 0))
    ident = decode_ident(frame.fif)
    assert _printable(ident) and len(ident) <= IDENT_LEN
    subaddress = decode_subaddress(frame.fif)
    assert set(subaddress) <= set("0123456789#* ") and len(subaddress) <= IDENT_LEN
    capabilities = Capabilities.decode(frame.fif)
    assert _printable(capabilities.describe())
    session = Session.decode(frame.fif)
    if session is not None:
        assert _printable(session.describe())
        assert session.min_row_bits() >= 0
        assert Session.decode(session.encode()) == session  # what we decoded we can command back unchanged
    modulation_from_ctc(frame.fif)
    again = Frame.parse(frame.octets())  # sent back (e.g. a frame repeated), it reads the same
    assert again is not None and (again.fcf, again.fif, again.final) == (frame.fcf, frame.fif, frame.final)


@given(_frames)
def test_received_frame_octets_parse_or_are_refused(octets: bytes) -> None:
    frame = Frame.parse(octets)
    if frame is None:
        return
    assert octets[0] == ADDRESS and decode_fcf(octets[2]) == frame.fcf
    _check_frame(frame)


@given(_frames)
def test_fcs_check_keeps_only_frames_whose_fcs_matches(octets: bytes) -> None:
    with_fcs = octets + bytes([fcs16(octets) & 0xFF, fcs16(octets) >> 8])
    if len(with_fcs) >= 3:
        assert strip_fcs(with_fcs) == octets
    body = strip_fcs(octets)
    assert body is None or fcs16(body) == octets[-2] | (octets[-1] << 8)


_hdlc_bursts = st.lists(_valid_frames, min_size=1, max_size=4).map(ecm.hdlc_encode)


@given(bytes_or_mutated(_hdlc_bursts, max_size=2048))
def test_hdlc_bit_stream_yields_only_frames_with_a_good_fcs(data: bytes) -> None:
    for frame in ecm.hdlc_decode(data):
        assert strip_fcs(frame + bytes([fcs16(frame) & 0xFF, fcs16(frame) >> 8])) == frame
        parsed = Frame.parse(frame)
        if parsed is not None:
            _check_frame(parsed)


@given(st.lists(_valid_frames, min_size=1, max_size=4))
def test_hdlc_round_trip(frames: list[bytes]) -> None:
    assert ecm.hdlc_decode(ecm.hdlc_encode(frames)) == frames


_fcd_burst = st.dictionaries(st.integers(0, 255), st.binary(max_size=64), max_size=8).map(ecm.ecm_burst)


@given(bytes_or_mutated(_fcd_burst, max_size=2048), st.binary(max_size=40))
def test_ecm_block_from_damaged_bursts(data: bytes, pps: bytes) -> None:
    block = ecm.BlockCollector()
    block.take(ecm.hdlc_decode(data))
    if len(pps) >= 4:  # the receiver sizes the block from PPS octet 4
        block.frame_count = max(block.frame_count, pps[3] + 1)
    missing = block.missing()
    assert missing <= set(range(256))
    if not missing:
        assert len(block.data()) <= 256 * 2048
    bitmap = ecm.ppr_bitmap(missing)
    assert ecm.frames_in_ppr(bitmap, block.frame_count) == missing
