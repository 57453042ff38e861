"""The answering, receiving side of T.30 on a Class 1 modem.

After ATA the modem is already transmitting V.21: CSI+DIS go out, repeated every T4 until a DCS arrives
(at most T1). The TCF that follows is checked for a long enough run of zeros and answered CFR or FTT.
Non-ECM pages are decoded and judged (bad-row ratio, consecutive bad rows) to answer MCF or RTN; ECM
pages are collected partial page by partial page, asking PPR for damaged frames.

Screening happens in the call: a sender whose TSI the ``screen_tsid`` callback refuses gets DCN instead of
CFR (no page is taken), and with ``max_pages`` the page that reaches the limit is confirmed and then DCN ends
the call if the sender had more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from modem.class1 import Class1Modem, RxStatus
from modem.result import ExtendedStatus
from modem.t4.decode import DecodedPage, decode_page
from modem.t30 import ecm
from modem.t30.common import CallFailed, LocalFax, StatusCallback
from modem.t30.frames import (
    POST_PAGE_COMMANDS,
    Fcf,
    Frame,
    Session,
    decode_fcf,
    decode_ident,
    decode_subaddress,
    encode_ident,
    modulation_from_ctc,
)
from modem.t30.timers import COMMAND_REPEATS, T1, T2, T4

TCF_MIN_ZERO_SECONDS = 1.0
"""A TCF passes when it holds at least this long an unbroken run of zero octets (of the 1.5 s sent)."""
PAGE_WIDTH = 1728
BLOCKED_REASON = "sender station id is on the block list"
TsidScreen = Callable[[str], bool]
"""``screen_tsid(tsid)``: False ends the call before any page is taken."""


@dataclass(frozen=True)
class CopyQuality:
    """When a non-ECM page is good enough to confirm (HylaFAX's PercentGoodLines/MaxConsecutiveBadLines)."""

    percent_good_rows: float = 95.0
    max_consecutive_bad_rows: int = 5
    min_rows: int = 10

    def acceptable(self, page: DecodedPage) -> bool:
        """True when the page may be answered MCF."""
        if page.rows < self.min_rows:
            return False
        good = 100.0 * (page.rows - page.bad_rows) / page.rows
        return good >= self.percent_good_rows and page.longest_bad_run <= self.max_consecutive_bad_rows


@dataclass
class ReceivedPage:
    """A page taken from the line."""

    bitmap: npt.NDArray[np.uint8]
    fine: bool
    rows: int
    bad_rows: int


@dataclass
class ReceiveProgress:
    """What the receiver knows so far; read after the call for the result."""

    remote_tsi: str = ""
    subaddress: str = ""
    """The sender's T.30 subaddress (SUB frame sent with DCS), sanitized; "" when none was sent."""
    session: Session | None = None
    pages: list[ReceivedPage] = field(default_factory=list)
    completed: bool = False
    rtn_sent: int = 0
    ppr_sent: int = 0
    refused_more: bool = False
    """The page limit was reached while the sender still had pages: the call was ended with DCN."""


PageKept = Callable[[int, ReceivedPage], None]
"""Told of each page confirmed to the sender (its 1-based number) as soon as it is decoded: a non-ECM page before
its MCF, an ECM page just after (it is decoded while the next one arrives)."""


def _received(page: DecodedPage, session: Session) -> ReceivedPage:
    return ReceivedPage(bitmap=page.bitmap, fine=session.fine, rows=page.rows, bad_rows=page.bad_rows)


def tcf_is_good(data: bytes, bit_rate: int) -> bool:
    """True when the training check holds a long enough run of zero octets."""
    needed = int(bit_rate * TCF_MIN_ZERO_SECONDS / 8)
    longest = run = 0
    for octet in data:
        run = run + 1 if octet == 0 else 0
        longest = max(longest, run)
    return longest >= needed


class T30Receiver:
    """One incoming fax call on a Class 1 modem, from the CONNECT after ATA to DCN."""

    def __init__(
        self,
        modem: Class1Modem,
        local: LocalFax,
        on_status: StatusCallback,
        quality: CopyQuality | None = None,
        *,
        screen_tsid: TsidScreen | None = None,
        max_pages: int | None = None,
        on_page: PageKept | None = None,
    ) -> None:
        self.modem = modem
        self.on_page = on_page
        self.screen_tsid = screen_tsid
        self.max_pages = max_pages
        self._screened: str | None = None
        self.local = local
        self.on_status = on_status
        self.quality = quality or CopyQuality()
        self.log = modem.log
        self.progress = ReceiveProgress()
        self._pending: list[Frame] = []
        self._last_response: Frame | None = None
        self._last_block: tuple[int, int] | None = None
        self._decoding: list[tuple[asyncio.Future[DecodedPage], Session]] = []
        """Confirmed ECM pages still being decoded in a thread, in page order."""

    async def _respond(self, fcf: Fcf, fif: bytes = b"") -> None:
        if not await self.modem.send_frames([Frame(fcf, fif)]):
            raise CallFailed(ExtendedStatus.DISCONNECTED, f"the modem could not send {fcf.name}")
        if fcf in (Fcf.MCF, Fcf.RTN, Fcf.PPR):
            self._last_response = Frame(fcf, fif)

    async def _answer_repeat(self, command: Frame | None) -> bool:
        """True (after answering again) when ``command`` repeats a post-page command whose answer was lost."""
        if command is None or self._last_response is None:
            return False
        if command.fcf not in POST_PAGE_COMMANDS and command.fcf != Fcf.PPS:
            return False
        self.log.info(f"{command.fcf.name} repeated: our {self._last_response.fcf.name} was lost, sending it again")
        await self._respond(self._last_response.fcf, self._last_response.fif)
        return True

    async def _command(self, timeout: float) -> Frame | None:
        """The next command (the final frame of a set), noting TSI and SUB; None if none came.

        A command that arrives damaged is answered with CRP (command repeat), up to three times.
        """
        if self._pending:
            return self._pending.pop(0)
        for _ in range(COMMAND_REPEATS):
            received = await self.modem.receive_frames(timeout)
            for frame in received.frames:
                if frame.fcf == Fcf.TSI:
                    self.progress.remote_tsi = decode_ident(frame.fif)
                elif frame.fcf == Fcf.SUB:
                    self.progress.subaddress = decode_subaddress(frame.fif)
            if received.status == RxStatus.ERROR:
                raise CallFailed(ExtendedStatus.DISCONNECTED, "the modem reported an error while listening")
            if received.final is not None or not received.garbled:
                return received.final
            self.log.info("command received damaged: asking for it again (CRP)")
            await self._respond(Fcf.CRP)
        return None

    # ------------------------------------------------------------------------------------ phase B

    async def _negotiate(self, first: bool, send_dis: bool = True) -> Session:
        """Send DIS (every T4) until DCS and a good TCF; returns the session. DCN ends the call.

        ``first``: the modem is already transmitting after ATA. ``send_dis`` False: the sender is about to
        retrain (after RTN or EOM), so listen before offering DIS again.
        """
        deadline = self.modem.at.clock_now + T1
        dis = [
            Frame(Fcf.CSI, encode_ident(self.local.ident), final=False),
            Frame(Fcf.DIS, self.local.capabilities().encode()),
        ]
        already_open = first
        while self.modem.at.clock_now < deadline:
            if send_dis:
                if not await self.modem.send_frames(dis, already_open=already_open):
                    raise CallFailed(ExtendedStatus.DISCONNECTED, "the modem could not send DIS")
                already_open = False
            command = await self._command(T4)
            if command is None:
                send_dis = True
                continue
            if command.fcf == Fcf.DCN:
                raise CallFailed(ExtendedStatus.DISCONNECTED, "the far end hung up before sending a page")
            if command.fcf != Fcf.DCS:
                self.log.info(f"ignoring {command.fcf.name} while waiting for DCS")
                send_dis = True
                continue
            session = Session.decode(command.fif)
            unoffered = self._unoffered(session) if session is not None else "a modem T.30 does not define"
            if session is None or unoffered:
                await self._disconnect()
                raise CallFailed(ExtendedStatus.FATAL_ERROR,
                                 f"the far end sent a DCS this station cannot use ({unoffered}, never offered)")
            self.progress.session = session
            tcf = await self.modem.receive_image(session.modulation.long_code, timeout=T4)
            await self._screen()
            if tcf.status == RxStatus.WRONG_CARRIER:
                send_dis = False  # the sender repeats DCS: listen for it
                continue
            if tcf.status == RxStatus.OK and tcf_is_good(tcf.data, session.modulation.bit_rate):
                await self._respond(Fcf.CFR)
                self.log.info(f"training good at {session.modulation}: {session.describe()}")
                return session
            self.log.info(f"training check failed at {session.modulation}: answering FTT")
            await self._respond(Fcf.FTT)
            send_dis = False
            deadline = self.modem.at.clock_now + T1
        if first:
            raise CallFailed(ExtendedStatus.NOT_FAX_CALL, "no fax sender identified itself (no DCS within T1)")
        raise CallFailed(ExtendedStatus.DISCONNECTED, "the far end did not go on with the fax (no DCS within T1)")

    def _unoffered(self, session: Session) -> str:
        """What a DCS commands that our DIS did not offer ("" when it keeps to the offer)."""
        local = self.local
        wrong = []
        if session.modulation not in local.modulations():
            wrong.append(str(session.modulation))
        if session.ecm and not local.ecm:
            wrong.append("ECM")
        offered = {"MH": True, "MR": local.mr, "MMR": local.mmr and local.ecm}
        if not offered[session.compression]:
            wrong.append(session.compression)
        if session.fine and not local.fine:
            wrong.append("fine resolution")
        return ", ".join(wrong)

    async def _screen(self) -> None:
        """Refuse a blocked sender once its TSI is known: DCN instead of CFR, before any page is sent."""
        tsid = self.progress.remote_tsi
        if self.screen_tsid is None or not tsid or tsid == self._screened:
            return
        self._screened = tsid
        if self.screen_tsid(tsid):
            return
        self.log.info(f"sender TSI {tsid!r} refused by screening: ending the call (DCN)")
        await self._disconnect()
        raise CallFailed(ExtendedStatus.CALL_BLACKLISTED, BLOCKED_REASON)

    async def _disconnect(self) -> None:
        """Send DCN; the caller hangs up next whether or not the modem managed to send it."""
        if not await self.modem.send_frames([Frame(Fcf.DCN)]):
            self.log.info("the modem could not send DCN; hanging up anyway")

    # ------------------------------------------------------------------------------------ phase C/D

    def _decode(self, data: bytes, session: Session) -> DecodedPage:
        return decode_page(data, session.compression, width=PAGE_WIDTH)

    async def _decode_off_loop(self, data: bytes, session: Session) -> DecodedPage:
        """Decode off the event loop: a page takes a few hundred ms of CPU, which other lines must not wait for."""
        return await self.modem.at.port.clock.compute(lambda: self._decode(data, session))

    def _store_later(self, data: bytes, session: Session) -> None:
        """Keep a confirmed ECM page, decoding it while the call goes on: the sender starts the next page about
        75 ms after our MCF, and the modem must be listening (+FRM) by then. ``on_page`` hears of it once decoded."""
        number = self._pages_taken + 1
        decoding = asyncio.ensure_future(self._decode_off_loop(data, session))
        decoding.add_done_callback(lambda done: self._tell(number, done, session))
        self._decoding.append((decoding, session))

    def _tell(self, number: int, decoding: asyncio.Future[DecodedPage], session: Session) -> None:
        if not decoding.cancelled() and decoding.exception() is None:
            self._kept(number, _received(decoding.result(), session))

    def _kept(self, number: int, page: ReceivedPage) -> None:
        """Tell ``on_page`` (it keeps the page on disk); its failure costs only that early copy, never the call."""
        if self.on_page is None:
            return
        try:
            self.on_page(number, page)
        except Exception as exc:
            self.log.info(f"page {number} could not be kept early ({type(exc).__name__}: {exc})")

    async def _stored(self) -> None:
        """Wait for the pages still being decoded and keep them, in order."""
        while self._decoding:
            task, session = self._decoding.pop(0)
            self._store(await task, session, tell=False)

    @property
    def _pages_taken(self) -> int:
        return len(self.progress.pages) + len(self._decoding)

    def _store(self, page: DecodedPage, session: Session, *, tell: bool = True) -> None:
        self.progress.pages.append(_received(page, session))
        self.log.info(f"page {len(self.progress.pages)}: {page.rows} rows, {page.bad_rows} bad")
        if tell:
            self._kept(len(self.progress.pages), self.progress.pages[-1])

    async def _receive_plain_page(self, session: Session) -> Frame | None:
        """One non-ECM page and its post-page exchange; returns the post-page command answered."""
        while True:
            image = await self.modem.receive_image(session.modulation.short_code, timeout=T2)
            if image.status == RxStatus.OK:
                break
            if image.status != RxStatus.WRONG_CARRIER:
                return None
            command = await self._command(T2)
            if not await self._answer_repeat(command):
                return command
        decoding = asyncio.ensure_future(self._decode_off_loop(image.data, session))
        try:
            command = await self._command(T2)  # listen for the post-page command at once (+FRH), decoding meanwhile
        finally:
            page = await decoding
        good = self.quality.acceptable(page)
        if command is None or command.fcf not in POST_PAGE_COMMANDS:
            if command is not None:
                return command
            raise CallFailed(ExtendedStatus.DISCONNECTED, "the far end sent no post-page command")
        if good:
            self._store(page, session)
            await self._respond(Fcf.MCF)
        else:
            self.progress.rtn_sent += 1
            self.log.info(
                f"page quality too poor ({page.bad_rows} of {page.rows} rows bad, "
                f"{page.longest_bad_run} in a row): answering RTN"
            )
            await self._respond(Fcf.RTN)
            return Frame(Fcf.RTN)
        return command

    async def _receive_ecm_page(self, session: Session) -> tuple[Frame | None, Session]:
        """One ECM page, partial page by partial page; returns the post-page command and the session."""
        blocks: list[bytes] = []
        block = ecm.BlockCollector()
        long_train = False
        while True:
            modulation = session.modulation
            code = modulation.long_code if long_train else modulation.short_code
            image = await self.modem.receive_image(code, timeout=T2)
            if image.status == RxStatus.OK:
                block.take(ecm.hdlc_decode(image.data))
            elif image.status not in (RxStatus.WRONG_CARRIER, RxStatus.TIMEOUT):
                raise CallFailed(ExtendedStatus.DISCONNECTED, "the call dropped during page data")
            command = await self._command(T2)
            if command is None:
                raise CallFailed(ExtendedStatus.DISCONNECTED, "the far end sent no partial-page signal")
            long_train = False
            while command.fcf in (Fcf.CTC, Fcf.RR):
                if command.fcf == Fcf.CTC:
                    new = modulation_from_ctc(command.fif)
                    if new is not None:
                        session = session.with_modulation(new)
                        self.progress.session = session  # the rate the rest of the call runs at
                        self.log.info(f"continuing to correct at {new}")
                    await self._respond(Fcf.CTR)
                    long_train = True
                    break
                missing = block.missing()
                await self._respond(Fcf.PPR if missing else Fcf.MCF, ecm.ppr_bitmap(missing) if missing else b"")
                follow = await self._command(T2)
                if follow is None:
                    raise CallFailed(ExtendedStatus.DISCONNECTED, "the far end went quiet after RR")
                command = follow
            if command.fcf == Fcf.CTC:
                continue
            if command.fcf == Fcf.DCN:
                raise CallFailed(ExtendedStatus.DISCONNECTED, "the far end hung up during the page")
            if command.fcf == Fcf.EOR:
                self.log.info("the sender gave up correcting this partial page (EOR)")
                blocks.append(block.data())
                block = ecm.BlockCollector()
                await self._respond(Fcf.ERR)
                post = decode_fcf(command.fif[0]) if command.fif else Fcf.NULL
                if post in POST_PAGE_COMMANDS:
                    self._store_later(b"".join(blocks), session)
                    return Frame(post or Fcf.NULL), session
                continue
            if command.fcf != Fcf.PPS or len(command.fif) < 4:
                return command, session
            if (command.fif[1], command.fif[2]) == self._last_block and not block.frames:
                await self._answer_repeat(command)  # the sender missed our MCF for that partial page
                continue
            block.frame_count = max(block.frame_count, command.fif[3] + 1)
            missing = block.missing()
            if missing:
                self.progress.ppr_sent += 1
                self.log.info(f"{len(missing)} of {block.frame_count} frames damaged: asking PPR")
                await self._respond(Fcf.PPR, ecm.ppr_bitmap(missing))
                continue
            blocks.append(block.data())
            block = ecm.BlockCollector()
            self._last_block = (command.fif[1], command.fif[2])
            await self._respond(Fcf.MCF)
            post = decode_fcf(command.fif[0])
            if post is not None and post in POST_PAGE_COMMANDS:
                self._store_later(b"".join(blocks), session)
                return Frame(post), session

    async def run(self) -> None:
        """Receive until EOP (then DCN) or until the call fails; raises CallFailed on failure. Every page
        confirmed to the sender is in progress.pages when it returns or raises."""
        try:
            await self._run()
        finally:
            await self._stored()

    async def _run(self) -> None:
        session = await self._negotiate(first=True)
        while True:
            self.on_status(ExtendedStatus.RECEIVING, self._pages_taken + 1)
            if session.ecm:
                command, session = await self._receive_ecm_page(session)
            else:
                command = await self._receive_plain_page(session)
            if command is None:
                raise CallFailed(ExtendedStatus.DISCONNECTED, "the far end stopped sending in mid-page")
            fcf = command.fcf
            more = (Fcf.MPS, Fcf.PRI_MPS, Fcf.EOM, Fcf.PRI_EOM)
            if fcf in more and self.max_pages is not None and self._pages_taken >= self.max_pages:
                self.progress.refused_more = True
                self.log.info(f"page limit of {self.max_pages} reached with more to come: ending the call (DCN)")
                await self._disconnect()
                kept = self._pages_taken
                raise CallFailed(
                    ExtendedStatus.PARTIALLY_RECEIVED,
                    f"{kept} page{'s' if kept != 1 else ''} kept (the limit for one call); the rest were refused",
                )
            if fcf in (Fcf.MPS, Fcf.PRI_MPS):
                continue
            if fcf in (Fcf.EOP, Fcf.PRI_EOP):
                self.progress.completed = True
                await self._await_dcn()
                return
            if fcf in (Fcf.EOM, Fcf.PRI_EOM):
                session = await self._negotiate(first=False)
                continue
            if fcf in (Fcf.RTN, Fcf.DCS):
                if fcf == Fcf.DCS:
                    self._pending.append(command)
                session = await self._negotiate(first=False, send_dis=False)
                continue
            if fcf == Fcf.DCN:
                raise CallFailed(ExtendedStatus.DISCONNECTED, "the far end hung up before the end of the fax")
            self.log.info(f"unexpected {fcf.name} during page reception")

    async def _await_dcn(self) -> None:
        """Phase E: the sender's DCN (or silence: the call is complete either way)."""
        for _ in range(3):
            command = await self._command(T2)
            if command is None or command.fcf == Fcf.DCN:
                return
            if command.fcf in POST_PAGE_COMMANDS:
                await self._respond(Fcf.MCF)  # our MCF was lost: confirm again
