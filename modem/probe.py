"""What a modem is and can do (AT+FCLASS=?, +FTM=?, +FRM=?, ATI), and how to set it up for Class 1.

Class 2 is detected with ``AT+FCLASS=?`` only: spandsp's soft-modem answers OK to some Class 2 commands
(``AT+FDCC=?``) that it does not implement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from modem.at import DLE_ETX, AtChannel, AtTimeout
from modem.t30.frames import printable


@dataclass(frozen=True)
class InitProfile:
    """Commands that put one kind of modem into Class 1 with caller ID and DID reports."""

    name: str
    commands: tuple[str, ...]
    description: str


PROFILES: dict[str, InitProfile] = {
    "generic": InitProfile(
        "generic",
        ("ATE0V1Q0", "AT+FCLASS=1", "AT+VCID=1"),
        "any Class 1 modem: echo off, verbose results, Class 1, formatted caller ID (NMBR=, NAME=)",
    ),
    "iaxmodem": InitProfile(
        "iaxmodem",
        ("ATE0V1Q0", "AT+FCLASS=1", "AT+VCID=1"),
        "iaxmodem (spandsp T.31 over IAX2): caller ID and DID arrive as NMBR=, NAME=, NDID= before RING",
    ),
    "t38modem": InitProfile(
        "t38modem",
        ("ATE0V1Q0", "AT+FCLASS=1", "AT#CID=10"),
        "t38modem (OPAL/H.323/SIP): AT#CID=10 reports the caller (NMBR=) and the dialled number (NDID=)",
    ),
}


@dataclass
class ProbeResult:
    """The answers of a modem to the identification and capability queries."""

    identity: list[str] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    transmit_codes: list[int] = field(default_factory=list)
    receive_codes: list[int] = field(default_factory=list)
    hdlc_codes: list[int] = field(default_factory=list)
    adaptive_receive: bool = False
    profile: str = "generic"

    @property
    def class1(self) -> bool:
        """True when the modem offers Class 1 (or 1.0)."""
        return "1" in self.classes or "1.0" in self.classes

    def to_json(self) -> dict[str, object]:
        """Plain JSON for ``faxgate modem probe``."""
        return {
            "identity": self.identity,
            "classes": self.classes,
            "class1": self.class1,
            "class2": "2" in self.classes or "2.0" in self.classes,
            "transmit_codes": self.transmit_codes,
            "receive_codes": self.receive_codes,
            "hdlc_codes": self.hdlc_codes,
            "adaptive_receive": self.adaptive_receive,
            "profile": self.profile,
        }


def parse_codes(lines: list[str]) -> list[int]:
    """Numbers in a capability answer such as ``24,48,72,73,74,96,97,98,121,122,145,146``."""
    text = ",".join(lines)
    return [int(n) for n in re.findall(r"\d+", text.split(":")[-1])]


def guess_profile(identity: list[str]) -> str:
    """Pick an init profile from the ATI answers."""
    text = " ".join(identity).lower()
    if "t38modem" in text or "opal" in text:
        return "t38modem"
    if "iaxmodem" in text:
        return "iaxmodem"
    return "generic"


async def _info(at: AtChannel, command: str) -> list[str]:
    try:
        reply = await at.command(command, timeout=3.0)
    except AtTimeout:
        return []
    return reply.lines if reply.final == "OK" else []


async def probe(at: AtChannel) -> ProbeResult:
    """Ask the modem who it is and which Class 1 modulations it has."""
    await at.command("ATE0V1", timeout=3.0)
    identity = [printable(line, 80) for cmd in ("ATI0", "ATI3") for line in await _info(at, cmd)]
    classes_lines = await _info(at, "AT+FCLASS=?")
    classes = [c.strip() for c in ",".join(classes_lines).split(":")[-1].split(",") if c.strip()]
    result = ProbeResult(identity=identity, classes=classes, profile=guess_profile(identity))
    if result.class1:
        await at.command("AT+FCLASS=1", timeout=3.0)
        result.transmit_codes = parse_codes(await _info(at, "AT+FTM=?"))
        result.receive_codes = parse_codes(await _info(at, "AT+FRM=?"))
        result.hdlc_codes = parse_codes(await _info(at, "AT+FTH=?"))
        result.adaptive_receive = 1 in parse_codes(await _info(at, "AT+FAR=?"))
    return result


STALE_INPUT_S = 3.0
"""At most this long is spent reading what the modem says before the first command (stale result codes)."""


async def initialise(at: AtChannel, profile: InitProfile) -> None:
    """Run the profile's commands; raises AtTimeout when the modem does not answer at all.

    A DLE ETX first ends any data mode a previous program (or an aborted call) left the modem in.
    """
    await at.write(DLE_ETX + b"\r")
    deadline = at.clock_now + STALE_INPUT_S  # a modem that never stops talking must not hold us here forever
    while at.clock_now < deadline and await at.read_line(0.5) is not None:
        pass
    at.discard_input()
    for command in profile.commands:
        reply = await at.command(command, timeout=3.0)
        if reply.final != "OK" and command == "AT+FCLASS=1":
            raise AtTimeout("the modem refused Class 1 (AT+FCLASS=1)")
