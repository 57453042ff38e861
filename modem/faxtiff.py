"""TIFF Class F files: the one place that reads and writes fax pages on disk.

Pages are packed bitmaps (uint8, shape (rows, ceil(width / 8)), MSB-first, 1 = black). Files are
written one strip per page, PhotometricInterpretation 0 (WhiteIsZero), FillOrder 1, so the CCITT codes
are the ones a fax line carries. Encoding and decoding go through the system libtiff (libtiff.so.6) via
ctypes: numpy hands libtiff the packed rows directly, which is several times faster than Pillow's mode "1"
path and avoids its inverted-photometric pitfall.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import numpy as np
import numpy.typing as npt

PackedBitmap = npt.NDArray[np.uint8]
Compression = Literal["g4", "g3_1d", "g3_2d"]

FAX_WIDTH = 1728
STANDARD_YRES = 98.0
FINE_YRES = 196.0
FAX_XRES = 204.0

# TIFF tags and values used here (numbers from the TIFF 6.0 specification and libtiff's tiff.h).
_TAG_SUBFILETYPE = 254
_TAG_IMAGEWIDTH = 256
_TAG_IMAGELENGTH = 257
_TAG_BITSPERSAMPLE = 258
_TAG_COMPRESSION = 259
_TAG_PHOTOMETRIC = 262
_TAG_FILLORDER = 266
_TAG_IMAGEDESCRIPTION = 270
_TAG_ORIENTATION = 274
_TAG_ARTIST = 315
_TAG_SAMPLESPERPIXEL = 277
_TAG_ROWSPERSTRIP = 278
_TAG_XRESOLUTION = 282
_TAG_YRESOLUTION = 283
_TAG_PLANARCONFIG = 284
_TAG_T4OPTIONS = 292
_TAG_T6OPTIONS = 293
_TAG_RESOLUTIONUNIT = 296
_TAG_PAGENUMBER = 297
_TAG_SOFTWARE = 305
_TAG_DATETIME = 306
_TAG_CLEANFAXDATA = 327
_TAG_FAXSUBADDRESS = 34909
_TAG_FAXRECVTIME = 34910
_TAG_FAXDCS = 34911

_COMPRESSION_NONE = 1
_COMPRESSION_CCITT_G3 = 3
_COMPRESSION_CCITT_G4 = 4
_PHOTOMETRIC_MINISWHITE = 0
_PHOTOMETRIC_MINISBLACK = 1
_RESUNIT_CM = 3
_FILETYPE_PAGE = 2
_T4_2D = 1
_T4_FILLBITS = 4

_COMPRESSION_CODES: dict[Compression, tuple[int, int | None]] = {
    # (Compression tag, T4Options). Fill bits make every EOL end on a byte boundary (universal fallback).
    "g3_1d": (_COMPRESSION_CCITT_G3, _T4_FILLBITS),
    "g3_2d": (_COMPRESSION_CCITT_G3, _T4_2D | _T4_FILLBITS),
    "g4": (_COMPRESSION_CCITT_G4, None),
}
COMPRESSION_NAMES: dict[int, str] = {1: "none", 2: "ccitt_rle", 3: "g3", 4: "g4", 5: "lzw", 32773: "packbits"}


class FaxTiffError(Exception):
    """A TIFF file could not be read or written as fax pages."""


@dataclass(frozen=True, slots=True)
class FaxPage:
    """One decoded page: the packed bitmap plus the geometry a fax call needs."""

    bitmap: PackedBitmap
    width: int
    rows: int
    xres: float
    yres: float
    remote_id: str | None = None
    caller_id: str | None = None
    """The calling number the line reported when the page was received (Artist tag, see ``caller_tag``)."""
    caller_name: str | None = None
    sub_address: str | None = None
    """The FaxSubAddress tag: the sender's T.30 subaddress (or the DID when the call had none)."""

    @property
    def fine(self) -> bool:
        """Fine (196 lpi) rather than standard (98 lpi) vertical resolution."""
        return self.yres > 150.0


