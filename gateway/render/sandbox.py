"""The render worker's cage: no network, operating-system limits on memory and CPU time, death with its parent.

Runs first thing in a render worker, before numpy or PyMuPDF start threads (a user namespace can only be
entered by a single-threaded process). Imports nothing heavy on purpose.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
import signal
from dataclasses import dataclass

_CLONE_NEWNET = 0x40000000
_CLONE_NEWUSER = 0x10000000
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    """What one render may use; every figure is enforced by the kernel, not by counting."""

    memory_bytes: int
    cpu_seconds: int
    wall_seconds: float


def _libc() -> ctypes.CDLL:
    """The C library, with errno kept for error messages."""
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def die_with_parent(parent_pid: int) -> None:
    """Be killed when the server dies (even by SIGKILL), so no worker is ever orphaned at 100% CPU."""
    if _libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _write(path: str, text: str) -> None:
    """Write a /proc file in one call (uid_map accepts exactly one write)."""
    with open(path, "w", encoding="ascii") as handle:
        handle.write(text)


def leave_network() -> str:
    """Enter a new network namespace with only a down loopback: nothing can be fetched, not even from localhost.

    Root (or CAP_SYS_ADMIN) enters one directly; an ordinary user through an unprivileged user namespace that
    maps only its own uid and gid. Returns "" on success, otherwise why it was not possible.
    """
    libc = _libc()
    if libc.unshare(_CLONE_NEWNET) == 0:
        return ""
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) != 0:
        return os.strerror(ctypes.get_errno())
    try:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    except OSError as exc:
        return f"user namespace without id maps: {exc.strerror}"
    return ""


def limit_memory(limit_bytes: int) -> None:
    """Cap the address space of this process and of everything it starts (LibreOffice included)."""
    resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))


def limit_cpu_for_next_job(seconds: int) -> None:
    """Let the next job use `seconds` of CPU time from now on; the kernel sends SIGXCPU (which kills) past it."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = int(usage.ru_utime + usage.ru_stime) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = used + seconds
    if hard != resource.RLIM_INFINITY and soft > hard:
        soft = hard
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def enter_sandbox(parent_pid: int, limits: SandboxLimits) -> str:
    """Everything above, in the order that works; returns a warning when the network could not be cut off."""
    die_with_parent(parent_pid)
    problem = leave_network()
    warning = ""
    if problem:
        warning = (f"render workers could not get a private network namespace ({problem}); LibreOffice's own "
                   "settings still block linked content")
    limit_memory(limits.memory_bytes)
    return warning
