"""Line impairments at work: noise added to the audio, or bit errors in the data passing a modem's DTE."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from modem import spandsp
from modem.simnet.call import Call, LineDirection
from modem.simnet.dte import bit_rate
from modem.simnet.endpoints import ModemEndpoint
from modem.simnet.spec import Impairment


class Impairer:
    """Applies the network's impairments (a list anyone may edit) with one seeded random generator."""

    def __init__(self, samples: Callable[[], int], rng: np.random.Generator) -> None:
        self.impairments: list[Impairment] = []
        self.rng = rng
        self._samples = samples

    def audio(self, call: Call, direction: LineDirection, block: spandsp.Samples) -> spandsp.Samples:
        """Add the configured noise to one block travelling ``direction``; note its bit error rate."""
        direction.bit_error_rate = 0.0
        for impairment in self.impairments:
            started = self._window_start(impairment, call, direction)
            if started is None or not _in_time(impairment, (self._samples() - started) / spandsp.SAMPLE_RATE):
                continue
            if impairment.bit_error_rate <= 0.0:
                noise = self.rng.normal(0.0, impairment.noise_rms, block.shape[0])
                block = np.clip(block.astype(np.float64) + noise, -32768, 32767).astype(np.int16)
            elif isinstance(direction.receiver, ModemEndpoint):
                direction.bit_error_rate = max(direction.bit_error_rate, impairment.bit_error_rate)
        return block

    def _window_start(self, impairment: Impairment, call: Call, direction: LineDirection) -> int | None:
        """The sample ``impairment``'s timing counts from, or None when it does not apply now."""
        if not self._applies(impairment, call, direction):
            return None
        return call.started if impairment.during == "call" else direction.data_start

    def _applies(self, impairment: Impairment, call: Call, direction: LineDirection) -> bool:
        """Whether ``impairment`` concerns this direction, call and window (timing aside)."""
        if impairment.toward != direction.receiver.name:
            return False
        call_index = call.call_index.get(direction.receiver.name)
        if impairment.calls is not None and call_index not in impairment.calls:
            return False
        if impairment.during == "call":
            return True
        if direction.kind is None or impairment.during not in ("always", direction.kind):
            return False
        return impairment.occurrences is None or direction.index in impairment.occurrences

    def tx_error_rates(self, modem: ModemEndpoint, first: int, count: int) -> npt.NDArray[np.float64]:
        """Bit error rates for data octets a modem's host sends to a remote machine (by their air time)."""
        rates = np.zeros(count)
        call = modem.call
        if call is None:
            return rates
        direction = call.sent_by(modem)
        if isinstance(direction.receiver, ModemEndpoint):
            return rates  # a receiving soft-modem's host gets the errors instead
        call.classify(direction)
        air_time = (first + np.arange(count)) * 8.0 / bit_rate(modem.tracker.modulation)
        for impairment in self.impairments:
            if impairment.bit_error_rate <= 0.0:
                continue
            if not self._applies(impairment, call, direction):
                continue
            if impairment.during == "call":
                ages = np.full(count, (self._samples() - call.started) / spandsp.SAMPLE_RATE)
            else:
                ages = air_time
            mask = ages >= impairment.start_s
            if impairment.duration_s is not None:
                mask &= ages < impairment.start_s + impairment.duration_s
            rates[mask] = np.maximum(rates[mask], impairment.bit_error_rate)
        return rates


def _in_time(impairment: Impairment, age: float) -> bool:
    """Whether ``age`` seconds into its window falls inside the impairment's start/duration."""
    if age < impairment.start_s:
        return False
    return impairment.duration_s is None or age < impairment.start_s + impairment.duration_s
