"""The Class 1 device provider: one ``Class1Device`` per Class 1 modem, behind the ``modem.device.FaxDevice`` contract.

Shaped after the Windows Fax Service Provider contract: ``start`` checks the modem, ``send`` a job and get a
``CallResult``, ``wait_for_call`` for the next ring, then ``answer`` or ``reject`` it, ``abort`` whatever runs.
Progress goes to an ``on_status(ExtendedStatus, page)`` callback. A modem that stops answering AT
gives a clear result; a port that fails is closed, reported as a fault, and opened afresh by the next ``start``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modem.at import AtChannel, AtTimeout, ModemGone
from modem.class1 import Class1Modem
from modem.device import (
    Bitmap,
    DeviceNotReady,
    DeviceReport,
    DeviceSpec,
    HeaderFactory,
    IncomingCall,
    PageStamp,
    PortOpener,
    SendJob,
)
from modem.faxtiff import FaxTiffError, FaxTiffWriter, read_fax_tiff
from modem.port import ModemPort
from modem.probe import PROFILES, InitProfile, initialise
from modem.result import CallResult, ExtendedStatus
from modem.rxspool import SPOOL_FOLDER, PageSpool
from modem.serialport import DEFAULT_LOCK_DIR, SerialModemPort
from modem.sessionlog import SessionLog
from modem.t30.common import CallFailed, LocalFax, StatusCallback
from modem.t30.frames import printable
from modem.t30.receiver import CopyQuality, ReceiveProgress, T30Receiver, TsidScreen
from modem.t30.sender import OutgoingPage, T30Sender

RING_SILENCE_S = 10.0
"""A call has stopped ringing when no RING came for this long."""


def _ignore_status(_status: ExtendedStatus, _page: int) -> None:
    """Default status callback."""


@dataclass
class DeviceConfig:
    """How one modem is set up."""

    name: str
    profile: InitProfile = field(default_factory=lambda: PROFILES["generic"])
    csid: str = ""
    rings_to_answer: int = 2
    max_bit_rate: int = 14400
    ecm: bool = True
    ecm_frame_size: int = 256
    """ECM frame size to send (256, or 64 for poor lines)."""
    min_scan_ms: int = 0
    """Minimum scan-line time this station asks of senders (non-ECM), as slow printers need."""
    quality: CopyQuality = field(default_factory=CopyQuality)


__all__ = ["Bitmap", "HeaderFactory", "IncomingCall", "PageStamp", "PortOpener", "SendJob"]


class Class1Device:
    """A Class 1 modem as a fax device (the Class 1 strategy of ``FaxDevice``): send, wait, answer, reject, abort."""

    def __init__(self, config: DeviceConfig, open_port: PortOpener) -> None:
        self.config = config
        self._open_port = open_port
        self._port: ModemPort | None = None
        self._at: AtChannel | None = None
        self._call: asyncio.Task[CallResult] | None = None
        self._sender: T30Sender | None = None
        self._aborted = False
        self._status = ExtendedStatus.NONE
        self._fault = ""
        self._rang_at: float | None = None
        """When the last RING of a call not yet answered or rung out came (port clock)."""
        self.last_log: list[str] = []

    # ------------------------------------------------------------------------------------ port

    async def _open(self) -> ModemPort:
        """The port, opened (or reopened after a failure) on demand."""
        if self._port is None:
            self._port = await self._open_port()
            self._at = None
        return self._port

    async def _channel(self, log: SessionLog) -> AtChannel:
        """The AT channel with a fresh transcript, and the modem (re)initialised for what comes next."""
        port = await self._open()
        if self._at is None:
            self._at = AtChannel(port, log)
        self._at.log = log
        await initialise(self._at, self.config.profile)
        return self._at

    def _new_log(self, port: ModemPort | None) -> SessionLog:
        return SessionLog(port.clock.now if port is not None else _zero, self.config.name)

    async def _drop_port(self, fault: str = "") -> None:
        """Forget a failed port so the next operation opens it afresh; ``fault`` says why it failed."""
        if fault:
            self._fault = fault
        port, self._port, self._at = self._port, None, None
        if port is not None:
            with contextlib.suppress(OSError, ModemGone):
                await port.close()

    async def close(self) -> None:
        """Release the port."""
        await self._drop_port()

    async def start(self) -> None:
        """Open (or reopen) the port and check the modem answers AT; DeviceNotReady with the reason if not."""
        try:
            at = await self._channel(self._new_log(await self._open()))
            reply = await at.command("AT", timeout=3.0)
        except (AtTimeout, ModemGone, OSError) as exc:
            reason = _fault_text(exc)
            await self._drop_port(reason)
            raise DeviceNotReady(reason) from exc
        if reply.final != "OK":
            reason = f"the modem answers AT with {printable(reply.final, 20)}"
            await self._drop_port(reason)
            raise DeviceNotReady(reason)
        self._fault = ""

    async def ready(self) -> bool:
        """True when the modem answers AT (opening or reopening its port as needed)."""
        try:
            await self.start()
        except DeviceNotReady:
            return False
        return True

    def report(self) -> DeviceReport:
        """The last call progress, and the port or modem fault since the last successful start."""
        port = self._port
        ringing = self._rang_at is not None and port is not None and port.clock.now() - self._rang_at < RING_SILENCE_S
        return DeviceReport(self._status, self._fault, ringing=ringing)

    def _local(self, ident: str, max_bit_rate: int, ecm: bool) -> LocalFax:
        return LocalFax(
            ident=ident,
            max_bit_rate=max_bit_rate,
            ecm=ecm,
            ecm_frame_size=self.config.ecm_frame_size,
            min_scan_ms=self.config.min_scan_ms,
        )

    # ------------------------------------------------------------------------------------ calls

    def _tracked(self, on_status: StatusCallback) -> StatusCallback:
        """``on_status`` that also keeps the last progress for ``report``."""

        def track(status: ExtendedStatus, page: int) -> None:
            self._status = status
            on_status(status, page)

        return track

    async def _run_call(self, body: Callable[[Class1Modem, SessionLog], Coroutine[Any, Any, CallResult]]) -> CallResult:
        """Run one call with the failure handling every call shares; the session log starts here."""
        log = self._new_log(None)
        try:
            log = self._new_log(await self._open())
            at = await self._channel(log)
        except (AtTimeout, ModemGone, OSError) as exc:
            await self._drop_port(_fault_text(exc))
            return CallResult(
                status=ExtendedStatus.LINE_UNAVAILABLE,
                reason=f"the modem is not available ({printable(str(exc), 120)})",
                session_log=log.lines,
            )
        modem = Class1Modem(at)
        self._aborted = False
        self._call = asyncio.create_task(body(modem, log))
        try:
            return await self._call
        except asyncio.CancelledError:
            if not self._aborted:
                raise
            await self._drop_port()  # closing the port drops DTR: the modem hangs up
            return CallResult(status=ExtendedStatus.CALL_ABORTED, reason="the call was aborted", session_log=log.lines)
        except ModemGone as exc:
            await self._drop_port(_fault_text(exc))
            return CallResult(
                status=ExtendedStatus.LINE_UNAVAILABLE,
                reason=f"the modem port went away during the call ({printable(str(exc), 120)})",
                session_log=log.lines,
            )
        except AtTimeout as exc:
            await self._drop_port(_fault_text(exc))
            return CallResult(
                status=ExtendedStatus.FATAL_ERROR,
                reason=f"the modem stopped answering ({printable(str(exc), 120)})",
                session_log=log.lines,
            )
        finally:
            self._call = None

    async def send(self, job: SendJob, on_status: StatusCallback = _ignore_status) -> CallResult:
        """Send the TIFF's pages from ``job.first_page`` on; the result says what the far end confirmed."""
        on_status = self._tracked(on_status)
        try:
            pages = self._load_pages(job)
        except (FaxTiffError, OSError) as exc:
            return CallResult(
                status=ExtendedStatus.FATAL_ERROR, reason=f"the document cannot be read ({printable(str(exc), 160)})"
            )

        async def body(modem: Class1Modem, log: SessionLog) -> CallResult:
            local = self._local(job.tsid, min(job.max_bit_rate, self.config.max_bit_rate), job.ecm)
            sender = self._sender = T30Sender(modem, local, on_status, job.plan)
            start = modem.at.clock_now
            status, reason = ExtendedStatus.CALL_COMPLETED, ""
            try:
                await sender.run(job.dial_string, pages)
            except CallFailed as failure:
                status, reason = failure.status, failure.reason
            reason = reason or f"{sender.progress.pages_confirmed} pages sent"
            if sender.progress.ended_early:
                status = ExtendedStatus.CALL_ABORTED
                reason = f"the call was ended on request after {sender.progress.pages_confirmed} of {len(pages)} pages"
            await modem.hang_up()
            session = sender.progress.session
            result = CallResult(
                status=status,
                reason=reason,
                pages=sender.progress.pages_confirmed,
                pages_total=len(pages),
                remote_csid=sender.progress.remote_csid,
                duration_s=round(modem.at.clock_now - start, 3),
                session_log=log.lines,
            )
            if session is not None:
                result.bit_rate = session.modulation.bit_rate
                result.ecm = session.ecm
                result.compression = session.compression
                result.resolution = session.resolution
            on_status(status, result.pages)
            return result

        try:
            result = await self._run_call(body)
        finally:
            sender, self._sender = self._sender, None
        if sender is not None and result.status == ExtendedStatus.CALL_ABORTED:
            result.pages = sender.progress.pages_confirmed  # an abort cuts the call, not what the far end confirmed
            result.pages_total = len(pages)
        self.last_log = result.session_log
        return result

    def _load_pages(self, job: SendJob) -> list[OutgoingPage]:
        """Read the TIFF, skip already-sent pages, stamp headers."""
        document = list(read_fax_tiff(job.tiff_path))
        pages: list[OutgoingPage] = []
        for index, page in enumerate(document):
            if index < job.first_page:
                continue
            bitmap = page.bitmap
            if job.header is not None:
                bitmap = job.header(index, len(document))(bitmap)
            pages.append(OutgoingPage(bitmap=bitmap, fine=page.fine))
        return pages

    async def wait_for_call(self, timeout: float | None = None) -> IncomingCall:
        """Wait for RING (with caller ID and DID reports) and count rings up to the answer threshold.

        Raises TimeoutError when no call reached the threshold within ``timeout`` seconds, and
        ModemGone (after dropping the port, to be reopened) when the port fails.
        """
        try:
            at = await self._channel(self._new_log(await self._open()))
            call = await self._count_rings(at, timeout)
            call.transcript = at.log.lines
            return call
        except ModemGone as exc:
            await self._drop_port(_fault_text(exc))
            raise

    async def _count_rings(self, at: AtChannel, timeout: float | None) -> IncomingCall:
        call = IncomingCall()
        deadline = None if timeout is None else at.clock_now + timeout
        while True:
            wait = RING_SILENCE_S if call.rings else 60.0
            if deadline is not None:
                if at.clock_now >= deadline:
                    raise TimeoutError("no call came in")
                wait = min(wait, deadline - at.clock_now)
            line = await at.read_line(wait)
            if line is None:
                if call.rings and wait >= RING_SILENCE_S:
                    call, self._rang_at = IncomingCall(), None  # it stopped ringing before we answered
                continue
            at.log.add("<--", line)
            report = parse_caller_line(line)
            if report is not None:
                key, value = report
                if key == "NMBR":
                    call.caller_id = value
                elif key == "NAME":
                    call.caller_name = value
                elif key in ("NDID", "DID"):
                    call.did = value
            elif line.startswith("RING"):
                call.rings += 1
                self._rang_at = at.clock_now
                if call.rings >= self.config.rings_to_answer:
                    return call

    async def answer(
        self,
        call: IncomingCall,
        out_dir: str | Path,
        csid: str = "",
        *,
        screen_tsid: TsidScreen | None = None,
        max_pages: int | None = None,
        on_status: StatusCallback | None = None,
    ) -> CallResult:
        """Answer (ATA) and receive; pages go to one TIFF Class F file in ``out_dir``, and each page, once taken, at
        once to ``out_dir``/pages (modem.rxspool) so that a crash in mid-call loses none the sender saw confirmed.

        ``screen_tsid(tsid)`` returning False ends the call as soon as the sender's TSI arrives
        (CALL_BLACKLISTED, no pages kept); ``max_pages`` ends it with DCN once that many pages are confirmed.
        ``on_status`` hears ANSWERED, then (RECEIVING, page) as each page begins.
        """
        on_status = self._tracked(on_status or _ignore_status)

        self._rang_at = None  # the ringing call is being answered

        async def body(modem: Class1Modem, log: SessionLog) -> CallResult:
            log.lines[:0] = call.transcript
            local = self._local(csid or self.config.csid, self.config.max_bit_rate, self.config.ecm)
            receiver = T30Receiver(
                modem, local, on_status, self.config.quality, screen_tsid=screen_tsid, max_pages=max_pages,
                on_page=PageSpool(Path(out_dir) / SPOOL_FOLDER).keep,
            )
            on_status(ExtendedStatus.ANSWERED, 0)
            start = modem.at.clock_now
            status, reason = ExtendedStatus.CALL_COMPLETED, ""
            reply = await modem.at.command("ATA", timeout=40.0)
            if reply.final != "CONNECT":
                status, reason = ExtendedStatus.NOT_FAX_CALL, f"answering failed ({reply.final})"
            else:
                try:
                    await receiver.run()
                except CallFailed as failure:
                    status, reason = failure.status, failure.reason
            await modem.hang_up()
            progress = receiver.progress
            if status not in (ExtendedStatus.CALL_COMPLETED, ExtendedStatus.CALL_BLACKLISTED) and progress.pages:
                status = ExtendedStatus.PARTIALLY_RECEIVED
            reason = reason or f"{len(progress.pages)} pages received"
            result = CallResult(
                status=status,
                reason=reason,
                pages=len(progress.pages),
                pages_total=len(progress.pages),
                remote_csid=progress.remote_tsi,
                caller_id=call.caller_id,
                caller_name=call.caller_name,
                did=call.did,
                subaddress=progress.subaddress,
                duration_s=round(modem.at.clock_now - start, 3),
                session_log=log.lines,
            )
            if progress.session is not None:
                result.bit_rate = progress.session.modulation.bit_rate
                result.ecm = progress.session.ecm
                result.compression = progress.session.compression
                result.resolution = progress.session.resolution
            if progress.pages and status != ExtendedStatus.CALL_BLACKLISTED:
                result.files = [self._write_pages(progress, Path(out_dir), call)]
            return result

        result = await self._run_call(body)
        self.last_log = result.session_log
        return result

    def _write_pages(self, progress: ReceiveProgress, out_dir: Path, call: IncomingCall) -> str:
        """Store pages as TIFF Class F; FaxSubAddress holds the T.30 SUB as in HylaFAX, else the DID as before."""
        out_dir.mkdir(parents=True, exist_ok=True)
        existing = len(list(out_dir.glob("fax*.tif")))
        path = out_dir / f"fax{existing + 1:06d}.tif"
        fine = all(page.fine for page in progress.pages)
        with FaxTiffWriter(path, compression="g4", fine=fine, total_pages=len(progress.pages)) as writer:
            for page in progress.pages:
                writer.add_page(
                    page.bitmap,
                    remote_id=progress.remote_tsi or None,
                    yres=196.0 if page.fine else 98.0,
                    sub_address=progress.subaddress or call.did or None,
                    dcs=progress.session.describe() if progress.session else None,
                    clean=page.bad_rows == 0,
                    caller_id=call.caller_id or None,
                    caller_name=call.caller_name or None,
                )
        return str(path)

    async def reject(self, call: IncomingCall) -> None:
        """Refuse a ringing call: stay on hook and let it ring out."""
        at = await self._channel(self._new_log(await self._open()))
        at.log.info(f"call from {call.caller_id or 'an unknown number'} rejected: not answering")

    async def finish_after_page(self) -> None:
        """End the call being sent once its page in flight is confirmed (CALL_ABORTED with the pages confirmed)."""
        if self._sender is not None:
            self._sender.finish_after_page()

    async def abort(self) -> None:
        """Stop the call in progress; its ``send``/``answer`` returns CALL_ABORTED after hanging up."""
        call = self._call
        if call is not None and not call.done():
            self._aborted = True
            call.cancel()


