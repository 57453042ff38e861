"""Render worker processes, so conversion never blocks the event loop and a crash in MuPDF or LibreOffice
takes down a worker, not the server."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import tempfile
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from types import TracebackType
from typing import Self

from gateway.render.errors import RenderError, RenderErrorCode
from gateway.render.options import CoverRequest, InputDocument, RenderOptions, RenderResult


def _warm_worker() -> None:
    """Pay the imports (PyMuPDF, libtiff) once per worker, before the first job."""
    from gateway.render.pdf import load_pymupdf
    from gateway.render.pipeline import keep_page_buffers
    from modem.faxtiff import count_pages

    keep_page_buffers()
    load_pymupdf()
    del count_pages


def _render_job(inputs: list[InputDocument], out: Path, options: RenderOptions) -> RenderResult:
    """Entry point inside the worker."""
    from gateway.render.pipeline import render_documents

    return render_documents(inputs, out, options)


def _ping() -> int:
    """A no-op job to start and warm a worker."""
    return os.getpid()


class RenderPool:
    """A small pool of long-lived render processes (one per core is right: rendering is CPU-bound)."""

    def __init__(
        self, workers: int = 2, *, workdir: Path | None = None, max_tasks_per_child: int | None = 500
    ) -> None:
        self.workers = workers
        self.workdir = workdir
        self._max_tasks = max_tasks_per_child
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        """Workers are spawned, not forked: the parent runs an event loop and threads."""
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_warm_worker,
            max_tasks_per_child=self._max_tasks,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def warm(self) -> list[int]:
        """Start every worker now (imports done) rather than on the first job; returns their pids."""
        loop = asyncio.get_running_loop()
        return list(await asyncio.gather(*(loop.run_in_executor(self._executor, _ping) for _ in range(self.workers))))

    async def render(
        self, inputs: list[InputDocument], options: RenderOptions, out: Path | None = None
    ) -> RenderResult:
        """Render `inputs` to a TIFF Class F file (`out`, or a new temporary file the caller owns)."""
        if out is None:
            handle, name = tempfile.mkstemp(suffix=".tif", dir=self.workdir)
            os.close(handle)
            out = Path(name)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, _render_job, inputs, out, options)
        except BrokenProcessPool as exc:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()
            out.unlink(missing_ok=True)
            raise RenderError(
                RenderErrorCode.WORKER_CRASHED, "The document made the converter crash; it cannot be faxed."
            ) from exc

    async def render_cover(
        self, template: str, fields: Mapping[str, str], options: RenderOptions, out: Path | None = None
    ) -> RenderResult:
        """Only a cover page (a fax that is just a cover note)."""
        cover_options = _with_cover(options, CoverRequest(template, dict(fields)))
        return await self.render([], cover_options, out)

    async def close(self) -> None:
        """Stop the workers (their LibreOffice listeners stop with them)."""
        await asyncio.to_thread(self._executor.shutdown, True, cancel_futures=True)


def _with_cover(options: RenderOptions, cover: CoverRequest) -> RenderOptions:
    """A copy of the options with a cover request."""
    from dataclasses import replace

    return replace(options, cover=cover)
