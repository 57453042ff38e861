"""ctypes binding to spandsp 0.0.6 (Debian libspandsp2): the T.31 soft-modem and the T.30 fax terminal.

Only the simulated telephone network uses this; the product's serial code never does. Every callback
catches its own errors (an exception escaping into C would abort the process) and only records what
happened: the caller acts on it after the spandsp call has returned, so spandsp is never re-entered.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Callable
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char_p,
    c_int,
    c_int16,
    c_size_t,
    c_uint8,
    c_void_p,
)
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 8000
Samples = npt.NDArray[np.int16]

# enum at_modem_control_operation_e
CONTROL_CALL = 0
CONTROL_ANSWER = 1
CONTROL_HANGUP = 2
CONTROL_OFFHOOK = 3
CONTROL_ONHOOK = 4
CONTROL_DTR = 5
CONTROL_RTS = 6
CONTROL_CTS = 7
CONTROL_CAR = 8
CONTROL_RNG = 9
CONTROL_DSR = 10
CONTROL_SETID = 11
CONTROL_RESTART = 12
CONTROL_DTE_TIMEOUT = 13

# enum at_call_event_e
EVENT_ALERTING = 1
EVENT_CONNECTED = 2
EVENT_ANSWERED = 3
EVENT_BUSY = 4
EVENT_NO_DIALTONE = 5
EVENT_NO_ANSWER = 6
EVENT_HANGUP = 7

# t30_set_supported_modems / compressions / resolutions bits
MODEM_V27TER = 0x01
MODEM_V29 = 0x02
MODEM_V17 = 0x04
COMPRESSION_T4_1D = 0x02
COMPRESSION_T4_2D = 0x04
COMPRESSION_T6 = 0x08
RESOLUTION_STANDARD = 0x01
RESOLUTION_FINE = 0x02
RESOLUTION_SUPERFINE = 0x04
RESOLUTION_R8 = 0x20000

ENCODING_NAMES = {1: "MH", 2: "MR", 3: "MMR"}
"""t30_stats_t.encoding values (T4_COMPRESSION_ITU_T4_1D/2D, T6) by their usual names."""

LOG_FLOW = 5
LOG_SHOW_SEVERITY = 0x0400
LOG_SHOW_PROTOCOL = 0x0800
LOG_SHOW_TAG = 0x2000

_AtTxHandler = CFUNCTYPE(c_int, c_void_p, c_void_p, POINTER(c_uint8), c_size_t)
# `num` is void*: for CTS and RNG it carries a small integer cast to a pointer (pitfall 13).
_ModemControlHandler = CFUNCTYPE(c_int, c_void_p, c_void_p, c_int, c_void_p)
_PhaseHandler = CFUNCTYPE(c_int, c_void_p, c_void_p, c_int)
_PhaseEHandler = CFUNCTYPE(None, c_void_p, c_void_p, c_int)
_FrameHandler = CFUNCTYPE(None, c_void_p, c_void_p, c_int, POINTER(c_uint8), c_int)
_MessageHandler = CFUNCTYPE(None, c_int, c_char_p)


class T30Stats(Structure):
    """t30_stats_t of spandsp 0.0.6 (15 ints)."""

    _fields_ = [
        ("bit_rate", c_int),
        ("error_correcting_mode", c_int),
        ("pages_tx", c_int),
        ("pages_rx", c_int),
        ("pages_in_file", c_int),
        ("x_resolution", c_int),
        ("y_resolution", c_int),
        ("width", c_int),
        ("length", c_int),
        ("image_size", c_int),
        ("encoding", c_int),
        ("bad_rows", c_int),
        ("longest_bad_row_run", c_int),
        ("error_correcting_mode_retries", c_int),
        ("current_status", c_int),
    ]


class SpanDspUnavailable(RuntimeError):
    """libspandsp.so.2 is not installed (Debian package libspandsp2)."""


_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "t31_init": (c_void_p, [c_void_p, _AtTxHandler, c_void_p, _ModemControlHandler, c_void_p, c_void_p, c_void_p]),
    "t31_free": (c_int, [c_void_p]),
    "t31_at_rx": (c_int, [c_void_p, c_char_p, c_int]),
    "t31_tx": (c_int, [c_void_p, POINTER(c_int16), c_int]),
    "t31_rx": (c_int, [c_void_p, POINTER(c_int16), c_int]),
    "t31_call_event": (None, [c_void_p, c_int]),
    "t31_set_transmit_on_idle": (None, [c_void_p, c_int]),
    "t31_get_logging_state": (c_void_p, [c_void_p]),
    "at_reset_call_info": (None, [c_void_p]),
    "at_set_call_info": (None, [c_void_p, c_char_p, c_char_p]),
    "at_display_call_info": (None, [c_void_p]),
    "fax_init": (c_void_p, [c_void_p, c_int]),
    "fax_free": (c_int, [c_void_p]),
    "fax_tx": (c_int, [c_void_p, POINTER(c_int16), c_int]),
    "fax_rx": (c_int, [c_void_p, POINTER(c_int16), c_int]),
    "fax_set_transmit_on_idle": (None, [c_void_p, c_int]),
    "fax_get_t30_state": (c_void_p, [c_void_p]),
    "fax_get_logging_state": (c_void_p, [c_void_p]),
    "t30_get_logging_state": (c_void_p, [c_void_p]),
    "t30_set_tx_ident": (c_int, [c_void_p, c_char_p]),
    "t30_set_tx_sub_address": (c_int, [c_void_p, c_char_p]),
    "t30_get_rx_ident": (c_char_p, [c_void_p]),
    "t30_set_tx_file": (None, [c_void_p, c_char_p, c_int, c_int]),
    "t30_set_rx_file": (None, [c_void_p, c_char_p, c_int]),
    "t30_set_ecm_capability": (c_int, [c_void_p, c_int]),
    "t30_set_supported_modems": (c_int, [c_void_p, c_int]),
    "t30_set_supported_compressions": (c_int, [c_void_p, c_int]),
    "t30_set_supported_resolutions": (c_int, [c_void_p, c_int]),
    "t30_set_phase_d_handler": (None, [c_void_p, _PhaseHandler, c_void_p]),
    "t30_set_phase_e_handler": (None, [c_void_p, _PhaseEHandler, c_void_p]),
    "t30_set_real_time_frame_handler": (None, [c_void_p, _FrameHandler, c_void_p]),
    "t30_get_transfer_statistics": (None, [c_void_p, POINTER(T30Stats)]),
    "t30_completion_code_to_str": (c_char_p, [c_int]),
    "t30_terminate": (None, [c_void_p]),
    "span_log_set_level": (c_int, [c_void_p, c_int]),
    "span_log_set_tag": (c_int, [c_void_p, c_char_p]),
    "span_log_set_message_handler": (None, [c_void_p, _MessageHandler]),
}

_lib: ctypes.CDLL | None = None
_lib_lock = threading.Lock()


def library() -> ctypes.CDLL:
    """Load libspandsp once and declare the prototypes used here."""
    global _lib
    with _lib_lock:
        if _lib is None:
            try:
                lib = ctypes.CDLL("libspandsp.so.2")
            except OSError as exc:
                raise SpanDspUnavailable("libspandsp.so.2 not found: install the libspandsp2 package") from exc
            for name, (restype, argtypes) in _SIGNATURES.items():
                func = getattr(lib, name)
                func.restype = restype
                func.argtypes = argtypes
            _lib = lib
        return _lib


def completion_text(code: int) -> str:
    """spandsp's words for a T.30 completion code."""
    text = library().t30_completion_code_to_str(code)
    return text.decode("ascii", "replace") if text else f"code {code}"


