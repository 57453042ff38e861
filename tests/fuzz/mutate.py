"""Mutations of valid inputs: fuzzers start from something a parser accepts, then damage it, to get past the first
length or signature check into the deep code."""

from __future__ import annotations

from hypothesis import strategies as st


@st.composite
def mutated(draw: st.DrawFn, valid: st.SearchStrategy[bytes], max_edits: int = 8) -> bytes:
    """A valid input with a few bit flips, byte overwrites, insertions, deletions, cuts or duplicated slices."""
    data = bytearray(draw(valid))
    for _ in range(draw(st.integers(0, max_edits))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "cut", "repeat"]))
        at = draw(st.integers(0, len(data)))
        if kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif not data:
            continue
        elif kind == "flip":
            index = min(at, len(data) - 1)
            data[index] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            data[min(at, len(data) - 1)] = draw(st.integers(0, 255))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 16))]
        elif kind == "cut":
            del data[at:]
        else:
            size = draw(st.integers(1, 64))
            data[at:at] = data[at:at + size] * draw(st.integers(1, 8))
    return bytes(data)


def bytes_or_mutated(valid: st.SearchStrategy[bytes], max_size: int = 4096) -> st.SearchStrategy[bytes]:
    """Half plain random bytes, half damaged valid inputs."""
    return st.one_of(st.binary(max_size=max_size), mutated(valid))
