"""Pages of a call being received, each on disk as soon as it is taken, so a crash of the process (SIGKILL, an
out-of-memory kill) loses no page the sender was told arrived: the next start finds them and keeps them as a
partially received fax.

One file per page in the call's folder, ``page-0001-fine.npy`` (packed rows, 1728 pixels wide), written to a
temporary name and renamed, so a file is whole or absent. ``np.save`` of a fine page takes about a millisecond,
little enough to do before the page is confirmed. The files are not fsynced (that could hold the line's event
loop for tens of milliseconds per page): a power cut may lose the pages the kernel had not yet written.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from modem.faxtiff import FaxTiffWriter
from modem.t30.receiver import ReceivedPage

SPOOL_FOLDER = "pages"
"""The folder, inside the call's receive folder, that holds its pages one file each."""
_NAME = re.compile(r"^page-(\d{4,})-(fine|standard)\.npy$")


class PageSpool:
    """Keeps the pages of one call in ``folder`` (created on the first page)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def keep(self, number: int, page: ReceivedPage) -> None:
        """Write page ``number`` (1-based) whole, then make it visible."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        target = self.folder / f"page-{number:04d}-{'fine' if page.fine else 'standard'}.npy"
        temporary = self.folder / f".{target.name}.part"
        with open(temporary, "wb") as handle:
            np.save(handle, page.bitmap, allow_pickle=False)
        os.replace(temporary, target)


def spooled_pages(folder: Path) -> list[ReceivedPage]:
    """The pages kept in ``folder``, in order, up to the first gap or unreadable one (later ones cannot follow)."""
    found: dict[int, Path] = {}
    if folder.is_dir():
        for path in folder.iterdir():
            match = _NAME.match(path.name)
            if match:
                found[int(match.group(1))] = path
    pages: list[ReceivedPage] = []
    number = 1
    while number in found:
        path = found[number]
        try:
            bitmap = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            break
        if bitmap.dtype != np.uint8 or bitmap.ndim != 2 or bitmap.shape[1] == 0:
            break
        pages.append(ReceivedPage(bitmap=bitmap, fine=path.name.endswith("-fine.npy"), rows=int(bitmap.shape[0]),
                                  bad_rows=0))
        number += 1
    return pages


def write_spooled_tiff(path: Path, pages: list[ReceivedPage], *, caller_id: str = "", caller_name: str = "",
                       sub_address: str = "") -> Path:
    """The kept pages as one TIFF Class F file, as a finished call's (G4, one page per directory)."""
    fine = all(page.fine for page in pages)
    with FaxTiffWriter(path, compression="g4", fine=fine, total_pages=len(pages)) as writer:
        for page in pages:
            writer.add_page(page.bitmap, yres=196.0 if page.fine else 98.0, sub_address=sub_address or None,
                            caller_id=caller_id or None, caller_name=caller_name or None)
    return path