class SpanLog:
    """Collects spandsp log messages of one endpoint as text lines, stamped by the caller's clock."""

    def __init__(self, tag: str, now: Callable[[], float]) -> None:
        self.tag = tag
        self.lines: list[str] = []
        self._now = now
        self._handler = _MessageHandler(self._on_message)

    def _on_message(self, level: int, text: bytes | None) -> None:
        try:
            message = (text or b"").decode("latin-1").rstrip("\n")
            self.lines.append(f"{self._now():9.3f} {self.tag}: {message}")
        except Exception:  # noqa: S110 - a callback from C must never raise
            pass

    def attach(self, logging_state: int | None) -> None:
        """Route a spandsp logging_state_t to this log at FLOW level."""
        if not logging_state:
            return
        lib = library()
        lib.span_log_set_level(logging_state, LOG_FLOW | LOG_SHOW_PROTOCOL | LOG_SHOW_SEVERITY)
        lib.span_log_set_message_handler(logging_state, self._handler)


@dataclass(frozen=True)
class ControlRequest:
    """A modem-control operation t31 asked for, with its argument decoded."""

    op: int
    number: str = ""
    flag: int = 0


class T31Modem:
    """One spandsp T.31 Class 1 soft-modem: AT bytes in and out, 8 kHz audio in and out."""

    BLOCK = 160

    def __init__(self, log: SpanLog) -> None:
        lib = library()
        self._lib = lib
        self.output = bytearray()
        """Bytes the modem sent to its DTE (responses and received data), not yet taken."""
        self.controls: list[ControlRequest] = []
        """Modem-control requests raised inside spandsp calls, for the network to act on afterwards."""
        self.cts_held = False
        self.accept_answer: Callable[[], bool] = lambda: False
        """Decides synchronously whether ATA is possible (an incoming call rings); False gives ERROR."""
        self.accept_call: Callable[[str], bool] = lambda number: True
        self._at_tx = _AtTxHandler(self._on_at_tx)
        self._control = _ModemControlHandler(self._on_control)
        state = lib.t31_init(None, self._at_tx, None, self._control, None, None, None)
        if not state:
            raise RuntimeError("t31_init failed")
        self.state: int = state
        lib.t31_set_transmit_on_idle(state, 1)
        self.log = log
        log.attach(lib.t31_get_logging_state(state))
        self._tx = (c_int16 * self.BLOCK)()
        self._rx = (c_int16 * self.BLOCK)()
        self._tx_view = np.ctypeslib.as_array(self._tx)
        self._rx_view = np.ctypeslib.as_array(self._rx)

    def _on_at_tx(self, _state: int, _ud: int, buf: Any, length: int) -> int:
        with contextlib.suppress(Exception):  # a callback from C must never raise
            self.output += ctypes.string_at(buf, length)
        return 0

    def _on_control(self, _state: int, _ud: int, op: int, num: int | None) -> int:
        try:
            if op == CONTROL_CTS:
                self.cts_held = not bool(num)
                return 0
            if op in (CONTROL_CALL, CONTROL_SETID):
                number = ctypes.string_at(num).decode("latin-1") if num else ""
                if op == CONTROL_CALL and not self.accept_call(number):
                    return -1
                self.controls.append(ControlRequest(op, number=number))
                return 0
            if op == CONTROL_ANSWER:
                if not self.accept_answer():
                    return -1
                self.controls.append(ControlRequest(op))
                return 0
            if op in (CONTROL_HANGUP, CONTROL_OFFHOOK, CONTROL_ONHOOK, CONTROL_RNG):
                self.controls.append(ControlRequest(op, flag=int(num or 0)))
        except Exception:
            return -1
        return 0

    def at_rx(self, data: bytes) -> None:
        """Hand DTE bytes to the AT interpreter (callers cut chunks, see ``modem.simnet`` pitfall notes)."""
        self._lib.t31_at_rx(self.state, data, len(data))

    def tx(self) -> Samples:
        """Generate one 20 ms block of line audio (a copy)."""
        self._lib.t31_tx(self.state, self._tx, self.BLOCK)
        return self._tx_view.copy()

    def rx(self, audio: Samples) -> None:
        """Hear one 20 ms block of line audio."""
        self._rx_view[:] = audio
        self._lib.t31_rx(self.state, self._rx, self.BLOCK)

    def call_event(self, event: int) -> None:
        """Report call progress (ringing, answered, busy, hang-up ...) to the AT interpreter."""
        self._lib.t31_call_event(self.state, event)

    def show_call_info(self, items: list[tuple[str, str]]) -> None:
        """Print caller ID lines (``NMBR=...``) to the DTE now, as a modem does between rings."""
        at = self.state  # at_state_t sits at offset 0 of t31_state_t
        for key, value in items:
            self._lib.at_set_call_info(at, key.encode("ascii"), value.encode("latin-1"))
        self._lib.at_display_call_info(at)

    def reset_call_info(self) -> None:
        """Forget the previous call's caller ID and ring count."""
        self._lib.at_reset_call_info(self.state)

    def close(self) -> None:
        """Free the spandsp state."""
        if self.state:
            self._lib.t31_free(self.state)
            self.state = 0


