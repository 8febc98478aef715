"""Child processes that die with their parent, and what a child's exit code means.

One home for what the runner's workers, the scoring workers, the virtual device's private
adb server and its model server each did with their own copy of ``prctl``.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

#: ``prctl`` option number of ``PR_SET_PDEATHSIG`` (linux/prctl.h).
PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM, parent: int = 0) -> bool:
    """Ask the kernel to send this process ``sig`` when its parent ends (Linux only).

    ``parent``: the pid the caller expects as its parent; when given and the parent is
    already another process (it died before the request took effect), this process exits
    at once. Returns whether the kernel took the request (``False`` off Linux or on a libc
    without ``prctl``; callers that must not outlive their parent then watch
    ``os.getppid()`` themselves).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        ok: bool = libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):  # pragma: no cover - exotic libc
        return False
    if parent and os.getppid() != parent:
        os._exit(1)
    return ok


def describe_exit(exitcode: int | None) -> str:
    """``"killed by signal SIGSEGV (11)"`` / ``"exited with code 3"`` for a process's exit code
    (negative: the signal that killed it, as :mod:`multiprocessing` reports it)."""
    if exitcode is None:
        return "vanished (exit status unknown)"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"killed by signal {name} ({-exitcode})"
    return f"exited with code {exitcode}"
