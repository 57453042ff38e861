"""The things a simulated call connects: faxgate's soft-modems and the remote machines' fax terminals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from modem import spandsp
from modem.simnet.dte import DteTracker, ReceivedDataTracker, flip_bits, next_chunk_length
from modem.simnet.spec import RemoteCallRecord, RemoteFaxSpec

if TYPE_CHECKING:
    from modem.simnet.call import Call

SILENCE = np.zeros(spandsp.T31Modem.BLOCK, dtype=np.int16)


class ModemEndpoint:
    """A faxgate-side soft-modem: t31 plus the DTE byte queues and the call it is in."""

    def __init__(self, name: str, number: str, now: Callable[[], float], rng: np.random.Generator) -> None:
        self.name = name
        self.rng = rng
        self.tx_damage: Callable[[int, int], npt.NDArray[np.float64]] | None = None
        """Bit error rates for data octets the host sends, given (index in window, count); set by the network."""
        self.rx_bit_error_rate = 0.0
        """Bit error rate applied to the high-speed data the host receives now (set by the network)."""
        self.received_data = ReceivedDataTracker()
        self.number = number
        self.log = spandsp.SpanLog(name, now)
        self.t31 = spandsp.T31Modem(self.log)
        self.dte_input = bytearray()
        """Bytes the host wrote that t31 has not taken yet (held back while t31 holds CTS)."""
        self.frames_sent: list[bytes] = []
        self.tracker = DteTracker(self._on_host_frame)
        self.wedged = False
        """While True the modem ignores its DTE and says nothing (a hung modem)."""
        self.dial_tone = True
        self.dte_present = True
        """False while no program has the port open: output is dropped (pty pitfall 3)."""
        self.call: Call | None = None
        self.outgoing: object | None = None
        """The pending outgoing call attempt (before it connects), if any."""
        self.incoming: Incoming | None = None
        self.calls_made = 0
        self.on_frame: Callable[[ModemEndpoint, bytes], None] | None = None

    def _on_host_frame(self, frame: bytes) -> None:
        self.frames_sent.append(frame)
        if self.on_frame is not None:
            self.on_frame(self, frame)

    @property
    def busy(self) -> bool:
        """In a call, dialling, or ringing."""
        return self.call is not None or self.outgoing is not None or self.incoming is not None

    @property
    def high_speed_tx(self) -> bool:
        """The host is sending a high-speed carrier (+FTM)."""
        return self.tracker.high_speed_tx

    @property
    def high_speed_rx(self) -> bool:
        """The host is receiving a high-speed carrier (+FRM)."""
        return self.tracker.high_speed_rx

    def feed(self) -> None:
        """Hand queued DTE bytes to t31 while it does not hold CTS, in chunks it parses correctly."""
        if self.wedged:
            self.dte_input.clear()
            return
        while self.dte_input and not self.t31.cts_held:
            length = next_chunk_length(self.dte_input)
            chunk = bytes(self.dte_input[:length])
            del self.dte_input[:length]
            first = self.tracker.data_octets
            positions = self.tracker.feed(chunk)
            if positions and self.tx_damage is not None:
                rates = self.tx_damage(first, len(positions))
                if rates.any():
                    chunk = bytes(flip_bits(chunk, positions, rates, self.rng))
            self.t31.at_rx(chunk)

    def damage_received(self, start: int) -> None:
        """Apply the receive bit error rate to data the modem produced from ``start`` on."""
        output = self.t31.output
        fresh = output[start:]
        positions = self.received_data.scan(fresh, self.high_speed_rx)
        if self.rx_bit_error_rate > 0.0 and positions:
            output[start:] = flip_bits(fresh, positions, self.rx_bit_error_rate, self.rng)

    def take_output(self) -> bytes:
        """Bytes for the DTE (empty while wedged or while no DTE is present)."""
        data = bytes(self.t31.output)
        self.t31.output.clear()
        if self.wedged or not self.dte_present:
            return b""
        return data

    def has_output(self) -> bool:
        """Whether the modem said something the DTE has not read."""
        if self.wedged or not self.dte_present:
            self.t31.output.clear()
            return False
        return bool(self.t31.output)

    def tx(self) -> spandsp.Samples:
        """Line audio from the modem."""
        return self.t31.tx()

    def rx(self, audio: spandsp.Samples) -> None:
        """Line audio to the modem."""
        self.t31.rx(audio)

    def reset(self) -> None:
        """A fresh modem, as after power-up (used when the DTE goes away)."""
        self.t31.close()
        self.t31 = spandsp.T31Modem(self.log)
        self.tracker = DteTracker(self._on_host_frame)
        self.received_data = ReceivedDataTracker()
        self.dte_input.clear()

    def close(self) -> None:
        """Free spandsp state."""
        self.t31.close()


@dataclass
class Incoming:
    """A call ringing at a modem."""

    caller: ModemEndpoint | RemoteFax
    caller_info: list[tuple[str, str]]
    rings: int = 0
    timers: list[object] = field(default_factory=list)
    pages_path: str = ""
    record: RemoteCallRecord | None = None
    subaddress: str = ""
    """The T.30 subaddress the calling remote fax machine sends with DCS."""


class TerminalEndpoint:
    """A remote machine's spandsp fax terminal for the length of one call."""

    def __init__(
        self,
        remote: RemoteFax,
        calling: bool,
        record: RemoteCallRecord,
        now: Callable[[], float],
        subaddress: str = "",
    ):
        self.remote = remote
        self.name = remote.number
        self.record = record
        self.log = spandsp.SpanLog(remote.number, now)
        config = replace(remote.spec.terminal_config(), sub_address=subaddress)
        self.terminal = spandsp.FaxTerminal(calling, config, self.log)
        self.rx_path = ""
        self.page_data_ticks = 0
        self.frames_seen = 0

    def tx(self) -> spandsp.Samples:
        """Line audio from the fax machine."""
        return self.terminal.tx()

    def rx(self, audio: spandsp.Samples) -> None:
        """Line audio to the fax machine."""
        self.terminal.rx(audio)


