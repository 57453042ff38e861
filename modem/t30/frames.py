"""T.30 control frames: FCF values, DIS/DTC/DCS bit fields both ways, TSI/CSI identifiers, words for the log.

Octets are in the order a Class 1 modem (T.31) hands them over: the first bit on the line is the least
significant bit of each octet, so DIS is ``ff 13 80 ...`` and FIF bit *n* (T.30 numbering from 1) is bit
``(n - 1) % 8`` of octet ``(n - 1) // 8``. The "X" bit (set by the station that received a DIS) is 0x01 of
the FCF and is masked off when decoding.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Literal

ADDRESS = 0xFF
CONTROL_NON_FINAL = 0x03
CONTROL_FINAL = 0x13
X_BIT = 0x01
IDENT_LEN = 20


class Fcf(IntEnum):
    """Facsimile control field values without the X bit (T.30 Table 1, T.4 Annex A for FCD/RCP)."""

    DIS = 0x80
    CSI = 0x40
    NSF = 0x20
    DTC = 0x81
    CIG = 0x41
    NSC = 0x21
    DCS = 0x82
    TSI = 0x42
    NSS = 0x22
    SUB = 0xC2
    SID = 0xA2
    CTC = 0x12
    CFR = 0x84
    FTT = 0x44
    CTR = 0xC4
    EOM = 0x8E
    MPS = 0x4E
    EOP = 0x2E
    PRI_EOM = 0x9E
    PRI_MPS = 0x5E
    PRI_EOP = 0x3E
    PPS = 0xBE
    EOR = 0xCE
    RR = 0x6E
    MCF = 0x8C
    RTP = 0xCC
    RTN = 0x4C
    PIP = 0xAC
    PIN = 0x2C
    PPR = 0xBC
    RNR = 0xEC
    ERR = 0x1C
    DCN = 0xFA
    CRP = 0x1A
    FNV = 0xCA
    NULL = 0x00
    FCD = 0x06
    RCP = 0x86


_FCF_BY_VALUE = {int(f): f for f in Fcf}
# DIS/DTC/CSI/CIG/NSF/NSC carry their own fixed low bit; masking it off would confuse DIS with DTC.
_UNMASKED = {0x80, 0x81, 0x40, 0x41, 0x20, 0x21, 0x06, 0x86, 0x00}

POST_PAGE_COMMANDS = frozenset({Fcf.MPS, Fcf.EOP, Fcf.EOM, Fcf.PRI_MPS, Fcf.PRI_EOP, Fcf.PRI_EOM})


def fcf_name(value: int) -> str:
    """A readable name for an FCF octet, with or without the X bit."""
    fcf = decode_fcf(value)
    return fcf.name if fcf is not None else f"0x{value:02x}"


def decode_fcf(value: int) -> Fcf | None:
    """The FCF an octet means, ignoring the X bit where T.30 defines one."""
    if value in _UNMASKED:
        return _FCF_BY_VALUE.get(value)
    return _FCF_BY_VALUE.get(value & 0xFE)


@dataclass(frozen=True)
class Frame:
    """One HDLC control frame: FCF plus its information field."""

    fcf: Fcf
    fif: bytes = b""
    final: bool = True
    x_bit: bool = False

    def octets(self) -> bytes:
        """The frame as the host hands it to +FTH (no FCS: the modem adds it)."""
        value = int(self.fcf)
        if self.x_bit and value not in _UNMASKED:
            value |= X_BIT
        control = CONTROL_FINAL if self.final else CONTROL_NON_FINAL
        return bytes([ADDRESS, control, value]) + self.fif

    @classmethod
    def parse(cls, octets: bytes) -> Frame | None:
        """Read a frame received via +FRH (FCS already stripped); None if it is not a T.30 frame."""
        if len(octets) < 3 or octets[0] != ADDRESS or octets[1] not in (CONTROL_FINAL, CONTROL_NON_FINAL):
            return None
        fcf = decode_fcf(octets[2])
        if fcf is None:
            return None
        return cls(fcf=fcf, fif=bytes(octets[3:]), final=octets[1] == CONTROL_FINAL, x_bit=bool(octets[2] & 1))


# ----------------------------------------------------------------------------------------- bit helpers


def _bit(fif: bytes, n: int) -> bool:
    index = (n - 1) // 8
    return index < len(fif) and bool(fif[index] & (1 << ((n - 1) % 8)))


def _set(fif: bytearray, n: int) -> None:
    index = (n - 1) // 8
    while len(fif) <= index:
        fif.append(0)
    fif[index] |= 1 << ((n - 1) % 8)


def _close_extends(fif: bytearray) -> bytes:
    """Set the extend bit (24, 32, ...) of every octet group that is followed by another."""
    for group_end in range(24, len(fif) * 8, 8):
        if (group_end // 8) < len(fif):
            _set(fif, group_end)
    return bytes(fif)


# ------------------------------------------------------------------------------------------ modulations


@dataclass(frozen=True)
class Modulation:
    """An image-data modem: its T.31 +FTM/+FRM codes and its DCS rate bits (11..14)."""

    name: str
    bit_rate: int
    long_code: int
    short_code: int
    dcs_bits: tuple[bool, bool, bool, bool]

    @property
    def family(self) -> str:
        """V.17, V.29 or V.27ter: which DIS capability it needs."""
        return self.name.split()[0]

    def __str__(self) -> str:
        return f"{self.family} {self.bit_rate}"


V17_14400 = Modulation("V.17 14400", 14400, 145, 146, (False, False, False, True))
V17_12000 = Modulation("V.17 12000", 12000, 121, 122, (False, True, False, True))
V17_9600 = Modulation("V.17 9600", 9600, 97, 98, (True, False, False, True))
V17_7200 = Modulation("V.17 7200", 7200, 73, 74, (True, True, False, True))
V29_9600 = Modulation("V.29 9600", 9600, 96, 96, (True, False, False, False))
V29_7200 = Modulation("V.29 7200", 7200, 72, 72, (True, True, False, False))
V27_4800 = Modulation("V.27ter 4800", 4800, 48, 48, (False, True, False, False))
V27_2400 = Modulation("V.27ter 2400", 2400, 24, 24, (False, False, False, False))

FALLBACK_ORDER: tuple[Modulation, ...] = (
    V17_14400,
    V17_12000,
    V17_9600,
    V29_9600,
    V17_7200,
    V29_7200,
    V27_4800,
    V27_2400,
)
"""Best first: the order a sender tries, and steps down through after FTT."""


def modulation_from_dcs_bits(bits: tuple[bool, bool, bool, bool]) -> Modulation | None:
    """The modem a DCS selects, or None for a combination T.30 leaves unused."""
    for modulation in FALLBACK_ORDER:
        if modulation.dcs_bits == bits:
            return modulation
    return None


# ------------------------------------------------------------------------------ scan-line time codes

_DIS_SCAN: dict[tuple[bool, bool, bool], tuple[int, bool]] = {
    (False, False, False): (20, False),
    (False, False, True): (40, False),
    (False, True, False): (10, False),
    (True, False, False): (5, False),
    (False, True, True): (10, True),
    (True, True, False): (20, True),
    (True, False, True): (40, True),
    (True, True, True): (0, False),
}
_DCS_SCAN: dict[int, tuple[bool, bool, bool]] = {
    20: (False, False, False),
    40: (False, False, True),
    10: (False, True, False),
    5: (True, False, False),
    0: (True, True, True),
}


def _scan_bits(fif: bytes) -> tuple[bool, bool, bool]:
    return (_bit(fif, 21), _bit(fif, 22), _bit(fif, 23))


# -------------------------------------------------------------------------------------- DIS and DCS


@dataclass(frozen=True)
class Capabilities:
    """What a DIS (or DTC) offers."""

    v27ter: bool = True
    v29: bool = True
    v17: bool = True
    fine: bool = True
    mr: bool = True
    mmr: bool = True
    ecm: bool = True
    ecm_64_preferred: bool = False
    min_scan_ms: int = 0
    fine_scan_halved: bool = False
    unlimited_length: bool = True
    b4_length: bool = False
    can_receive: bool = True
    can_transmit: bool = False
    v27ter_fallback_only: bool = False
    subaddressing: bool = False
    """DIS bit 49: senders may send a SUB frame (without it spandsp and most machines never do)."""

    def supports(self, modulation: Modulation) -> bool:
        """True if the far end can receive with this modem."""
        if modulation.family == "V.17":
            return self.v17
        if modulation.family == "V.29":
            return self.v29
        if modulation.bit_rate == 2400:
            return True
        return self.v27ter and not self.v27ter_fallback_only

    def scan_ms_for(self, fine: bool) -> int:
        """Minimum scan-line time the receiver needs at this resolution."""
        if fine and self.fine_scan_halved:
            return self.min_scan_ms // 2
        return self.min_scan_ms

    def encode(self) -> bytes:
        """FIF octets of a DIS offering these capabilities."""
        fif = bytearray(4)
        if self.can_transmit:
            _set(fif, 9)
        if self.can_receive:
            _set(fif, 10)
        if self.v29:
            _set(fif, 11)
        if self.v27ter:
            _set(fif, 12)
        if self.v17:
            _set(fif, 11)
            _set(fif, 12)
            _set(fif, 14)
        if self.fine:
            _set(fif, 15)
        if self.mr:
            _set(fif, 16)
        if self.unlimited_length:
            _set(fif, 20)
        elif self.b4_length:
            _set(fif, 19)
        scan_code = next(
            code for code, value in _DIS_SCAN.items() if value == (self.min_scan_ms, self.fine_scan_halved)
        )
        for offset, on in enumerate(scan_code):
            if on:
                _set(fif, 21 + offset)
        if self.ecm:
            _set(fif, 27)
            if self.ecm_64_preferred:
                _set(fif, 7)
            if self.mmr:
                _set(fif, 31)
        if self.subaddressing:
            _set(fif, 49)
        return _close_extends(fif)

    @classmethod
    def decode(cls, fif: bytes) -> Capabilities:
        """Read a DIS/DTC information field."""
        rate = (_bit(fif, 11), _bit(fif, 12), _bit(fif, 13), _bit(fif, 14))
        scan_ms, halved = _DIS_SCAN[_scan_bits(fif)]
        ecm = _bit(fif, 27)
        return cls(
            v27ter=True,
            v29=rate[0],
            v17=rate[3] and rate[0] and rate[1],
            fine=_bit(fif, 15),
            mr=_bit(fif, 16),
            mmr=ecm and _bit(fif, 31),
            ecm=ecm,
            ecm_64_preferred=_bit(fif, 7),
            min_scan_ms=scan_ms,
            fine_scan_halved=halved,
            unlimited_length=_bit(fif, 20) and not _bit(fif, 19),
            b4_length=_bit(fif, 19) and not _bit(fif, 20),
            can_receive=_bit(fif, 10),
            can_transmit=_bit(fif, 9),
            v27ter_fallback_only=rate == (False, False, False, False),
            subaddressing=_bit(fif, 49),
        )

    def describe(self) -> str:
        """The offer in words, for the session log."""
        modems = [name for name, on in (("V.27ter", True), ("V.29", self.v29), ("V.17", self.v17)) if on]
        if self.v27ter_fallback_only:
            modems = ["V.27ter 2400 only"]
        parts = ["modems " + "/".join(modems), "fine" if self.fine else "standard only"]
        codings = ["MH"] + (["MR"] if self.mr else []) + (["MMR"] if self.mmr else [])
        parts.append("coding " + "/".join(codings))
        if self.ecm:
            parts.append("ECM (" + ("64" if self.ecm_64_preferred else "256") + "-octet frames preferred)")
        else:
            parts.append("no ECM")
        scan = f"min scan line {self.min_scan_ms} ms" + (" (half at fine)" if self.fine_scan_halved else "")
        parts.append(scan)
        parts.append(
            "length unlimited" if self.unlimited_length else ("length A4/B4" if self.b4_length else "length A4")
        )
        parts.append("width 215 mm")
        if self.can_receive:
            parts.append("can receive")
        if self.can_transmit:
            parts.append("has a document to send")
        return ", ".join(parts)


Compression = Literal["MH", "MR", "MMR"]


@dataclass(frozen=True)
class Session:
    """What a DCS commands: the parameters of the pages that follow."""

    modulation: Modulation
    fine: bool = False
    compression: Compression = "MH"
    ecm: bool = False
    ecm_frame_size: int = 256
    min_scan_ms: int = 0
    unlimited_length: bool = True
    b4_length: bool = False

    def encode(self) -> bytes:
        """FIF octets of a DCS commanding these parameters."""
        fif = bytearray(3)
        _set(fif, 10)
        for offset, on in enumerate(self.modulation.dcs_bits):
            if on:
                _set(fif, 11 + offset)
        if self.fine:
            _set(fif, 15)
        if self.compression == "MR":
            _set(fif, 16)
        if self.unlimited_length:
            _set(fif, 20)
        elif self.b4_length:
            _set(fif, 19)
        for offset, on in enumerate(_DCS_SCAN[self.min_scan_ms]):
            if on:
                _set(fif, 21 + offset)
        if self.ecm:
            _set(fif, 27)
            if self.ecm_frame_size == 64:
                _set(fif, 28)
            if self.compression == "MMR":
                _set(fif, 31)
        return _close_extends(fif)

    @classmethod
    def decode(cls, fif: bytes) -> Session | None:
        """Read a DCS information field; None when it selects a modem or scan time T.30 does not define."""
        modulation = modulation_from_dcs_bits((_bit(fif, 11), _bit(fif, 12), _bit(fif, 13), _bit(fif, 14)))
        scan = _DIS_SCAN.get(_scan_bits(fif))
        if modulation is None or scan is None:
            return None
        ecm = _bit(fif, 27)
        compression: Compression = "MMR" if ecm and _bit(fif, 31) else ("MR" if _bit(fif, 16) else "MH")
        return cls(
            modulation=modulation,
            fine=_bit(fif, 15),
            compression=compression,
            ecm=ecm,
            ecm_frame_size=64 if ecm and _bit(fif, 28) else 256,
            min_scan_ms=scan[0],
            unlimited_length=_bit(fif, 20) and not _bit(fif, 19),
            b4_length=_bit(fif, 19) and not _bit(fif, 20),
        )

    def with_modulation(self, modulation: Modulation) -> Session:
        """The same session on another modem (after FTT or CTC)."""
        return replace(self, modulation=modulation)

    @property
    def resolution(self) -> str:
        """ "fine" or "standard", as results report it."""
        return "fine" if self.fine else "standard"

    def min_row_bits(self) -> int:
        """Bits each coded row must fill at this rate (0 with ECM, which has no minimum scan time)."""
        if self.ecm:
            return 0
        return self.modulation.bit_rate * self.min_scan_ms // 1000

    def describe(self) -> str:
        """The command in words, for the session log."""
        parts = [str(self.modulation), self.resolution, self.compression]
        parts.append(f"ECM {self.ecm_frame_size}-octet frames" if self.ecm else "no ECM")
        parts.append(f"min scan line {self.min_scan_ms} ms")
        parts.append("length unlimited" if self.unlimited_length else ("length B4" if self.b4_length else "A4"))
        return ", ".join(parts)


def ctc_fif(modulation: Modulation) -> bytes:
    """CTC information field: DCS octets 1-2 with the new rate bits (T.30 A.4.1)."""
    fif = bytearray(2)
    for offset, on in enumerate(modulation.dcs_bits):
        if on:
            _set(fif, 11 + offset)
    return bytes(fif)


def modulation_from_ctc(fif: bytes) -> Modulation | None:
    """The modem a CTC asks for."""
    return modulation_from_dcs_bits((_bit(fif, 11), _bit(fif, 12), _bit(fif, 13), _bit(fif, 14)))


# ---------------------------------------------------------------------------------------- identifiers


def printable(text: str, limit: int) -> str:
    """Untrusted far-end text made safe for logs, paths and results: printable ASCII, bounded length."""
    cleaned = "".join(ch if " " <= ch <= "~" else "?" for ch in text)
    return " ".join(cleaned.split())[:limit]


def encode_ident(ident: str) -> bytes:
    """TSI/CSI/CIG information field: 20 characters, sent last character first (T.30 5.3.6.2.4)."""
    text = printable(ident, IDENT_LEN).ljust(IDENT_LEN)
    return text[::-1].encode("ascii")


def decode_ident(fif: bytes) -> str:
    """The far end's identifier from a TSI/CSI field, reversed back and made safe to print."""
    text = bytes(fif[:IDENT_LEN])[::-1].decode("latin-1")
    return printable(text, IDENT_LEN)


