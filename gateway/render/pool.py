"""Render worker processes, so conversion never blocks the event loop, and a document that crashes, hangs or
swells takes down one sandboxed worker (LibreOffice included), not the server nor the documents behind it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import json
import logging
import os
import pickle
import shutil
import signal
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from gateway.render.errors import RenderError, RenderErrorCode
from gateway.render.options import CoverRequest, InputDocument, RenderOptions, RenderResult
from gateway.render.sandbox import SandboxLimits
from gateway.render.worker import frame

if TYPE_CHECKING:
    from gateway.config.render import RenderSection

log = logging.getLogger("faxgate.render")

DEFAULT_LIMITS = SandboxLimits(memory_bytes=2 << 30, cpu_seconds=30, wall_seconds=45.0)


class _ReplyUnpickler(pickle.Unpickler):
    """Replies come from a process that handled hostile input: only results and errors are rebuilt from them."""

    _ALLOWED = frozenset({
        ("gateway.render.options", "RenderResult"), ("gateway.render.options", "DocumentPages"),
        ("gateway.render.errors", "_rebuild"), ("pathlib", "PosixPath"),
    })

    def find_class(self, module: str, name: str) -> Any:
        """Refuse every class that is not part of a render reply."""
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a render reply")
        return super().find_class(module, name)


class _Worker:
    """One sandboxed worker process, leader of its own process group (its LibreOffice runs in that group)."""

    def __init__(self, proc: asyncio.subprocess.Process, scratch: Path) -> None:
        self.proc = proc
        self.scratch = scratch
        self.jobs = 0

    @classmethod
    async def start(cls, limits: SandboxLimits, workdir: Path | None) -> _Worker:
        """Spawn from the event loop's thread (the worker dies with this thread, by PR_SET_PDEATHSIG)."""
        scratch = Path(tempfile.mkdtemp(prefix="faxgate-worker-", dir=workdir))
        env = {**os.environ, "TMPDIR": str(scratch)}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway.render.worker", str(os.getpid()), json.dumps(dataclasses.asdict(limits)),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env, start_new_session=True,
            limit=1 << 20,
        )
        worker = cls(proc, scratch)
        try:
            kind, pid, warning = await asyncio.wait_for(worker.receive(), 120.0)
        except BaseException:
            await worker.kill()
            raise
        if warning:
            log.warning("render.sandbox_degraded: %s", warning)
        assert kind == "ready" and pid == proc.pid
        return worker

    async def receive(self) -> Any:
        """One reply; IncompleteReadError when the worker died."""
        assert self.proc.stdout is not None
        header = await self.proc.stdout.readexactly(4)
        body = await self.proc.stdout.readexactly(int.from_bytes(header, "big"))
        try:
            return _ReplyUnpickler(io.BytesIO(body)).load()
        except (pickle.UnpicklingError, EOFError, TypeError, ValueError, AttributeError) as exc:
            raise ConnectionError("the render worker sent a reply it has no business sending") from exc

    async def call(self, job: tuple[Any, ...]) -> Any:
        """Send one job and wait for its reply."""
        assert self.proc.stdin is not None
        self.jobs += 1
        self.proc.stdin.write(frame(job))
        await self.proc.stdin.drain()
        return await self.receive()

    async def kill(self) -> int:
        """SIGKILL the whole process group (worker, LibreOffice bridge, soffice) and reap the worker."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        code = await self.proc.wait()
        shutil.rmtree(self.scratch, ignore_errors=True)
        return code

    async def stop(self, grace: float = 5.0) -> None:
        """Close the job pipe (the worker stops its LibreOffice and exits), then sweep the group anyway."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.proc.wait(), grace)
        await self.kill()