class SilentEndpoint:
    """A telephone that answers and says nothing (a voice line, not a fax machine)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def tx(self) -> spandsp.Samples:
        """Silence."""
        return SILENCE.copy()

    def rx(self, audio: spandsp.Samples) -> None:
        """Ignore what is heard."""


class RemoteFax:
    """A simulated remote fax machine at a number: answers or calls, and keeps what it received."""

    def __init__(self, number: str, spec: RemoteFaxSpec, workdir: Path) -> None:
        self.number = number
        self.spec = spec
        self.workdir = workdir
        self.records: list[RemoteCallRecord] = []
        """Every call this machine took part in, oldest first (busy and unanswered attempts too)."""
        self.calls_offered = 0
        self.endpoint: TerminalEndpoint | SilentEndpoint | None = None
        self.place_call: Callable[..., RemoteCallRecord] | None = None

    @property
    def last(self) -> RemoteCallRecord:
        """The most recent call's record."""
        if not self.records:
            raise LookupError(f"remote fax {self.number} has taken part in no call")
        return self.records[-1]

    @property
    def received_pages(self) -> list[np.ndarray]:
        """Pages received in all calls, in order."""
        return [page for record in self.records for page in record.pages]

    def call(
        self,
        number: str,
        pages: list[np.ndarray],
        *,
        fine: bool = False,
        caller_id: str | None = None,
        caller_name: str = "",
        did: str = "",
        subaddress: str = "",
    ) -> RemoteCallRecord:
        """Call a faxgate modem and send ``pages``; the returned record fills in as the call proceeds."""
        if self.place_call is None:
            raise RuntimeError("remote fax is not attached to a network")
        return self.place_call(
            self, number, pages, fine=fine, caller_id=caller_id, caller_name=caller_name, did=did,
            subaddress=subaddress,
        )
