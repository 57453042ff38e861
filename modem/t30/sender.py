"""The calling, transmitting side of T.30 (phases A to E) on a Class 1 modem.

Phase A dials; phase B reads DIS and answers TSI+DCS+TCF, stepping down after FTT; phase C sends each
page (non-ECM with minimum scan-line fill, or ECM partial pages with PPR retransmission); phase D sends
MPS/EOM/EOP (or PPS) and acts on MCF/RTP/RTN/PIP/PIN/PPR/RNR; phase E sends DCN and hangs up.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from modem.at import ModemError
from modem.class1 import Class1Modem, RxStatus
from modem.result import ExtendedStatus
from modem.t4 import encode_page
from modem.t30 import ecm
from modem.t30.common import CallFailed, LocalFax, StatusCallback
from modem.t30.frames import (
    Capabilities,
    Compression,
    Fcf,
    Frame,
    Modulation,
    Session,
    ctc_fif,
    decode_ident,
    encode_ident,
)
from modem.t30.timers import COMMAND_REPEATS, T1, T4, T5

TCF_SECONDS = 1.5
RTN_RETRANSMISSIONS = 2
"""How often a page refused with RTN is sent again (each time one rate lower) before giving up."""
DIAL_TIMEOUT = 90.0


@dataclass
class OutgoingPage:
    """A page ready for the line: packed bitmap (1728 px wide) and its vertical resolution."""

    bitmap: npt.NDArray[np.uint8]
    fine: bool


@dataclass
class SendProgress:
    """What the sender knows so far; read after the call for the result."""

    remote_csid: str = ""
    session: Session | None = None
    pages_confirmed: int = 0
    ppr_count: int = 0
    ctc_count: int = 0
    ftt_count: int = 0
    rtn_count: int = 0
    ended_early: bool = False
    """The call was ended on request (``finish_after_page``) before every page was sent."""


class PagePlan(Protocol):
    """Decides page by page what a call sends next and hears each confirmation (jobs batched into one call)."""

    def next_page(self, index: int) -> int | None:
        """As page ``index`` ends (-1: before the first), the page to send after it; None ends the call after it."""
        ...

    def confirmed(self, index: int, following: int | None, progress: SendProgress) -> None:
        """The far end confirmed page ``index`` (MCF, PIP or RTP); the call goes on with ``following`` (None: ends)."""
        ...


class EveryPage:
    """The plan of a plain call: every page in order."""

    def __init__(self, count: int) -> None:
        self.count = count

    def next_page(self, index: int) -> int | None:
        """The following page, if any."""
        return index + 1 if index + 1 < self.count else None

    def confirmed(self, index: int, following: int | None, progress: SendProgress) -> None:
        """Nothing to do."""


def choose_session(remote: Capabilities, local: LocalFax, fine: bool, modulations: list[Modulation]) -> Session:
    """The DCS for a DIS: best common modem, coding and ECM; the resolution the pages need."""
    usable = [m for m in modulations if remote.supports(m)]
    if not usable:
        raise CallFailed(ExtendedStatus.FATAL_ERROR, "the far end offers no modem speed this modem has")
    use_ecm = local.ecm and remote.ecm
    compression: Compression
    if use_ecm and local.mmr and remote.mmr:
        compression = "MMR"
    elif local.mr and remote.mr:
        compression = "MR"
    else:
        compression = "MH"
    if fine and not remote.fine:
        raise CallFailed(ExtendedStatus.FATAL_ERROR, "the far end cannot receive fine resolution pages")
    return Session(
        modulation=usable[0],
        fine=fine,
        compression=compression,
        ecm=use_ecm,
        ecm_frame_size=64 if use_ecm and (local.ecm_frame_size == 64) else 256,
        min_scan_ms=0 if use_ecm else remote.scan_ms_for(fine),
        unlimited_length=remote.unlimited_length,
        b4_length=remote.b4_length,
    )


class T30Sender:
    """One outgoing fax call on a Class 1 modem."""

    def __init__(
        self, modem: Class1Modem, local: LocalFax, on_status: StatusCallback, plan: PagePlan | None = None
    ) -> None:
        self.modem = modem
        self.local = local
        self.on_status = on_status
        self.log = modem.log
        self.progress = SendProgress()
        self._remote: Capabilities | None = None
        self._modulations: list[Modulation] = []
        self._encoded: dict[tuple[int, str, int, bool], bytes] = {}
        self._page_counter = 0
        self._finish_after_page = False
        self._plan = plan
        self._following: int | None = None
        """The page chosen to follow the one on the line (None: the call ends after it)."""

    def finish_after_page(self) -> None:
        """End the call cleanly once the page in flight is confirmed (EOP, then DCN), as for a shutdown."""
        self._finish_after_page = True

    def _post_command(self, plan: PagePlan, pages: Sequence[OutgoingPage], index: int) -> Fcf:
        """The post-page command, chosen as the page data ends so a request to finish (or to skip) still counts."""
        following = plan.next_page(index)
        self._following = None if self._finish_after_page else following
        if self._following is None:
            self.progress.ended_early = self._finish_after_page and following is not None
            return Fcf.EOP
        return Fcf.EOM if pages[self._following].fine != pages[index].fine else Fcf.MPS

    def _after_confirmed(self, plan: PagePlan, pages: Sequence[OutgoingPage], index: int) -> int | None:
        """The page to send after a confirmed one: the plan's latest word where the post-page command allows it
        (MPS or EOM told the far end a page follows, and in which resolution)."""
        chosen = self._following
        if chosen is None:
            return None
        if self._finish_after_page:
            self.progress.ended_early = True
            return None
        latest = plan.next_page(index)
        return latest if latest is not None and pages[latest].fine == pages[chosen].fine else chosen

    # ------------------------------------------------------------------------------------ phase A

    async def dial(self, dial_string: str) -> None:
        """ATD and wait for the far end's V.21 carrier; failures become CallFailed."""
        self.on_status(ExtendedStatus.DIALING, 0)
        reply = await self.modem.at.command(f"ATD{dial_string}", timeout=DIAL_TIMEOUT)
        outcomes = {
            "BUSY": (ExtendedStatus.BUSY, "the number is busy"),
            "NO ANSWER": (ExtendedStatus.NO_ANSWER, "nobody answered"),
            "NO DIALTONE": (ExtendedStatus.NO_DIAL_TONE, "there is no dial tone on the line"),
            "NO DIAL TONE": (ExtendedStatus.NO_DIAL_TONE, "there is no dial tone on the line"),
            "NO CARRIER": (ExtendedStatus.NOT_FAX_CALL, "the call was answered, but not by a fax machine"),
            "ERROR": (ExtendedStatus.LINE_UNAVAILABLE, "the modem refused to dial"),
            "BLACKLISTED": (ExtendedStatus.CALL_BLACKLISTED, "the modem refuses to dial this number again"),
            "DELAYED": (ExtendedStatus.CALL_DELAYED, "the modem delays calls to this number"),
        }
        if reply.final != "CONNECT":
            status, reason = outcomes.get(reply.final, (ExtendedStatus.FATAL_ERROR, "the modem failed to dial"))
            raise CallFailed(status, reason)

    # ------------------------------------------------------------------------------------ phase B

    async def _read_dis(self, first_is_open: bool) -> Capabilities:
        """Wait (up to T1) for the receiver's DIS, noting its CSI."""
        deadline = self.modem.at.clock_now + T1
        open_carrier = first_is_open
        while self.modem.at.clock_now < deadline:
            received = await self.modem.receive_frames(
                max(1.0, deadline - self.modem.at.clock_now), first_is_open=open_carrier
            )
            open_carrier = False
            self._note_idents(received.frames)
            for frame in received.frames:
                if frame.fcf == Fcf.DIS:
                    remote = Capabilities.decode(frame.fif)
                    self.log.info(f"far end offers: {remote.describe()}")
                    return remote
                if frame.fcf == Fcf.DCN:
                    raise CallFailed(ExtendedStatus.DISCONNECTED, "the far end hung up before the fax started")
            if received.status == RxStatus.ERROR:
                break
        raise CallFailed(ExtendedStatus.NOT_FAX_CALL, "no fax machine identified itself (no DIS within T1)")

    def _note_idents(self, frames: list[Frame]) -> None:
        for frame in frames:
            if frame.fcf == Fcf.CSI:
                self.progress.remote_csid = decode_ident(frame.fif)

    async def _exchange(self, frames: list[Frame], what: str) -> Frame:
        """Send a command and return the response, repeating it up to three times (T4 each)."""
        for attempt in range(COMMAND_REPEATS):
            if attempt:
                self.log.info(f"no usable response to {what}; repeating it")
            if not await self.modem.send_frames(frames):
                raise CallFailed(ExtendedStatus.DISCONNECTED, f"the modem could not send {what}")
            received = await self.modem.receive_frames(T4)
            self._note_idents(received.frames)
            if received.final is not None and received.final.fcf != Fcf.CRP:
                return received.final
            if received.status == RxStatus.ERROR:
                break
        raise CallFailed(ExtendedStatus.DISCONNECTED, f"the far end stopped responding (no answer to {what})")

    async def _train(self, session: Session) -> Session:
        """DCS + TCF until CFR, stepping down after each FTT; returns the session that trained."""
        while True:
            self.progress.session = session
            dcs = Frame(Fcf.DCS, session.encode(), x_bit=True)
            tsi = Frame(Fcf.TSI, encode_ident(self.local.ident), final=False, x_bit=True)
            response: Frame | None = None
            for attempt in range(COMMAND_REPEATS):
                await self.modem.wait_silence()
                if not await self.modem.send_frames([tsi, dcs]):
                    raise CallFailed(ExtendedStatus.DISCONNECTED, "the modem could not send DCS")
                await self.modem.send_silence()
                tcf = bytes(session.modulation.bit_rate * int(TCF_SECONDS * 1000) // 8000)
                if not await self.modem.send_image(session.modulation.long_code, tcf, session.modulation.bit_rate):
                    raise CallFailed(ExtendedStatus.DISCONNECTED, "the modem could not send the training check")
                received = await self.modem.receive_frames(T4)
                self._note_idents(received.frames)
                if received.final is not None and received.final.fcf in (Fcf.CFR, Fcf.FTT, Fcf.DCN):
                    response = received.final
                    break
                self.log.info(f"no CFR/FTT after DCS (attempt {attempt + 1})")
            if response is None:
                raise CallFailed(ExtendedStatus.DISCONNECTED, "the far end did not answer the training (DCS/TCF)")
            if response.fcf == Fcf.DCN:
                raise CallFailed(ExtendedStatus.DISCONNECTED, "the far end hung up during training")
            if response.fcf == Fcf.CFR:
                self.log.info(f"trained: {session.describe()}")
                return session
            self.progress.ftt_count += 1
            lower = self._step_down(session.modulation)
            if lower is None:
                raise CallFailed(
                    ExtendedStatus.FATAL_ERROR, "the line is too poor: training failed at every speed (FTT)"
                )
            self.log.info(f"failure to train at {session.modulation}; stepping down to {lower}")
            session = session.with_modulation(lower)

    def _step_down(self, current: Modulation) -> Modulation | None:
        """The next slower modem both ends have."""
        later = self._modulations[self._modulations.index(current) + 1 :]
        return later[0] if later else None

    # ------------------------------------------------------------------------------------ phase C

    def _coded(self, index: int, page: OutgoingPage, session: Session) -> bytes:
        """The page coded for this session (cached, as retransmissions reuse it)."""
        key = (index, session.compression, session.min_row_bits(), session.fine)
        if key not in self._encoded:
            k = 4 if session.fine else 2
            self._encoded[key] = encode_page(
                page.bitmap,
                session.compression,
                k=k,
                min_row_bits=session.min_row_bits(),
            ).data
        return self._encoded[key]

    async def _post_page(self, command: Fcf) -> Frame:
        await self.modem.send_silence()
        return await self._exchange([Frame(command, x_bit=True)], command.name)

    async def _send_page_plain(self, data: bytes, session: Session, command: Callable[[], Fcf]) -> tuple[Frame, Fcf]:
        """Send one non-ECM page and its post-page command; returns the response and the command sent."""
        modulation = session.modulation
        if not await self.modem.send_image(modulation.short_code, data, modulation.bit_rate):
            raise CallFailed(ExtendedStatus.DISCONNECTED, "the call dropped while sending page data")
        sent = command()
        return await self._post_page(sent), sent

    async def _send_page_ecm(
        self, data: bytes, session: Session, command: Callable[[], Fcf]
    ) -> tuple[Session, Fcf]:
        """Send one page in ECM partial pages, retransmitting what PPR asks for; returns the session and the command."""
        blocks = ecm.split_blocks(data, session.ecm_frame_size)
        long_train = False
        post = Fcf.NULL
        for block_number, block in enumerate(blocks):
            post = Fcf.NULL
            pending = set(range(len(block)))
            pprs = 0
            while True:
                modulation = session.modulation
                burst = ecm.ecm_burst({n: block[n] for n in pending})
                code = modulation.long_code if long_train else modulation.short_code
                long_train = False
                if not await self.modem.send_image(code, burst, modulation.bit_rate):
                    raise CallFailed(ExtendedStatus.DISCONNECTED, "the call dropped while sending page data")
                if block_number == len(blocks) - 1 and post == Fcf.NULL:
                    post = command()  # as the page data ends
                post_octet = int(post) | (1 if post != Fcf.NULL else 0)
                pps_fif = bytes([post_octet, self._page_counter & 0xFF, block_number & 0xFF, len(block) - 1])
                await self.modem.send_silence()
                response = await self._exchange([Frame(Fcf.PPS, pps_fif, x_bit=True)], f"PPS-{post.name}")
                response = await self._while_not_ready(response)
                if response.fcf == Fcf.MCF:
                    break
                if response.fcf == Fcf.DCN:
                    raise CallFailed(ExtendedStatus.DISCONNECTED, "the far end hung up during the page")
                if response.fcf != Fcf.PPR:
                    raise CallFailed(ExtendedStatus.FATAL_ERROR, f"the far end answered {response.fcf.name} to PPS")
                pending = ecm.frames_in_ppr(response.fif, len(block))
                self.progress.ppr_count += 1
                pprs += 1
                self.log.info(f"PPR: resending {len(pending)} of {len(block)} frames")
                if not pending:
                    break
                if pprs % ecm.PPR_LIMIT == 0:
                    session, long_train = await self._continue_to_correct(session, post)
                    self.progress.session = session  # the rate the rest of the call runs at
        return session, post

    async def _while_not_ready(self, response: Frame) -> Frame:
        """Answer RNR with RR until the receiver is ready (at most T5)."""
        deadline = self.modem.at.clock_now + T5
        while response.fcf == Fcf.RNR:
            if self.modem.at.clock_now > deadline:
                raise CallFailed(ExtendedStatus.DISCONNECTED, "the far end stayed not ready (RNR) for T5")
            await self.modem.send_silence()
            response = await self._exchange([Frame(Fcf.RR, x_bit=True)], "RR")
        return response

    async def _continue_to_correct(self, session: Session, post: Fcf) -> tuple[Session, bool]:
        """After four PPRs: CTC at a lower speed (answered by CTR), or EOR when there is none."""
        lower = self._step_down(session.modulation)
        if lower is None:
            await self.modem.send_silence()
            response = await self._exchange([Frame(Fcf.EOR, bytes([int(post) | 1 if post else 0]), x_bit=True)], "EOR")
            raise CallFailed(
                ExtendedStatus.FATAL_ERROR,
                f"the page could not be corrected even at the lowest speed (far end answered {response.fcf.name})",
            )
        self.progress.ctc_count += 1
        self.log.info(f"four PPRs: continuing to correct at {lower}")
        await self.modem.send_silence()
        response = await self._exchange([Frame(Fcf.CTC, ctc_fif(lower), x_bit=True)], "CTC")
        if response.fcf != Fcf.CTR:
            raise CallFailed(ExtendedStatus.DISCONNECTED, f"the far end answered {response.fcf.name} to CTC")
        return session.with_modulation(lower), True

    # ------------------------------------------------------------------------------------ the call

    async def run(self, dial_string: str, pages: Sequence[OutgoingPage]) -> None:
        """Dial and send every page; raises CallFailed with the reason when the call ends early."""
        self._modulations = self.local.modulations()
        await self.dial(dial_string)
        try:
            await self._send_document(pages)
        except CallFailed as failure:
            if failure.status == ExtendedStatus.FATAL_ERROR:
                with contextlib.suppress(CallFailed, ModemError):
                    await self.disconnect()  # a session we end ourselves ends with DCN (T.30 phase E)
            raise

    async def _send_document(self, pages: Sequence[OutgoingPage]) -> None:
        """Phases B to E once the call is connected."""
        remote = await self._read_dis(first_is_open=True)
        plan = self._plan or EveryPage(len(pages))
        first = plan.next_page(-1)
        index = len(pages) if first is None else first
        session: Session | None = None
        needs_training = True
        rtn_for_page = 0
        while index < len(pages):
            if self._finish_after_page:
                self.progress.ended_early = True
                self.log.info(f"ending the call after {index} pages on request")
                break
            page = pages[index]
            if needs_training or session is None:
                if session is None:
                    self._modulations = [m for m in self.local.modulations() if remote.supports(m)]
                    session = choose_session(remote, self.local, page.fine, self._modulations)
                session = await self._train(session)
                self.progress.session = session
                needs_training = False
            self.on_status(ExtendedStatus.TRANSMITTING, index + 1)
            data = self._coded(index, page, session)
            self.log.info(f"page {index + 1}: {len(data)} octets {session.compression}")
            command_for = functools.partial(self._post_command, plan, pages, index)
            if session.ecm:
                session, command = await self._send_page_ecm(data, session, command_for)
                response = Frame(Fcf.MCF)
            else:
                response, command = await self._send_page_plain(data, session, command_for)
            fcf = response.fcf
            if fcf in (Fcf.MCF, Fcf.PIP, Fcf.RTP):
                self.progress.pages_confirmed += 1
                self._page_counter += 1
                following = self._after_confirmed(plan, pages, index)
                plan.confirmed(index, following, self.progress)
                index = len(pages) if following is None else following
                rtn_for_page = 0
                needs_training = fcf == Fcf.RTP
                if command == Fcf.EOM:
                    remote = await self._read_dis(first_is_open=False)
                    session = None
            elif fcf in (Fcf.RTN, Fcf.PIN):
                self.progress.rtn_count += 1
                rtn_for_page += 1
                if rtn_for_page > RTN_RETRANSMISSIONS:
                    raise CallFailed(
                        ExtendedStatus.FATAL_ERROR,
                        f"the far end rejected page {index + 1} for poor quality (RTN) after "
                        f"{RTN_RETRANSMISSIONS} retransmissions",
                    )
                lower = self._step_down(session.modulation)
                if lower is not None:
                    session = session.with_modulation(lower)
                self.log.info(f"page {index + 1} refused (RTN): retraining at {session.modulation} and resending")
                needs_training = True
            elif fcf == Fcf.DCN:
                raise CallFailed(ExtendedStatus.DISCONNECTED, f"the far end hung up after page {index + 1}")
            else:
                raise CallFailed(ExtendedStatus.FATAL_ERROR, f"the far end answered {fcf.name} to {command.name}")
        await self.disconnect()

    async def disconnect(self) -> None:
        """Phase E: DCN, then on hook."""
        await self.modem.send_silence()
        await self.modem.send_frames([Frame(Fcf.DCN, x_bit=True)])
