"""The simulated telephone exchange: call progress, 20 ms audio ticks, line delay and impairments.

Everything runs in the caller's thread on the asyncio loop. On virtual time a tick runs only while some
host waits (``SimModemPort.read``/``write`` or ``clock.sleep``), so runs are deterministic; on real time
(``modem.simnet.realtime``) a pacer runs the same ticks every 20 ms of wall time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from modem import faxtiff, spandsp
from modem.simnet.call import Call, Endpoint
from modem.simnet.clock import VirtualClock
from modem.simnet.endpoints import (
    SILENCE,
    Incoming,
    ModemEndpoint,
    RemoteFax,
    SilentEndpoint,
    TerminalEndpoint,
)
from modem.simnet.impairments import Impairer
from modem.simnet.port import SimModemPort
from modem.simnet.spec import Impairment, Outcome, RemoteCallRecord, RemoteFaxSpec

TICK = spandsp.T31Modem.BLOCK


@dataclass(order=True)
class _Timer:
    at: int
    seq: int
    action: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


@dataclass
class _Outgoing:
    """A modem's call attempt before it connects (cancelled by ATH)."""

    target: ModemEndpoint | RemoteFax | None
    timers: list[_Timer] = field(default_factory=list)


class SimNetwork:
    """A telephone exchange with faxgate's soft-modems and remote fax machines on numbers."""

    def __init__(
        self,
        *,
        delay_ms: float = 60.0,
        ring_interval_s: float = 3.0,
        no_answer_timeout_s: float = 45.0,
        seed: int = 0,
        workdir: str | Path | None = None,
    ) -> None:
        self.samples = 0
        self.clock = VirtualClock(self)
        self.delay_ticks = max(0, round(delay_ms / 20.0))
        """One-way line delay in 20 ms blocks (60 ms by default: a zero delay confuses hosts, pitfall 10)."""
        self.ring_interval_s = ring_interval_s
        self.no_answer_timeout_s = no_answer_timeout_s
        self.modems: dict[str, ModemEndpoint] = {}
        self.remotes: dict[str, RemoteFax] = {}
        self.calls: list[Call] = []
        self.events: list[str] = []
        """Call progress as the exchange saw it (for debugging)."""
        self.realtime = False
        self.hold: Callable[[], bool] | None = None
        """On virtual time: while this returns True the line stands still (a test holds it while the code under
        test works off the line, e.g. on a database, which on a real line takes no time worth counting)."""
        self._tick_waiters: list[asyncio.Future[None]] = []
        self._timers: list[_Timer] = []
        self._seq = itertools.count()
        self._rng = np.random.default_rng(seed)
        self._impairer = Impairer(lambda: self.samples, self._rng)
        self.impairments: list[Impairment] = self._impairer.impairments
        """Impairments in force (append or remove at any time)."""
        self._processing = False
        self._connected_calls: dict[str, int] = {}
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="simnet-")
            self.workdir = Path(self._tmp.name)
        else:
            self.workdir = Path(workdir)
            self.workdir.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ building

    def add_modem(self, name: str, number: str | None = None) -> SimModemPort:
        """Attach a faxgate soft-modem; returns a ModemPort to it (more with ``port(name)``)."""
        if name in self.modems:
            raise ValueError(f"modem {name!r} exists")
        endpoint = ModemEndpoint(name, number or name, self.clock.now, self._rng)
        endpoint.t31.accept_answer = lambda: endpoint.incoming is not None and endpoint.call is None
        endpoint.t31.accept_call = lambda _number: endpoint.call is None and endpoint.outgoing is None
        endpoint.on_frame = self._on_host_frame
        endpoint.tx_damage = lambda first, count: self._impairer.tx_error_rates(endpoint, first, count)
        self.modems[name] = endpoint
        return SimModemPort(self, endpoint)

    def port(self, name: str) -> SimModemPort:
        """Another ModemPort to an existing modem (as after reopening a serial port)."""
        return SimModemPort(self, self.modems[name])

    def add_remote_fax(self, number: str, spec: RemoteFaxSpec | None = None) -> RemoteFax:
        """Put a remote fax machine on ``number``."""
        if number in self.remotes:
            raise ValueError(f"number {number!r} is taken")
        remote = RemoteFax(number, spec or RemoteFaxSpec(ident=number), self.workdir)
        remote.place_call = self._remote_places_call
        self.remotes[number] = remote
        return remote

    def wedge(self, name: str, seconds: float | None = None) -> None:
        """Make a modem stop answering its DTE (for ``seconds`` of line time, or until ``unwedge``)."""
        modem = self.modems[name]
        modem.wedged = True
        self._event(f"{name} wedged")
        if seconds is not None:
            self._after(seconds, lambda: self.unwedge(name))

    def unwedge(self, name: str) -> None:
        """Make a wedged modem answer again."""
        self.modems[name].wedged = False
        self._event(f"{name} answers again")

    def session_log(self, name: str) -> list[str]:
        """spandsp's log lines for a modem (all its calls), stamped with line time."""
        return list(self.modems[name].log.lines)

    def close(self) -> None:
        """Free every spandsp state."""
        for call in list(self.calls):
            self._finish_call(call)
        for modem in self.modems.values():
            modem.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # ------------------------------------------------------------------ time

    async def run_for(self, seconds: float) -> None:
        """Let ``seconds`` of line time pass."""
        deadline = self.samples + math.ceil(seconds * spandsp.SAMPLE_RATE)
        await self.run_until(lambda: self.samples >= deadline, None)

    async def run_until(self, ready: Callable[[], bool], timeout: float | None) -> bool:
        """Advance time until ``ready()`` or ``timeout`` seconds of line time pass; returns ready()."""
        deadline = None if timeout is None else self.samples + math.ceil(timeout * spandsp.SAMPLE_RATE)
        while not ready():
            if deadline is not None and self.samples >= deadline:
                return False
            await self._next_tick()
        return True

    async def _next_tick(self) -> None:
        if self.realtime:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._tick_waiters.append(future)
            await future
        else:
            while self.hold is not None and self.hold():
                await asyncio.sleep(0.001)
            self.tick()
            await asyncio.sleep(0)

    def tick(self) -> None:
        """Advance the whole network by 20 ms."""
        self._run_timers()
        for modem in self.modems.values():
            modem.feed()
        self.process_controls()
        output_before = {modem.name: len(modem.t31.output) for modem in self.modems.values()}
        in_call: set[int] = set()
        for call in list(self.calls):
            call.exchange()
            in_call.add(id(call.caller))
            in_call.add(id(call.callee))
        for modem in self.modems.values():
            if id(modem) not in in_call:
                modem.tx()
                modem.rx(SILENCE)
            modem.rx_bit_error_rate = modem.call.sent_by(modem, to=True).bit_error_rate if modem.call else 0.0
            modem.damage_received(output_before[modem.name])
        self.process_controls()
        for call in list(self.calls):
            self._watch_call(call)
        self.samples += TICK
        waiters, self._tick_waiters = self._tick_waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)

    def _after(self, seconds: float, action: Callable[[], None]) -> _Timer:
        timer = _Timer(self.samples + math.ceil(seconds * spandsp.SAMPLE_RATE), next(self._seq), action)
        heapq.heappush(self._timers, timer)
        return timer

    def _run_timers(self) -> None:
        while self._timers and self._timers[0].at <= self.samples:
            timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                timer.action()
                self.process_controls()

    def _event(self, text: str) -> None:
        self.events.append(f"{self.clock.now():9.3f} {text}")

    # ------------------------------------------------------------------ call progress

    def process_controls(self) -> None:
        """Act on the modem-control requests t31 raised (never from inside a spandsp callback)."""
        if self._processing:
            return
        self._processing = True
        try:
            busy = True
            while busy:
                busy = False
                for modem in self.modems.values():
                    while modem.t31.controls:
                        busy = True
                        request = modem.t31.controls.pop(0)
                        self._control(modem, request)
        finally:
            self._processing = False

    def _control(self, modem: ModemEndpoint, request: spandsp.ControlRequest) -> None:
        if request.op == spandsp.CONTROL_CALL:
            self._dial(modem, request.number)
        elif request.op == spandsp.CONTROL_ANSWER:
            self._answer(modem)
        elif request.op == spandsp.CONTROL_HANGUP:
            self.hang_up(modem)

    def hang_up(self, modem: ModemEndpoint) -> None:
        """The modem's host hung up (ATH, or its DTE went away)."""
        outgoing = modem.outgoing
        if isinstance(outgoing, _Outgoing):
            modem.outgoing = None
            for timer in outgoing.timers:
                timer.cancelled = True
            target = outgoing.target
            if isinstance(target, ModemEndpoint) and target.incoming and target.incoming.caller is modem:
                self._stop_ringing(target)
            self._event(f"{modem.name} abandons the call")
        if modem.call is not None and modem.call.ending_by is None:
            self._end_call(modem.call, modem)

    def _dial(self, modem: ModemEndpoint, number: str) -> None:
        if modem.incoming is not None:
            self._seized_while_offered(modem)
        digits = "".join(ch for ch in number if ch.isdigit() or ch in "*#")
        modem.calls_made += 1
        target: ModemEndpoint | RemoteFax | None = self.remotes.get(digits)
        if target is None:
            target = next((m for m in self.modems.values() if m.number == digits and m is not modem), None)
        outgoing = _Outgoing(target)
        modem.outgoing = outgoing
        self._event(f"{modem.name} dials {digits}")

        def fail(event: int, after: float) -> None:
            def act() -> None:
                modem.outgoing = None
                modem.t31.call_event(event)

            outgoing.timers.append(self._after(after, act))

        if not modem.dial_tone or (isinstance(target, RemoteFax) and target.spec.no_dial_tone):
            fail(spandsp.EVENT_NO_DIALTONE, 0.5)
            if isinstance(target, RemoteFax):
                self._record_attempt(target, modem.name, "no dial tone")
        elif target is None:
            fail(spandsp.EVENT_NO_ANSWER, self.no_answer_timeout_s)
        elif isinstance(target, RemoteFax):
            self._dial_remote(modem, target, outgoing, fail)
        elif target.busy:
            fail(spandsp.EVENT_BUSY, 1.5)
        else:
            info = [("NMBR", modem.number)]
            self._ring(target, Incoming(caller=modem, caller_info=info))
            outgoing.timers.append(self._after(self.no_answer_timeout_s, lambda: self._give_up(target)))

    def _dial_remote(
        self,
        modem: ModemEndpoint,
        remote: RemoteFax,
        outgoing: _Outgoing,
        fail: Callable[[int, float], None],
    ) -> None:
        spec = remote.spec
        attempt = remote.calls_offered
        remote.calls_offered += 1
        if spec.busy or attempt < spec.busy_first_calls or remote.endpoint is not None:
            fail(spandsp.EVENT_BUSY, 1.5)
            self._record_attempt(remote, modem.name, "busy")
        elif spec.never_answer:
            fail(spandsp.EVENT_NO_ANSWER, self.no_answer_timeout_s)
            self._record_attempt(remote, modem.name, "no answer")
        else:
            rings = max(1, spec.answer_after_rings)
            delay = 1.0 + (rings - 1) * self.ring_interval_s + 0.5
            outgoing.timers.append(self._after(delay, lambda: self._remote_answers(modem, remote)))

    def _record_attempt(self, remote: RemoteFax, peer: str, outcome: Outcome) -> None:
        now = self.clock.now()
        record = RemoteCallRecord(direction="received", peer=peer, outcome=outcome, started_s=now, ended_s=now)
        remote.records.append(record)

    def _remote_answers(self, modem: ModemEndpoint, remote: RemoteFax) -> None:
        modem.outgoing = None
        record = RemoteCallRecord(direction="received", peer=modem.name, started_s=self.clock.now())
        remote.records.append(record)
        endpoint: TerminalEndpoint | SilentEndpoint
        if remote.spec.not_fax:
            endpoint = SilentEndpoint(remote.number)
        else:
            terminal = TerminalEndpoint(remote, False, record, self.clock.now)
            terminal.rx_path = str(self.workdir / f"{remote.number}-{len(remote.records)}-rx.tif")
            terminal.terminal.set_rx_file(terminal.rx_path)
            endpoint = terminal
        remote.endpoint = endpoint
        self._event(f"{remote.number} answers {modem.name}")
        self._connect(modem, endpoint)
        modem.t31.call_event(spandsp.EVENT_CONNECTED)

    def _connect(self, caller: Endpoint, callee: Endpoint) -> Call:
        call = Call(caller, callee, self.delay_ticks, lambda: self.samples, self._impairer.audio)
        for endpoint in (caller, callee):
            if isinstance(endpoint, ModemEndpoint):
                endpoint.call = call
            call.call_index[endpoint.name] = self._connected_calls.get(endpoint.name, 0)
            self._connected_calls[endpoint.name] = call.call_index[endpoint.name] + 1
        self.calls.append(call)
        return call

    def _ring(self, modem: ModemEndpoint, incoming: Incoming) -> None:
        modem.incoming = incoming
        modem.t31.reset_call_info()

        def ring() -> None:
            if modem.incoming is not incoming:
                return
            if incoming.rings == 0 and incoming.caller_info:
                modem.t31.show_call_info(incoming.caller_info)
            incoming.rings += 1
            modem.t31.call_event(spandsp.EVENT_ALERTING)
            incoming.timers.append(self._after(self.ring_interval_s, ring))

        incoming.timers.append(self._after(1.0, ring))
        self._event(f"{modem.name} rings")

    def _stop_ringing(self, modem: ModemEndpoint) -> None:
        incoming = modem.incoming
        if incoming is None:
            return
        for timer in incoming.timers:
            if isinstance(timer, _Timer):
                timer.cancelled = True
        modem.incoming = None

    def _seized_while_offered(self, modem: ModemEndpoint) -> None:
        """Glare: the line went off-hook to dial while a call was offered to it. The exchange keeps the line for
        the outgoing call (as a PBX or ISDN line does) and the offered call gets busy; its RINGs stop."""
        if self._end_offer(modem, spandsp.EVENT_BUSY, "busy"):
            self._event(f"{modem.name} dials out while offered a call: the caller gets busy")

    def _give_up(self, target: ModemEndpoint) -> None:
        """The caller stops waiting for ``target`` to answer."""
        if self._end_offer(target, spandsp.EVENT_NO_ANSWER, "no answer"):
            self._event(f"{target.name} was not answered")

    def _end_offer(self, target: ModemEndpoint, event: int, outcome: Outcome) -> bool:
        """End the call offered to ``target`` unanswered: its RINGs stop and the caller hears ``event``."""
        incoming = target.incoming
        if incoming is None:
            return False
        self._stop_ringing(target)
        caller = incoming.caller
        if isinstance(caller, ModemEndpoint):
            if isinstance(caller.outgoing, _Outgoing):
                for timer in caller.outgoing.timers:
                    timer.cancelled = True
            caller.outgoing = None
            caller.t31.call_event(event)
        elif incoming.record is not None:
            incoming.record.outcome = outcome
            incoming.record.ended_s = self.clock.now()
        return True

    def _answer(self, modem: ModemEndpoint) -> None:
        incoming = modem.incoming
        if incoming is None:
            return
        self._stop_ringing(modem)
        caller = incoming.caller
        modem.t31.call_event(spandsp.EVENT_ANSWERED)
        if isinstance(caller, ModemEndpoint):
            outgoing = caller.outgoing
            if isinstance(outgoing, _Outgoing):
                for timer in outgoing.timers:
                    timer.cancelled = True
            caller.outgoing = None
            self._connect(caller, modem)
            caller.t31.call_event(spandsp.EVENT_CONNECTED)
        else:
            record = incoming.record or RemoteCallRecord(direction="sent", peer=modem.name)
            terminal = TerminalEndpoint(caller, True, record, self.clock.now, incoming.subaddress)
            terminal.terminal.set_tx_file(incoming.pages_path)
            caller.endpoint = terminal
            self._connect(terminal, modem)
        self._event(f"{modem.name} answers")

    def _remote_places_call(
        self,
        remote: RemoteFax,
        number: str,
        pages: list[np.ndarray],
        *,
        fine: bool,
        caller_id: str | None,
        caller_name: str,
        did: str,
        subaddress: str = "",
    ) -> RemoteCallRecord:
        if not pages:
            raise ValueError("a remote fax call needs at least one page")
        record = RemoteCallRecord(
            direction="sent",
            peer=number,
            started_s=self.clock.now(),
            caller_id=caller_id if caller_id is not None else remote.number,
            caller_name=caller_name,
            did=did,
            subaddress=subaddress,
        )
        remote.records.append(record)
        target = next((m for m in self.modems.values() if m.number == number), None)
        if target is None or target.busy:
            record.outcome = "busy" if target is not None else "no answer"
            record.ended_s = record.started_s
            return record
        path = self.workdir / f"{remote.number}-{len(remote.records)}-tx.tif"
        compression: faxtiff.Compression = "g4"
        faxtiff.write_fax_tiff(path, pages, compression=compression, fine=fine)
        info = [("NMBR", record.caller_id)]
        if caller_name:
            info.append(("NAME", caller_name))
        if did:
            info.append(("NDID", did))
        incoming = Incoming(
            caller=remote, caller_info=info, pages_path=str(path), record=record, subaddress=subaddress
        )
        self._ring(target, incoming)
        incoming.timers.append(self._after(self.no_answer_timeout_s, lambda: self._give_up(target)))
        self._event(f"{remote.number} calls {target.name}")
        return record

    # ------------------------------------------------------------------ during and after a call

    def _on_host_frame(self, modem: ModemEndpoint, frame: bytes) -> None:
        if modem.call is not None:
            modem.call.note_frame(frame)

    def _watch_call(self, call: Call) -> None:
        if call.ending_by is not None:
            call.ending_ticks -= 1
            if call.ending_ticks <= 0:
                self._finish_call(call)
            return
        for endpoint in (call.caller, call.callee):
            if not isinstance(endpoint, TerminalEndpoint):
                continue
            frames = endpoint.terminal.frames
            while endpoint.frames_seen < len(frames):
                call.note_frame(frames[endpoint.frames_seen][1])
                endpoint.frames_seen += 1
            if self._terminal_wants_to_hang_up(call, endpoint):
                self._end_call(call, endpoint)
                return

    def _terminal_wants_to_hang_up(self, call: Call, endpoint: TerminalEndpoint) -> bool:
        terminal = endpoint.terminal
        if terminal.completion is not None:
            return True
        spec = endpoint.remote.spec
        if call.page_window_age() > 0:
            endpoint.page_data_ticks += 1
            limit = spec.hangup_after_page_data_s
            if limit is not None and endpoint.page_data_ticks * TICK >= limit * spandsp.SAMPLE_RATE:
                self._event(f"{endpoint.name} hangs up during page data")
                return True
            pages = spec.hangup_after_pages
            if pages is not None and terminal.pages_done >= pages and call.page_window_age() >= 1.0:
                self._event(f"{endpoint.name} hangs up after {terminal.pages_done} pages")
                return True
        return False

    def _end_call(self, call: Call, by: Endpoint) -> None:
        """Start hanging up: ``by`` goes silent, the far end hears the delayed audio out, then the line drops."""
        call.ending_by = by
        call.ending_ticks = self.delay_ticks + 2
        self._event(f"{by.name} hangs up")

    def _finish_call(self, call: Call) -> None:
        if call in self.calls:
            self.calls.remove(call)
        for endpoint in (call.caller, call.callee):
            if isinstance(endpoint, ModemEndpoint):
                endpoint.call = None
                if endpoint is not call.ending_by:
                    endpoint.t31.call_event(spandsp.EVENT_HANGUP)
            elif isinstance(endpoint, TerminalEndpoint):
                self._close_terminal(endpoint)
            else:
                self._close_silent(endpoint)
        self.process_controls()

    def _close_silent(self, endpoint: SilentEndpoint) -> None:
        remote = self.remotes.get(endpoint.name)
        if remote is not None:
            remote.endpoint = None
            if remote.records:
                record = remote.records[-1]
                record.outcome = "failed"
                record.completion = "not a fax machine"
                record.ended_s = self.clock.now()

    def _close_terminal(self, endpoint: TerminalEndpoint) -> None:
        terminal = endpoint.terminal
        record = endpoint.record
        if terminal.completion is None:
            terminal.terminate()
        stats = terminal.statistics()
        record.completion_code = terminal.completion
        record.completion = spandsp.completion_text(terminal.completion) if terminal.completion is not None else ""
        record.outcome = "completed" if terminal.completion == 0 else "failed"
        record.bit_rate = stats.bit_rate
        record.ecm = bool(stats.error_correcting_mode)
        record.encoding = spandsp.ENCODING_NAMES.get(stats.encoding, str(stats.encoding))
        record.resolution = "fine" if stats.y_resolution >= 7000 else "standard"
        record.pages_sent = stats.pages_tx
        record.bad_rows = stats.bad_rows
        record.remote_ident = terminal.remote_ident()
        record.frames = list(terminal.frames)
        record.ended_s = self.clock.now()
        terminal.close()
        record.log = list(endpoint.log.lines)
        if endpoint.rx_path and stats.pages_rx > 0 and Path(endpoint.rx_path).exists():
            try:
                record.pages = [page.bitmap for page in faxtiff.read_fax_tiff(endpoint.rx_path)]
            except faxtiff.FaxTiffError as exc:
                record.log.append(f"cannot read received pages: {exc}")
        endpoint.remote.endpoint = None
        self._event(f"{endpoint.name} call ended: {record.outcome} {record.completion}")
