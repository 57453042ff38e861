"""One render worker process: enters the sandbox, then renders the jobs the server sends over its stdin.

Started by gateway.render.pool as `python -m gateway.render.worker PARENT_PID LIMITS_JSON`. Messages both ways
are pickles with a 4-byte length; the worker answers each job with ("ok", result) or ("error", RenderError).
Nothing heavy is imported before the sandbox is entered (numpy starts threads, which a namespace forbids).
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import sys
from typing import IO, Any

from gateway.render.sandbox import SandboxLimits, enter_sandbox, limit_cpu_for_next_job

_HEADER = struct.Struct(">I")


def read_message(stream: IO[bytes]) -> Any | None:
    """One framed pickle from the server, or None at end of input."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    return pickle.loads(stream.read(size))  # noqa: S301 - jobs come from the server that started us


def frame(message: object) -> bytes:
    """A message as length-prefixed pickle bytes (both directions use it)."""
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(body)) + body


def _run(job: tuple[Any, ...]) -> object:
    """Do one job: ("render", inputs, out, options), ("cover", body, out, options) or ("ping",)."""
    kind = job[0]
    if kind == "render":
        from gateway.render.pipeline import render_documents

        return render_documents(job[1], job[2], job[3])
    if kind == "cover":
        from gateway.render.pipeline import cover_with_body

        return cover_with_body(job[1], job[2], job[3])
    return os.getpid()


def _answer(job: tuple[Any, ...]) -> tuple[str, object]:
    """The reply for one job; every failure becomes a RenderError with a plain reason."""
    from gateway.render.errors import RenderError, RenderErrorCode

    try:
        return "ok", _run(job)
    except RenderError as exc:
        return "error", exc
    except MemoryError:
        return "error", RenderError(
            RenderErrorCode.MEMORY_LIMIT,
            "The document needs more memory to convert than this fax server allows for one document.",
        )
    except Exception:
        return "error", RenderError(RenderErrorCode.WORKER_CRASHED, "The converter failed on this document.")


def _warm() -> None:
    """Pay the imports (PyMuPDF, libtiff, WeasyPrint: 0.7 s of CPU) once, before the first job."""
    from gateway.render.htmlmail import load_weasyprint
    from gateway.render.pdf import load_pymupdf
    from gateway.render.pipeline import keep_page_buffers
    from modem.faxtiff import count_pages

    keep_page_buffers()
    load_pymupdf()
    load_weasyprint()
    del count_pages


def main() -> int:
    """Serve jobs until the server closes our stdin."""
    limits = SandboxLimits(**json.loads(sys.argv[2]))
    warning = enter_sandbox(int(sys.argv[1]), limits)
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything a library prints goes to the log, never into the reply stream
    jobs = sys.stdin.buffer
    _warm()
    replies.write(frame(("ready", os.getpid(), warning)))
    replies.flush()
    while (job := read_message(jobs)) is not None:
        limit_cpu_for_next_job(limits.cpu_seconds)
        replies.write(frame(_answer(job)))
        replies.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
