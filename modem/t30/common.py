"""What the T.30 sender and receiver share: the failure they raise and the local fax capabilities."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from modem.result import ExtendedStatus
from modem.t30.frames import FALLBACK_ORDER, Capabilities, Modulation

StatusCallback = Callable[[ExtendedStatus, int], None]
"""Called with the device's extended status and the page number it concerns (1-based; 0 for none)."""


class CallFailed(Exception):
    """A call ended early: the extended status to report and a reason in plain words."""

    def __init__(self, status: ExtendedStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class LocalFax:
    """This station's fax abilities: what the modem can modulate and what the engine will offer."""

    ident: str = ""
    modem_codes: frozenset[int] | None = None
    """+FTM/+FRM codes the modem lists; None: assume all of V.27ter, V.29 and V.17."""
    max_bit_rate: int = 14400
    ecm: bool = True
    mr: bool = True
    mmr: bool = True
    fine: bool = True
    ecm_frame_size: int = 256
    min_scan_ms: int = 0
    """Minimum scan-line time asked of senders when receiving without ECM (0, 5, 10, 20 or 40 ms)."""

    def modulations(self) -> list[Modulation]:
        """Modems both the hardware and the configuration allow, best first."""
        return [
            m
            for m in FALLBACK_ORDER
            if m.bit_rate <= self.max_bit_rate
            and (self.modem_codes is None or (m.long_code in self.modem_codes and m.short_code in self.modem_codes))
        ]

    def capabilities(self) -> Capabilities:
        """The DIS this station offers as a receiver."""
        families = {m.family for m in self.modulations()}
        return Capabilities(
            v27ter="V.27ter" in families,
            v29="V.29" in families,
            v17="V.17" in families,
            fine=self.fine,
            mr=self.mr,
            mmr=self.mmr and self.ecm,
            ecm=self.ecm,
            min_scan_ms=self.min_scan_ms,
            can_receive=True,
            subaddressing=True,
        )
