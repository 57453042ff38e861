"""The incoming archive (IFaxIncomingArchive): every received fax kept as TIFF, with an age limit and quota warnings."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from gateway.config import FaxgateConfig
from gateway.enums import ServerEvents
from gateway.events import EventBus
from gateway.filemodes import file_mode, make_folders
from gateway.logs import log_event, logger
from routing.methods.folder import write_once

log = logger("inbound")


@dataclass
class SweepResult:
    """What one archive sweep found and did."""

    removed: int
    total_bytes: int
    over_quota: bool


class IncomingArchive:
    """A folder of received TIFFs named by reception time and job id."""

    def __init__(self, config: FaxgateConfig, events: EventBus | None = None) -> None:
        section = config.archive.incoming
        self.section = section
        self._default_folder = config.server.data_dir / "archive" / "incoming"
        self.events = events
        self.warned = False

    @property
    def folder(self) -> Path:
        """The archive folder in force now (it may be changed through the API while the server runs)."""
        return self.section.folder or self._default_folder

    @property
    def enabled(self) -> bool:
        """Whether received faxes are archived at all."""
        return self.section.enabled

    def store(self, job_id: int, received_at: float, tiff: bytes) -> Path:
        """Keep one received fax; atomic and idempotent, like the folder method."""
        make_folders(self.folder, self.section.folder_mode)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(received_at))
        return write_once(self.folder, f"{stamp}-{job_id}", ".tif", tiff, file_mode(self.section.folder_mode))

    def sweep(self, now: float | None = None) -> SweepResult:
        """Delete files past the age limit, then warn once when the archive passes the high watermark."""
        now = time.time() if now is None else now
        limit = self.section.age_limit.total_seconds()
        removed, total = 0, 0
        if not self.folder.is_dir():
            return SweepResult(0, 0, False)
        for path in sorted(self.folder.glob("*.tif")):
            stat = path.stat()
            if limit > 0 and now - stat.st_mtime > limit:
                path.unlink(missing_ok=True)
                removed += 1
                if self.events is not None:
                    self.events.publish(ServerEvents.IN_ARCHIVE, "message.removed", message_id=path.stem)
                continue
            total += stat.st_size
        if removed:
            log_event(log, logging.INFO, "archive.aged_out", removed=removed, folder=str(self.folder))
        over = total > self.section.high_watermark
        if over and self.section.quota_warning and not self.warned:
            self.warned = True
            log_event(log, logging.WARNING, "archive.quota_warning", bytes=total,
                      high_watermark=self.section.high_watermark, folder=str(self.folder))
            if self.events is not None:
                self.events.publish(ServerEvents.IN_ARCHIVE, "archive.quota_warning", bytes=total,
                                    high_watermark=self.section.high_watermark)
        elif total < self.section.low_watermark:
            self.warned = False
        return SweepResult(removed, total, over)