@dataclass(frozen=True, slots=True)
class FaxPageInfo:
    """Tags of one page, read without decoding, to decide whether a file is fax-ready as it is."""

    width: int
    rows: int
    xres: float
    yres: float
    bits_per_sample: int
    samples_per_pixel: int
    compression: int
    photometric: int
    fill_order: int
    strips: int
    tiled: bool

    @property
    def fax_ready(self) -> bool:
        """True when the page can go on the line as it is (Class F: 1728 wide, 204 x 98/196, CCITT)."""
        return (
            self.bits_per_sample == 1
            and self.samples_per_pixel == 1
            and not self.tiled
            and self.strips == 1
            and self.width == FAX_WIDTH
            and self.compression in (_COMPRESSION_CCITT_G3, _COMPRESSION_CCITT_G4)
            and self.photometric == _PHOTOMETRIC_MINISWHITE
            and self.fill_order == 1
            and abs(self.xres - FAX_XRES) < 3.0
            and (abs(self.yres - STANDARD_YRES) < 2.0 or abs(self.yres - FINE_YRES) < 3.0)
        )


# ---------------------------------------------------------------------------------------------- libtiff


_ErrorHandler = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p)


class _LibTiff:
    """ctypes bindings for the handful of libtiff calls used here, with errors captured per thread."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("tiff") or "libtiff.so.6"
        try:
            self.lib = ctypes.CDLL(name)
            self.libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        except OSError as exc:  # pragma: no cover - depends on the host
            raise FaxTiffError(f"libtiff is not installed ({name}): install the libtiff6 package") from exc
        lib = self.lib
        lib.TIFFOpen.restype = ctypes.c_void_p
        lib.TIFFOpen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        lib.TIFFClose.argtypes = [ctypes.c_void_p]
        lib.TIFFClose.restype = None
        io_args: list[type[ctypes._SimpleCData[Any]]] = [
            ctypes.c_void_p,
            ctypes.c_uint32,
            ctypes.c_void_p,
            ctypes.c_int64,
        ]
        lib.TIFFWriteEncodedStrip.argtypes = io_args
        lib.TIFFWriteEncodedStrip.restype = ctypes.c_int64
        lib.TIFFWriteDirectory.argtypes = [ctypes.c_void_p]
        lib.TIFFWriteDirectory.restype = ctypes.c_int
        lib.TIFFReadDirectory.argtypes = [ctypes.c_void_p]
        lib.TIFFReadDirectory.restype = ctypes.c_int
        lib.TIFFNumberOfDirectories.argtypes = [ctypes.c_void_p]
        lib.TIFFNumberOfDirectories.restype = ctypes.c_uint32
        lib.TIFFIsTiled.argtypes = [ctypes.c_void_p]
        lib.TIFFIsTiled.restype = ctypes.c_int
        lib.TIFFNumberOfStrips.argtypes = [ctypes.c_void_p]
        lib.TIFFNumberOfStrips.restype = ctypes.c_uint32
        lib.TIFFNumberOfTiles.argtypes = [ctypes.c_void_p]
        lib.TIFFNumberOfTiles.restype = ctypes.c_uint32
        lib.TIFFStripSize64.argtypes = [ctypes.c_void_p]
        lib.TIFFStripSize64.restype = ctypes.c_uint64
        lib.TIFFTileSize64.argtypes = [ctypes.c_void_p]
        lib.TIFFTileSize64.restype = ctypes.c_uint64
        lib.TIFFScanlineSize64.argtypes = [ctypes.c_void_p]
        lib.TIFFScanlineSize64.restype = ctypes.c_uint64
        lib.TIFFReadEncodedStrip.argtypes = io_args
        lib.TIFFReadEncodedStrip.restype = ctypes.c_int64
        lib.TIFFReadEncodedTile.argtypes = io_args
        lib.TIFFReadEncodedTile.restype = ctypes.c_int64
        # TIFFSetField/TIFFGetField are variadic: no argtypes, each argument is an explicit ctypes value.
        lib.TIFFSetField.restype = ctypes.c_int
        lib.TIFFGetField.restype = ctypes.c_int
        lib.TIFFGetFieldDefaulted.restype = ctypes.c_int
        self.libc.vsnprintf.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p]
        self.libc.vsnprintf.restype = ctypes.c_int
        self._local = threading.local()
        self._on_error = _ErrorHandler(self._record_error)
        self._on_warning = _ErrorHandler(self._ignore_warning)
        lib.TIFFSetErrorHandler.restype = ctypes.c_void_p
        lib.TIFFSetErrorHandler.argtypes = [_ErrorHandler]
        lib.TIFFSetWarningHandler.restype = ctypes.c_void_p
        lib.TIFFSetWarningHandler.argtypes = [_ErrorHandler]
        lib.TIFFSetErrorHandler(self._on_error)
        lib.TIFFSetWarningHandler(self._on_warning)

    def _record_error(self, module: bytes | None, fmt: bytes | None, args: int | None) -> None:
        """Keep libtiff's last error message for the exception instead of printing it to stderr."""
        buf = ctypes.create_string_buffer(512)
        self.libc.vsnprintf(buf, len(buf), fmt, args)
        self._local.error = buf.value.decode("utf-8", "replace")

    def _ignore_warning(self, module: bytes | None, fmt: bytes | None, args: int | None) -> None:
        """Drop warnings (unknown private tags and the like are normal in received files)."""

    def take_error(self) -> str:
        """Return and clear this thread's last libtiff error."""
        message: str = getattr(self._local, "error", "") or "unknown libtiff error"
        self._local.error = ""
        return message

    def set_int(self, tif: int, tag: int, *values: int) -> None:
        """TIFFSetField for integer-valued tags (uint16/uint32 promote to int in varargs)."""
        args = [ctypes.c_uint(v) for v in values]
        if not self.lib.TIFFSetField(ctypes.c_void_p(tif), ctypes.c_uint32(tag), *args):
            raise FaxTiffError(f"cannot set TIFF tag {tag}: {self.take_error()}")

    def set_float(self, tif: int, tag: int, value: float) -> None:
        """TIFFSetField for RATIONAL tags (float promotes to double in varargs)."""
        if not self.lib.TIFFSetField(ctypes.c_void_p(tif), ctypes.c_uint32(tag), ctypes.c_double(value)):
            raise FaxTiffError(f"cannot set TIFF tag {tag}: {self.take_error()}")

    def set_text(self, tif: int, tag: int, value: str) -> None:
        """TIFFSetField for ASCII tags."""
        data = value.encode("ascii", "replace").replace(b"\x00", b" ")
        if not self.lib.TIFFSetField(ctypes.c_void_p(tif), ctypes.c_uint32(tag), ctypes.c_char_p(data)):
            raise FaxTiffError(f"cannot set TIFF tag {tag}: {self.take_error()}")

    def get_u16(self, tif: int, tag: int, default: int) -> int:
        """TIFFGetFieldDefaulted for a SHORT tag, `default` when libtiff has none either."""
        value = ctypes.c_uint16(default)
        self.lib.TIFFGetFieldDefaulted(ctypes.c_void_p(tif), ctypes.c_uint32(tag), ctypes.byref(value))
        return value.value

    def get_u32(self, tif: int, tag: int) -> int:
        """TIFFGetField for a LONG tag (0 when absent)."""
        value = ctypes.c_uint32(0)
        self.lib.TIFFGetField(ctypes.c_void_p(tif), ctypes.c_uint32(tag), ctypes.byref(value))
        return value.value

    def get_float(self, tif: int, tag: int) -> float | None:
        """TIFFGetField for a RATIONAL tag (libtiff hands out a float), None when absent."""
        value = ctypes.c_float(0.0)
        if not self.lib.TIFFGetField(ctypes.c_void_p(tif), ctypes.c_uint32(tag), ctypes.byref(value)):
            return None
        return float(value.value)

    def get_text(self, tif: int, tag: int) -> str | None:
        """TIFFGetField for an ASCII tag, None when absent."""
        value = ctypes.c_char_p()
        if not self.lib.TIFFGetField(ctypes.c_void_p(tif), ctypes.c_uint32(tag), ctypes.byref(value)):
            return None
        return (value.value or b"").decode("latin-1")

    def open(self, path: Path, mode: str) -> int:
        """TIFFOpen, raising FaxTiffError with libtiff's reason."""
        handle: int | None = self.lib.TIFFOpen(os.fsencode(path), mode.encode())
        if not handle:
            raise FaxTiffError(f"cannot open {path} as TIFF: {self.take_error()}")
        return handle