class RenderPool:
    """A few long-lived sandboxed render processes; one is replaced whenever a document breaks a limit."""

    def __init__(
        self,
        workers: int = 2,
        *,
        workdir: Path | None = None,
        max_tasks_per_child: int | None = 500,
        limits: SandboxLimits = DEFAULT_LIMITS,
    ) -> None:
        self.workers = workers
        self.workdir = workdir
        self.limits = limits
        self._max_tasks = max_tasks_per_child
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._slots = asyncio.Semaphore(workers)
        self._closed = False

    @classmethod
    def configured(cls, section: RenderSection, workdir: Path | None) -> RenderPool:
        """A pool with the [render] section's worker count and limits."""
        limits = SandboxLimits(memory_bytes=section.memory, cpu_seconds=max(1, round(section.cpu_time.total_seconds())),
                               wall_seconds=section.timeout.total_seconds())
        return cls(section.workers, workdir=workdir, limits=limits)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def warm(self) -> list[int]:
        """Start every worker now (imports done) rather than on the first job; returns their pids."""
        while len(self._idle) + len(self._busy) < self.workers:
            self._idle.append(await _Worker.start(self.limits, self.workdir))
        return [worker.proc.pid for worker in self._idle]

    async def _run(self, job: tuple[Any, ...]) -> RenderResult:
        """One job on an idle worker under the wall-clock limit; the worker is killed and replaced on any breach."""
        if self._closed:
            raise RenderError(RenderErrorCode.WORKER_CRASHED, "The fax server is shutting down.")
        async with self._slots:
            worker = self._idle.pop() if self._idle else await _Worker.start(self.limits, self.workdir)
            self._busy.add(worker)
            healthy = False
            try:
                status, value = await asyncio.wait_for(worker.call(job), self.limits.wall_seconds)
                healthy = True
            except TimeoutError:
                raise self._refusal(RenderErrorCode.TIME_LIMIT) from None
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                code = await worker.kill()
                raise self._refusal_for_exit(code) from exc
            finally:
                self._busy.discard(worker)
                if not healthy:
                    await worker.kill()
                elif self._closed or (self._max_tasks is not None and worker.jobs >= self._max_tasks):
                    await worker.stop()
                else:
                    self._idle.append(worker)
        if status == "error":
            assert isinstance(value, RenderError)
            raise value
        assert isinstance(value, RenderResult)
        return value

    def _refusal_for_exit(self, code: int) -> RenderError:
        """Why a worker died, from its exit status."""
        if code == -signal.SIGXCPU:
            return self._refusal(RenderErrorCode.CPU_LIMIT)
        if code == -signal.SIGKILL:  # not ours: the kernel's out-of-memory killer
            return self._refusal(RenderErrorCode.MEMORY_LIMIT)
        return RenderError(RenderErrorCode.WORKER_CRASHED, "The document made the converter crash; it cannot be faxed.")

    def _refusal(self, code: RenderErrorCode) -> RenderError:
        """The plain reason for a broken limit."""
        limits = self.limits
        reasons = {
            RenderErrorCode.TIME_LIMIT: f"The document took longer than {limits.wall_seconds:.0f} seconds to "
                                        "convert, the most this fax server allows; it cannot be faxed.",
            RenderErrorCode.CPU_LIMIT: f"The document needed more than {limits.cpu_seconds} seconds of computing "
                                       "time to convert, the most this fax server allows; it cannot be faxed.",
            RenderErrorCode.MEMORY_LIMIT: f"The document needs more than {limits.memory_bytes >> 20} MiB of memory "
                                          "to convert, the most this fax server allows; it cannot be faxed.",
        }
        return RenderError(code, reasons[code])

    async def render(
        self, inputs: list[InputDocument], options: RenderOptions, out: Path | None = None
    ) -> RenderResult:
        """Render `inputs` to a TIFF Class F file (`out`, or a new temporary file the caller owns)."""
        if out is None:
            handle, name = tempfile.mkstemp(suffix=".tif", dir=self.workdir)
            os.close(handle)
            out = Path(name)
        try:
            return await self._run(("render", inputs, out, options))
        except BaseException:
            out.unlink(missing_ok=True)
            raise

    async def render_cover(
        self, template: str, fields: Mapping[str, str], options: RenderOptions, out: Path | None = None,
        *, body: Path | None = None,
    ) -> RenderResult:
        """A cover page, followed by the pages of the fax file `body` if given (merged page by page in a worker)."""
        cover_options = dataclasses.replace(options, cover=CoverRequest(template, dict(fields)))
        if body is None:
            return await self.render([], cover_options, out)
        if out is None:
            raise ValueError("a merged cover needs an output path")
        try:
            return await self._run(("cover", body, out, cover_options))
        except BaseException:
            out.unlink(missing_ok=True)  # noqa: ASYNC240 - one unlink of a local file
            raise

    async def close(self) -> None:
        """Stop the workers and everything they started; busy ones are killed at once."""
        self._closed = True
        idle, self._idle = self._idle, []
        busy = list(self._busy)
        await asyncio.gather(*(worker.stop() for worker in idle), *(worker.kill() for worker in busy))