class Class1Provider:
    """The built-in provider for Class 1 modems on serial ports and ptys (and on the simulated line)."""

    def create(self, spec: DeviceSpec) -> Class1Device:
        """A Class 1 device for ``spec``; an unknown init profile is a plain error."""
        if spec.profile not in PROFILES:
            raise ValueError(f"unknown modem profile {spec.profile!r} (known: {', '.join(sorted(PROFILES))})")
        config = DeviceConfig(name=spec.name, profile=PROFILES[spec.profile], csid=spec.csid,
                              rings_to_answer=spec.rings_to_answer, max_bit_rate=spec.max_bit_rate, ecm=spec.ecm)
        return Class1Device(config, spec.open_port or serial_opener(spec.port))


def _fault_text(exc: BaseException) -> str:
    """A port or modem failure in plain words, for the line's "retrying" reason."""
    if isinstance(exc, AtTimeout):
        return f"the modem stopped answering ({printable(str(exc), 120)})"
    if isinstance(exc, ModemGone):
        return printable(str(exc), 160)
    if isinstance(exc, FileNotFoundError):
        return f"the port {printable(str(exc.filename or ''), 80)} does not exist"
    if isinstance(exc, OSError) and exc.strerror:
        return f"the port failed: {printable(exc.strerror, 80)}"
    return f"the port failed: {printable(str(exc) or type(exc).__name__, 120)}"


def serial_opener(path: str | Path, lock_dir: Path | None = DEFAULT_LOCK_DIR) -> PortOpener:
    """A port opener for a serial device or pty path, for ``FaxDevice``."""

    async def open_port() -> ModemPort:
        return await SerialModemPort.open(path, lock_dir=lock_dir)

    return open_port


def _zero() -> float:
    return 0.0


def parse_caller_line(line: str) -> tuple[str, str] | None:
    """Split a caller-ID report such as ``NMBR = 5551234`` into (key, value)."""
    match = re.match(r"^\s*([A-Z]+)\s*=\s*(.*)$", line)
    return (match.group(1), printable(match.group(2), 40)) if match else None