_libtiff: _LibTiff | None = None
_libtiff_lock = threading.Lock()


def _tiff() -> _LibTiff:
    """Load libtiff once per process, on first use (keeps imports cheap)."""
    global _libtiff
    with _libtiff_lock:
        if _libtiff is None:
            _libtiff = _LibTiff()
        return _libtiff


# ----------------------------------------------------------------------------------------------- writer


class FaxTiffWriter:
    """Append pages to a TIFF Class F file one at a time, so memory stays flat however long the document."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        compression: Compression = "g4",
        fine: bool = True,
        width: int = FAX_WIDTH,
        total_pages: int | None = None,
        software: str = "faxgate",
        description: str | None = None,
    ) -> None:
        if compression not in _COMPRESSION_CODES:
            raise ValueError(f"unknown compression {compression!r}")
        self.path = Path(path)
        self.compression: Compression = compression
        self.fine = fine
        self.width = width
        self.total_pages = total_pages
        self.software = software
        self.description = description
        self.pages_written = 0
        self._lib = _tiff()
        self._handle: int | None = self._lib.open(self.path, "w")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def add_page(
        self,
        bitmap: PackedBitmap,
        *,
        remote_id: str | None = None,
        yres: float | None = None,
        date_time: str | None = None,
        sub_address: str | None = None,
        recv_time_s: int | None = None,
        dcs: str | None = None,
        clean: bool = True,
        caller_id: str | None = None,
        caller_name: str | None = None,
    ) -> None:
        """Encode one packed bitmap as the next page (one strip); `remote_id` goes in ImageDescription.

        `caller_id` / `caller_name` (the line's caller ID report) go in the Artist tag as ``caller_tag``
        writes it, so the file itself says who called even once separated from the database.
        """
        if self._handle is None:
            raise FaxTiffError("writer is closed")
        rows, row_bytes = _check_bitmap(bitmap, self.width)
        lib, tif = self._lib, self._handle
        tag_code, t4_options = _COMPRESSION_CODES[self.compression]
        lib.set_int(tif, _TAG_SUBFILETYPE, _FILETYPE_PAGE)
        lib.set_int(tif, _TAG_IMAGEWIDTH, self.width)
        lib.set_int(tif, _TAG_IMAGELENGTH, rows)
        lib.set_int(tif, _TAG_BITSPERSAMPLE, 1)
        lib.set_int(tif, _TAG_SAMPLESPERPIXEL, 1)
        lib.set_int(tif, _TAG_COMPRESSION, tag_code)
        if t4_options is not None:
            lib.set_int(tif, _TAG_T4OPTIONS, t4_options)
        else:
            lib.set_int(tif, _TAG_T6OPTIONS, 0)
        lib.set_int(tif, _TAG_PHOTOMETRIC, _PHOTOMETRIC_MINISWHITE)
        lib.set_int(tif, _TAG_FILLORDER, 1)
        lib.set_int(tif, _TAG_ORIENTATION, 1)
        lib.set_int(tif, _TAG_PLANARCONFIG, 1)
        lib.set_int(tif, _TAG_ROWSPERSTRIP, rows)
        lib.set_float(tif, _TAG_XRESOLUTION, FAX_XRES)
        page_yres = yres if yres is not None else (FINE_YRES if self.fine else STANDARD_YRES)
        lib.set_float(tif, _TAG_YRESOLUTION, page_yres)
        lib.set_int(tif, _TAG_RESOLUTIONUNIT, 2)
        # Total unknown until close(); 0 means "unknown" and close() patches the real count in place.
        lib.set_int(tif, _TAG_PAGENUMBER, self.pages_written, self.total_pages or 0)
        lib.set_int(tif, _TAG_CLEANFAXDATA, 0 if clean else 1)
        lib.set_text(tif, _TAG_SOFTWARE, self.software)
        description = remote_id if remote_id is not None else self.description
        if description:
            lib.set_text(tif, _TAG_IMAGEDESCRIPTION, description)
        if date_time:
            lib.set_text(tif, _TAG_DATETIME, date_time)
        if sub_address:
            lib.set_text(tif, _TAG_FAXSUBADDRESS, sub_address)
        if recv_time_s is not None:
            lib.set_int(tif, _TAG_FAXRECVTIME, recv_time_s)
        if dcs:
            lib.set_text(tif, _TAG_FAXDCS, dcs)
        artist = caller_tag(caller_id, caller_name)
        if artist:
            lib.set_text(tif, _TAG_ARTIST, artist)
        data = np.ascontiguousarray(bitmap, dtype=np.uint8)
        written = lib.lib.TIFFWriteEncodedStrip(
            ctypes.c_void_p(tif), 0, data.ctypes.data_as(ctypes.c_void_p), rows * row_bytes
        )
        if written < 0:
            raise FaxTiffError(f"cannot encode page {self.pages_written + 1}: {lib.take_error()}")
        if not lib.lib.TIFFWriteDirectory(ctypes.c_void_p(tif)):
            raise FaxTiffError(f"cannot write page {self.pages_written + 1}: {lib.take_error()}")
        self.pages_written += 1

    def close(self) -> None:
        """Finish the file; fill in the page total of every PageNumber tag if it was not known up front."""
        if self._handle is None:
            return
        self._lib.lib.TIFFClose(ctypes.c_void_p(self._handle))
        self._handle = None
        if self.total_pages is None and self.pages_written:
            _patch_page_totals(self.path, self.pages_written)


def _tag_value(value: str) -> str:
    """One line of printable text, so a hostile caller name cannot forge another field."""
    return "".join(ch if ch.isprintable() else " " for ch in value).strip()


def caller_tag(caller_id: str | None, caller_name: str | None) -> str:
    """The Artist tag text for a caller: ``NMBR=<number>`` and ``NAME=<name>`` lines, as modems report them."""
    lines = [f"{key}={_tag_value(value)}" for key, value in (("NMBR", caller_id), ("NAME", caller_name)) if value]
    return "\n".join(lines)


def parse_caller_tag(text: str | None) -> tuple[str | None, str | None]:
    """(caller ID, caller name) from an Artist tag that ``caller_tag`` wrote; (None, None) for any other text."""
    fields: dict[str, str] = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition("=")
        if not sep or key not in ("NMBR", "NAME"):
            return None, None
        fields[key] = value
    return fields.get("NMBR"), fields.get("NAME")


def write_fax_tiff(
    path: str | os.PathLike[str],
    bitmaps: Iterable[PackedBitmap],
    *,
    compression: Compression = "g4",
    fine: bool = True,
    width: int = FAX_WIDTH,
) -> int:
    """Write all `bitmaps` as one fax TIFF, streaming; returns the page count."""
    with FaxTiffWriter(path, compression=compression, fine=fine, width=width) as writer:
        for bitmap in bitmaps:
            writer.add_page(bitmap)
        return writer.pages_written


def _check_bitmap(bitmap: PackedBitmap, width: int) -> tuple[int, int]:
    """Validate a packed bitmap against the page width; returns (rows, bytes per row)."""
    if bitmap.ndim != 2 or bitmap.dtype != np.uint8:
        raise ValueError(f"packed bitmap must be 2-D uint8, got {bitmap.dtype} {bitmap.shape}")
    rows, row_bytes = bitmap.shape
    if row_bytes != (width + 7) // 8:
        raise ValueError(f"bitmap has {row_bytes} bytes per row, page width {width} needs {(width + 7) // 8}")
    if rows < 1:
        raise ValueError("bitmap has no rows")
    return int(rows), int(row_bytes)


def _patch_page_totals(path: Path, total: int) -> None:
    """Write the page total into each IFD's PageNumber entry (inline SHORT[2]), touching a few bytes only."""
    with path.open("r+b") as fh:
        header = fh.read(8)
        order = "<" if header[:2] == b"II" else ">"
        (offset,) = struct.unpack(order + "I", header[4:8])
        seen: set[int] = set()
        while offset and offset not in seen:
            seen.add(offset)
            fh.seek(offset)
            (count,) = struct.unpack(order + "H", fh.read(2))
            entries = fh.read(12 * count)
            (next_offset,) = struct.unpack(order + "I", fh.read(4))
            for i in range(count):
                tag, kind, n = struct.unpack(order + "HHI", entries[12 * i : 12 * i + 8])
                if tag == _TAG_PAGENUMBER and kind == 3 and n == 2:
                    fh.seek(offset + 2 + 12 * i + 10)
                    fh.write(struct.pack(order + "H", total))
            offset = next_offset


# ----------------------------------------------------------------------------------------------- reader


def _page_info(lib: _LibTiff, tif: int) -> FaxPageInfo:
    """Collect the tags of the current directory."""
    handle = ctypes.c_void_p(tif)
    unit = lib.get_u16(tif, _TAG_RESOLUTIONUNIT, 2)
    scale = 2.54 if unit == _RESUNIT_CM else 1.0
    xres = lib.get_float(tif, _TAG_XRESOLUTION)
    yres = lib.get_float(tif, _TAG_YRESOLUTION)
    tiled = bool(lib.lib.TIFFIsTiled(handle))
    return FaxPageInfo(
        width=lib.get_u32(tif, _TAG_IMAGEWIDTH),
        rows=lib.get_u32(tif, _TAG_IMAGELENGTH),
        xres=xres * scale if xres else FAX_XRES,
        yres=yres * scale if yres else STANDARD_YRES,
        bits_per_sample=lib.get_u16(tif, _TAG_BITSPERSAMPLE, 1),
        samples_per_pixel=lib.get_u16(tif, _TAG_SAMPLESPERPIXEL, 1),
        compression=lib.get_u16(tif, _TAG_COMPRESSION, _COMPRESSION_NONE),
        photometric=lib.get_u16(tif, _TAG_PHOTOMETRIC, _PHOTOMETRIC_MINISWHITE),
        fill_order=lib.get_u16(tif, _TAG_FILLORDER, 1),
        strips=int(lib.lib.TIFFNumberOfTiles(handle) if tiled else lib.lib.TIFFNumberOfStrips(handle)),
        tiled=tiled,
    )


def _decode_page(lib: _LibTiff, tif: int, info: FaxPageInfo, index: int) -> PackedBitmap:
    """Decode the current directory into a packed bitmap, black = 1 whatever the photometric."""
    if info.bits_per_sample != 1 or info.samples_per_pixel != 1:
        raise FaxTiffError(
            f"page {index + 1} is not bilevel ({info.samples_per_pixel} x {info.bits_per_sample}-bit samples)"
        )
    if info.width < 1 or info.rows < 1:
        raise FaxTiffError(f"page {index + 1} has no pixels")
    handle = ctypes.c_void_p(tif)
    row_bytes = (info.width + 7) // 8
    bitmap = np.zeros((info.rows, row_bytes), dtype=np.uint8)
    if info.tiled:
        _decode_tiles(lib, tif, info, bitmap, index)
    else:
        total = info.rows * row_bytes
        strip_bytes = int(lib.lib.TIFFStripSize64(handle))
        flat = bitmap.reshape(-1)
        done = 0
        for strip in range(info.strips):
            if done >= total:
                break
            want = min(strip_bytes, total - done)
            got = lib.lib.TIFFReadEncodedStrip(
                handle, strip, ctypes.c_void_p(flat.ctypes.data + done), want
            )
            if got < 0:
                raise FaxTiffError(f"page {index + 1} is damaged: {lib.take_error()}")
            done += int(got)
    if info.photometric == _PHOTOMETRIC_MINISBLACK:
        np.invert(bitmap, out=bitmap)
        if info.width % 8:
            bitmap[:, -1] &= np.uint8((0xFF << (8 - info.width % 8)) & 0xFF)
    elif info.photometric != _PHOTOMETRIC_MINISWHITE:
        raise FaxTiffError(f"page {index + 1} has unsupported photometric interpretation {info.photometric}")
    return bitmap


def _decode_tiles(lib: _LibTiff, tif: int, info: FaxPageInfo, bitmap: PackedBitmap, index: int) -> None:
    """Decode a tiled bilevel page (tile widths are multiples of 16, so tiles start on byte boundaries)."""
    handle = ctypes.c_void_p(tif)
    tile_w = lib.get_u32(tif, 322)
    tile_h = lib.get_u32(tif, 323)
    tile_row_bytes = (tile_w + 7) // 8
    tile = np.zeros((tile_h, tile_row_bytes), dtype=np.uint8)
    across = (info.width + tile_w - 1) // tile_w
    row_bytes = bitmap.shape[1]
    for number in range(info.strips):
        if lib.lib.TIFFReadEncodedTile(handle, number, tile.ctypes.data_as(ctypes.c_void_p), tile.nbytes) < 0:
            raise FaxTiffError(f"page {index + 1} is damaged: {lib.take_error()}")
        top = (number // across) * tile_h
        left = (number % across) * tile_row_bytes
        if top >= info.rows:
            continue
        rows = min(tile_h, info.rows - top)
        cols = min(tile_row_bytes, row_bytes - left)
        bitmap[top : top + rows, left : left + cols] = tile[:rows, :cols]


def read_fax_tiff(path: str | os.PathLike[str]) -> Iterator[FaxPage]:
    """Yield the pages of any bilevel TIFF (G3 1D/2D, G4, uncompressed, either photometric or fill order)."""
    lib = _tiff()
    tif = lib.open(Path(path), "r")
    try:
        index = 0
        while True:
            info = _page_info(lib, tif)
            bitmap = _decode_page(lib, tif, info, index)
            caller_id, caller_name = parse_caller_tag(lib.get_text(tif, _TAG_ARTIST))
            yield FaxPage(
                bitmap=bitmap,
                width=info.width,
                rows=info.rows,
                xres=info.xres,
                yres=info.yres,
                remote_id=lib.get_text(tif, _TAG_IMAGEDESCRIPTION),
                caller_id=caller_id,
                caller_name=caller_name,
                sub_address=lib.get_text(tif, _TAG_FAXSUBADDRESS),
            )
            index += 1
            if not lib.lib.TIFFReadDirectory(ctypes.c_void_p(tif)):
                break
    finally:
        lib.lib.TIFFClose(ctypes.c_void_p(tif))


def fax_tiff_info(path: str | os.PathLike[str]) -> list[FaxPageInfo]:
    """Tags of every page without decoding any pixels."""
    lib = _tiff()
    tif = lib.open(Path(path), "r")
    try:
        pages = [_page_info(lib, tif)]
        while lib.lib.TIFFReadDirectory(ctypes.c_void_p(tif)):
            pages.append(_page_info(lib, tif))
        return pages
    finally:
        lib.lib.TIFFClose(ctypes.c_void_p(tif))


def count_pages(path: str | os.PathLike[str]) -> int:
    """Number of pages (directories) in a TIFF file."""
    lib = _tiff()
    tif = lib.open(Path(path), "r")
    try:
        return int(lib.lib.TIFFNumberOfDirectories(ctypes.c_void_p(tif)))
    finally:
        lib.lib.TIFFClose(ctypes.c_void_p(tif))


def is_fax_ready(path: str | os.PathLike[str]) -> bool:
    """True when every page of the file can be sent as it is."""
    try:
        return all(page.fax_ready for page in fax_tiff_info(path))
    except FaxTiffError:
        return False