SUBADDRESS_CHARS = frozenset("0123456789#* ")


def decode_subaddress(fif: bytes) -> str:
    """The T.30 subaddress from a SUB field (reversed like TSI), keeping only what T.30 allows so it can route."""
    text = bytes(fif[:IDENT_LEN])[::-1].decode("latin-1")
    return " ".join("".join(ch for ch in text if ch in SUBADDRESS_CHARS).split())


# -------------------------------------------------------------------------------------- words for logs


def describe(frame: Frame) -> str:
    """One log line for a frame: its name and, for the frames that carry fields, those fields in words."""
    name = frame.fcf.name
    if frame.fcf in (Fcf.DIS, Fcf.DTC):
        return f"{name}: {Capabilities.decode(frame.fif).describe()}"
    if frame.fcf == Fcf.DCS:
        session = Session.decode(frame.fif)
        return f"DCS: {session.describe()}" if session else f"DCS: invalid fields {frame.fif.hex()}"
    if frame.fcf in (Fcf.TSI, Fcf.CSI, Fcf.CIG):
        return f'{name}: "{decode_ident(frame.fif)}"'
    if frame.fcf == Fcf.SUB:
        return f'SUB: "{decode_subaddress(frame.fif)}"'
    if frame.fcf == Fcf.PPS and len(frame.fif) >= 4:
        post = fcf_name(frame.fif[0])
        return f"PPS-{post}: page {frame.fif[1]}, block {frame.fif[2]}, {frame.fif[3] + 1} frames"
    if frame.fcf == Fcf.PPR:
        missing = sum(bin(octet).count("1") for octet in frame.fif)
        return f"PPR: {missing} frames to resend"
    if frame.fcf == Fcf.CTC:
        modulation = modulation_from_ctc(frame.fif)
        return f"CTC: continue at {modulation}" if modulation else "CTC"
    if frame.fcf == Fcf.EOR and frame.fif:
        return f"EOR-{fcf_name(frame.fif[0])}"
    if frame.fcf in (Fcf.NSF, Fcf.NSS, Fcf.NSC):
        return f"{name}: {len(frame.fif)} octets of non-standard facilities"
    return name
