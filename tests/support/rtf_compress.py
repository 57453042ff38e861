"""An [MS-OXRTFCP] LZFu compressor, the counterpart of gateway.intake.rtf.decompress_rtf: tests build Outlook
winmail.dat fixtures with it (faxgate itself only ever decompresses)."""

from __future__ import annotations

import struct

from gateway.intake.rtf import (
    COMPRESSED,
    DICTIONARY_SIZE,
    INITIAL_DICTIONARY,
    MAX_MATCH,
    UNCOMPRESSED,
    rtf_crc,
)


def compress_rtf(data: bytes, *, compressed: bool = True) -> bytes:
    """RTF bytes to PR_RTF_COMPRESSED: LZFu with the longest dictionary match per token, or 'MELA' when not
    `compressed`."""
    if not compressed:
        return struct.pack("<IIII", len(data) + 12, len(data), UNCOMPRESSED, 0) + data
    contents = _deflate(data)
    return struct.pack("<IIII", len(contents) + 12, len(data), COMPRESSED, rtf_crc(contents)) + contents


def _deflate(data: bytes) -> bytes:
    """Greedy LZFu: each token is the longest match the decompressor's dictionary will hold, else a literal."""
    dictionary = bytearray(DICTIONARY_SIZE)
    dictionary[:len(INITIAL_DICTIONARY)] = INITIAL_DICTIONARY
    write = len(INITIAL_DICTIONARY)
    filled = len(INITIAL_DICTIONARY)
    out = bytearray()
    run: list[bytes] = []
    control = 0
    pos = 0
    while True:
        if pos >= len(data):
            control |= 1 << len(run)
            run.append(struct.pack(">H", write << 4))  # a reference to the write position ends the stream
            out.append(control)
            out.extend(b"".join(run))
            return bytes(out)
        offset, length = _longest_match(dictionary, filled, write, data, pos)
        if length >= 2:
            control |= 1 << len(run)
            run.append(struct.pack(">H", (offset << 4) | (length - 2)))
        else:
            length = 1
            run.append(data[pos:pos + 1])
        for byte in data[pos:pos + length]:
            dictionary[write] = byte
            write = (write + 1) % DICTIONARY_SIZE
        filled = min(DICTIONARY_SIZE, filled + length)
        pos += length
        if len(run) == 8:
            out.append(control)
            out.extend(b"".join(run))
            run, control = [], 0


def _longest_match(dictionary: bytearray, filled: int, write: int, data: bytes, pos: int) -> tuple[int, int]:
    """(offset, length) of the longest match, lowest offset first; the match may run into the bytes it writes."""
    limit = min(MAX_MATCH, len(data) - pos)
    best_offset, best_length = 0, 0
    first = data[pos]
    candidate = dictionary.find(first, 0, filled)
    while candidate != -1 and best_length < limit:
        if candidate != write:
            distance = (write - candidate) % DICTIONARY_SIZE
            length = 1
            while length < limit:
                source = (dictionary[(candidate + length) % DICTIONARY_SIZE] if length < distance
                          else data[pos + length - distance])
                if source != data[pos + length]:
                    break
                length += 1
            if length > best_length:
                best_offset, best_length = candidate, length
        candidate = dictionary.find(first, candidate + 1, filled)
    return best_offset, best_length
