"""Modem garbage from the bad-input corpus (tests/fixtures/hostile/modem_*.json): a scripted Class 1 modem plays
random bytes on the AT channel, frames with a bad FCS, endless HDLC flags, a DCS asking for what faxgate never
offered and hostile identifiers. Each call ends with its stated status and reason, and the same device then
answers AT again (the line is not lost). The spandsp network cannot send malformed T.30, hence the script."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modem.provider import Class1Device, DeviceConfig
from modem.result import CallResult, ExtendedStatus

CORPUS = Path(__file__).parent.parent / "fixtures" / "hostile"
CASES = {entry["file"]: entry for entry in json.loads((CORPUS / "MANIFEST.json").read_text())["cases"]
         if entry["kind"] == "modem"}
V21_BYTES_PER_S = 300 / 8
DTE_BYTES_PER_S = 1000.0
"""How fast the scripted modem's own chatter (result codes, babble) arrives: a slow serial line."""


class VirtualClock:
    """Time that passes only when the engine waits (as on the simulated network)."""

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)


class ScriptedModem:
    """A ModemPort whose modem answers AT commands and plays a corpus script where a far end would speak."""

    def __init__(self, script: dict[str, Any]) -> None:
        self.clock = VirtualClock()
        self.rings: list[str] = list(script.get("rings", []))
        self.frh = [bytes.fromhex(item) for item in script.get("frh", [])]
        self.babble = bytes.fromhex(script.get("babble", ""))
        self.endless = bytes.fromhex(script.get("endless", ""))
        self.out = bytearray()
        self.command = bytearray()
        self.host_data: bytearray | None = None  # the host is sending HDLC data (after CONNECT)
        self.streaming = False
        self.frh_playing = False
        self.listening = False
        self.closed = False
        self.commands: list[str] = []

    def _say(self, text: str) -> None:
        self.out += f"\r\n{text}\r\n".encode()

    async def write(self, data: bytes) -> None:
        self.streaming = self.frh_playing = False
        if self.listening:  # any character stops a +FRH that heard nothing (T.31)
            self.listening = False
            self._say("OK")
            return
        for byte in data:
            if self.host_data is not None:
                self.host_data.append(byte)
                if self.host_data.endswith(b"\x10\x03") and not self.host_data.endswith(b"\x10\x10\x03"):
                    frame = bytes(self.host_data[:-2])
                    final = not frame or bool(frame[1] & 0x10) if len(frame) > 1 else True
                    self._say("OK" if final else "CONNECT")
                    self.host_data = None if final else bytearray()
                continue
            if byte == 0x0D:
                self._command(self.command.decode("latin-1").strip())
                self.command.clear()
            elif 0x20 <= byte < 0x7F:
                self.command.append(byte)

    def _command(self, line: str) -> None:
        if not line.upper().startswith("AT"):
            return
        self.commands.append(line)
        if line in ("ATA", "AT+FTH=3"):
            self._say("CONNECT")
            self.host_data = bytearray()
        elif line == "AT+FRH=3":
            if self.endless:
                self.streaming = self.listening = True
            elif self.frh:
                self.out += self.frh.pop(0)
                self.frh_playing = True
            else:
                self.listening = True
        elif line.startswith(("AT+FRM", "AT+FRS")):
            self._say("NO CARRIER")
        else:
            self._say("OK")

    async def read(self, timeout: float) -> bytes:
        if self.closed:
            raise OSError("port closed")
        if not self.out and self.streaming:
            self.out += self.endless
        if not self.out and self.babble:
            self.out += self.babble
        if not self.out and self.rings and timeout > 5:  # waiting for a call, not for a result code
            self._say(self.rings.pop(0))
            self.clock.t += 1.0
        if not self.out:
            self.clock.t += timeout
            return b""
        data = bytes(self.out[:256])
        del self.out[:256]
        self.clock.t += len(data) / (V21_BYTES_PER_S if self.streaming or self.frh_playing else DTE_BYTES_PER_S)
        return data

    def set_xonxoff(self, enabled: bool, bit_rate: int = 0) -> None:
        pass

    async def drain(self) -> None:
        pass

    async def close(self) -> None:
        self.closed = True


def device_for(case: str, **config: Any) -> tuple[Class1Device, ScriptedModem]:
    modem = ScriptedModem(json.loads((CORPUS / case).read_text()))

    async def opener() -> ScriptedModem:
        modem.closed = False
        return modem

    return Class1Device(DeviceConfig(name="hostile0", csid="+1 555 1000", **config), opener), modem  # type: ignore[arg-type]


async def receive(case: str, **config: Any) -> tuple[CallResult, Class1Device, ScriptedModem, Path]:
    device, modem = device_for(case, **config)
    call = await device.wait_for_call(timeout=60.0)
    out = Path(f"/nonexistent/{case}")  # nothing may be written: every case ends before a page
    return await device.answer(call, out), device, modem, out


def expected(case: str) -> tuple[ExtendedStatus, str]:
    status, _, words = CASES[case]["expect"].partition(": ")
    return ExtendedStatus[status], words


def test_the_manifest_lists_every_modem_script() -> None:
    assert sorted(CASES) == sorted(p.name for p in CORPUS.glob("modem_*.json"))


async def test_random_bytes_on_the_at_channel_are_no_call_and_the_modem_still_answers() -> None:
    device, modem = device_for("modem_at_random_bytes.json")
    with pytest.raises(TimeoutError, match="no call came in"):
        await device.wait_for_call(timeout=30.0)
    assert modem.clock.now() < 120  # the babble did not hold the engine past its timeout
    modem.babble = b""
    assert await device.ready()


@pytest.mark.parametrize("case", ["modem_hdlc_bad_fcs.json", "modem_endless_flags.json",
                                  "modem_dcs_never_advertised.json", "modem_hostile_tsi.json",
                                  "modem_hostile_caller_id.json"])
async def test_a_hostile_far_end_ends_the_call_with_its_stated_status_and_reason(case: str) -> None:
    result, device, modem, out = await receive(case, max_bit_rate=9600, ecm=False)
    status, words = expected(case)
    assert (result.status, result.pages) == (status, 0), result.reason
    assert words in result.reason, result.reason
    assert not out.exists() and result.files == []
    for text in (result.reason, result.remote_csid, result.caller_id, result.caller_name):
        assert text.isprintable() and len(text) <= 200, text
    modem.rings, modem.frh, modem.endless = [], [], b""
    assert await device.ready()  # the line is still usable


async def test_hostile_identifiers_arrive_printable_and_bounded() -> None:
    result, *_ = await receive("modem_hostile_tsi.json")
    assert result.remote_csid == "../?[2J?? Bcc: x@y/"[:20] or "\x1b" not in result.remote_csid
    result, *_ = await receive("modem_hostile_caller_id.json")
    assert result.caller_id.startswith("../../etc/passwd?[31m?") and len(result.caller_id) <= 40
    assert "\x00" not in result.caller_name and "\x1b" not in result.caller_name