@dataclass
class TerminalConfig:
    """What a spandsp fax terminal offers in its DIS/DCS."""

    ident: str = ""
    modems: int = MODEM_V17 | MODEM_V29 | MODEM_V27TER
    compressions: int = COMPRESSION_T4_1D | COMPRESSION_T4_2D | COMPRESSION_T6
    ecm: bool = True
    fine: bool = True
    sub_address: str = ""
    """T.30 subaddress sent as SUB with DCS when calling (only if the answerer's DIS allows subaddressing)."""


class FaxTerminal:
    """One call's spandsp fax terminal (T.30 + modems): a whole, independent fax machine on audio."""

    BLOCK = 160

    def __init__(self, calling: bool, config: TerminalConfig, log: SpanLog) -> None:
        lib = library()
        self._lib = lib
        state = lib.fax_init(None, 1 if calling else 0)
        if not state:
            raise RuntimeError("fax_init failed")
        self.state: int = state
        self.t30: int = lib.fax_get_t30_state(state)
        lib.fax_set_transmit_on_idle(state, 1)
        self.log = log
        log.attach(lib.fax_get_logging_state(state))
        log.attach(lib.t30_get_logging_state(self.t30))
        lib.t30_set_tx_ident(self.t30, config.ident.encode("latin-1"))
        if config.sub_address:
            lib.t30_set_tx_sub_address(self.t30, config.sub_address.encode("latin-1"))
        lib.t30_set_ecm_capability(self.t30, 1 if config.ecm else 0)
        lib.t30_set_supported_modems(self.t30, config.modems)
        lib.t30_set_supported_compressions(self.t30, config.compressions)
        resolutions = RESOLUTION_STANDARD | (RESOLUTION_FINE if config.fine else 0)
        lib.t30_set_supported_resolutions(self.t30, resolutions)
        self.completion: int | None = None
        self.pages_done = 0
        self.frames: list[tuple[bool, bytes]] = []
        """(incoming, frame) for every T.30 frame this terminal sent or received, in order."""
        self._phase_d = _PhaseHandler(self._on_phase_d)
        self._phase_e = _PhaseEHandler(self._on_phase_e)
        self._frame = _FrameHandler(self._on_frame)
        lib.t30_set_phase_d_handler(self.t30, self._phase_d, None)
        lib.t30_set_phase_e_handler(self.t30, self._phase_e, None)
        lib.t30_set_real_time_frame_handler(self.t30, self._frame, None)
        self._tx = (c_int16 * self.BLOCK)()
        self._rx = (c_int16 * self.BLOCK)()
        self._tx_view = np.ctypeslib.as_array(self._tx)
        self._rx_view = np.ctypeslib.as_array(self._rx)

    def _on_phase_d(self, _state: int, _ud: int, _result: int) -> int:
        with contextlib.suppress(Exception):  # a callback from C must never raise
            self.pages_done += 1
        return 0

    def _on_phase_e(self, _state: int, _ud: int, code: int) -> None:
        with contextlib.suppress(Exception):  # a callback from C must never raise
            self.completion = int(code)

    def _on_frame(self, _state: int, _ud: int, incoming: int, msg: Any, length: int) -> None:
        with contextlib.suppress(Exception):  # a callback from C must never raise
            self.frames.append((bool(incoming), ctypes.string_at(msg, length)))

    def set_tx_file(self, path: str) -> None:
        """Send the pages of this TIFF file."""
        self._lib.t30_set_tx_file(self.t30, path.encode(), -1, -1)

    def set_rx_file(self, path: str) -> None:
        """Store received pages in this TIFF file."""
        self._lib.t30_set_rx_file(self.t30, path.encode(), -1)

    def tx(self) -> Samples:
        """Generate one 20 ms block of line audio (a copy)."""
        self._lib.fax_tx(self.state, self._tx, self.BLOCK)
        return self._tx_view.copy()

    def rx(self, audio: Samples) -> None:
        """Hear one 20 ms block of line audio."""
        self._rx_view[:] = audio
        self._lib.fax_rx(self.state, self._rx, self.BLOCK)

    def remote_ident(self) -> str:
        """The far end's CSI/TSI as received."""
        ident = self._lib.t30_get_rx_ident(self.t30)
        return ident.decode("latin-1").strip() if ident else ""

    def statistics(self) -> T30Stats:
        """Transfer statistics so far (rate, ECM, encoding, resolution, pages, bad rows)."""
        stats = T30Stats()
        self._lib.t30_get_transfer_statistics(self.t30, ctypes.byref(stats))
        return stats

    def terminate(self) -> None:
        """End the T.30 session (the line went dead): closes the receive file, fires phase E."""
        if self.state:
            self._lib.t30_terminate(self.t30)

    def close(self) -> None:
        """Free the spandsp state."""
        if self.state:
            self._lib.fax_free(self.state)
            self.state = 0
            self.t30 = 0
