"""One call on the simulated line: two endpoints, a delay line each way, and the high-speed windows.

A high-speed window runs from a faxgate host's ``AT+FTM=``/``AT+FRM=`` to its next command; it is the
TCF when the last T.30 frame on the line was a DCS, page data otherwise. Impairments aim at windows.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from modem import spandsp
from modem.simnet.dte import training_seconds
from modem.simnet.endpoints import SILENCE, ModemEndpoint, SilentEndpoint, TerminalEndpoint

Endpoint = ModemEndpoint | TerminalEndpoint | SilentEndpoint
DCS_FCF = 0x82
"""DCS in T.31 octet order, ignoring the X bit: the next high-speed carrier is the TCF."""


class LineDirection:
    """Audio flowing one way through a call: a delay line, and the high-speed window being played."""

    def __init__(self, sender: Endpoint, receiver: Endpoint, delay_ticks: int) -> None:
        self.sender = sender
        self.receiver = receiver
        self.queue: deque[spandsp.Samples] = deque(SILENCE.copy() for _ in range(delay_ticks))
        self.kind: str | None = None
        self.window = -1
        self.data_start: int | None = None
        """Sample at which this window's data begins (after the carrier's training), once it started."""
        self.counts = {"tcf": 0, "page": 0}
        self.index = 0
        self.bit_error_rate = 0.0
        """Bit error rate of the high-speed data going this way now (from the impairments)."""

    def modulation(self) -> int:
        """T.31 modulation code of the high-speed carrier going this way."""
        if isinstance(self.sender, ModemEndpoint) and self.sender.high_speed_tx:
            return self.sender.tracker.modulation
        if isinstance(self.receiver, ModemEndpoint):
            return self.receiver.tracker.modulation
        return 0

    def window_serial(self) -> int:
        """Which +FTM/+FRM command of the modem host the current window belongs to."""
        if isinstance(self.sender, ModemEndpoint) and self.sender.high_speed_tx:
            return self.sender.tracker.window
        if isinstance(self.receiver, ModemEndpoint):
            return self.receiver.tracker.window
        return 0

    def high_speed(self) -> bool:
        """A high-speed carrier goes this way now (judged from the modem hosts' commands)."""
        return (isinstance(self.sender, ModemEndpoint) and self.sender.high_speed_tx) or (
            isinstance(self.receiver, ModemEndpoint) and self.receiver.high_speed_rx
        )


class Call:
    """Two endpoints joined by a delayed, possibly noisy, audio path."""

    def __init__(
        self,
        caller: Endpoint,
        callee: Endpoint,
        delay_ticks: int,
        samples: Callable[[], int],
        impair: Callable[[Call, LineDirection, spandsp.Samples], spandsp.Samples],
    ) -> None:
        self.caller = caller
        self.callee = callee
        self.forward = LineDirection(caller, callee, delay_ticks)
        self.backward = LineDirection(callee, caller, delay_ticks)
        self._samples = samples
        self._impair = impair
        self.started = samples()
        self.last_fcf: int | None = None
        self.ending_by: Endpoint | None = None
        self.ending_ticks = 0
        self.call_index: dict[str, int] = {}

    def sent_by(self, endpoint: Endpoint, to: bool = False) -> LineDirection:
        """The direction ``endpoint`` sends in (or, with ``to``, receives from)."""
        sends_forward = endpoint is self.caller
        return self.forward if sends_forward != to else self.backward

    def note_frame(self, frame: bytes) -> None:
        """Remember the last T.30 control field seen on the line."""
        if len(frame) >= 3:
            self.last_fcf = frame[2]

    def exchange(self) -> None:
        """Run one 20 ms block both ways."""
        out_forward = self.caller.tx()
        out_backward = self.callee.tx()
        if self.ending_by is self.caller:
            out_forward = SILENCE.copy()
        elif self.ending_by is self.callee:
            out_backward = SILENCE.copy()
        heard_by_callee = self._pass(self.forward, out_forward)
        heard_by_caller = self._pass(self.backward, out_backward)
        self.callee.rx(heard_by_callee)
        self.caller.rx(heard_by_caller)

    def _pass(self, direction: LineDirection, block: spandsp.Samples) -> spandsp.Samples:
        self._track_window(direction, block)
        block = self._impair(self, direction, block)
        direction.queue.append(block)
        return direction.queue.popleft()

    def classify(self, direction: LineDirection) -> None:
        """Open, keep or close the high-speed window going ``direction``; a new one is TCF after a DCS."""
        if not direction.high_speed():
            direction.kind = None
            direction.data_start = None
            return
        serial = direction.window_serial()
        if direction.kind is not None and direction.window == serial:
            return
        kind = "tcf" if self.last_fcf is not None and self.last_fcf & 0xFE == DCS_FCF else "page"
        direction.kind = kind
        direction.window = serial
        direction.data_start = None
        direction.index = direction.counts[kind]
        direction.counts[kind] += 1

    def _track_window(self, direction: LineDirection, block: spandsp.Samples) -> None:
        self.classify(direction)
        if direction.kind is not None and direction.data_start is None and block.any():
            training = training_seconds(direction.modulation())
            direction.data_start = self._samples() + round(training * spandsp.SAMPLE_RATE)

    def page_window_age(self) -> float:
        """Seconds of page data so far in the current page-data window (0 when none)."""
        for direction in (self.forward, self.backward):
            if direction.kind == "page" and direction.data_start is not None:
                return max(0, self._samples() - direction.data_start) / spandsp.SAMPLE_RATE
        return 0.0
