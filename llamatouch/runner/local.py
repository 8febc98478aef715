"""The default executor: episodes in worker processes on this machine.

Each worker is a process started with ``spawn`` (a fresh interpreter: no inherited locks,
threads or model state) that holds one :class:`~llamatouch.runner.worker.EpisodeWorker` and
talks to the driver over a pipe: the driver sends one :class:`EpisodeWork` at a time and gets
back ``("done", EpisodeOutcome)`` or ``("error", message)``.

A worker that dies (its pipe closes) costs the item it held one attempt
(:func:`~llamatouch.runner.executor.after_worker_death`) and is replaced by a fresh process.
Workers die with the driver: on Linux they ask the kernel for a parent-death signal
(``prctl(PR_SET_PDEATHSIG, SIGTERM)``), and everywhere a watchdog thread notices a changed
parent pid; on ``SIGTERM`` a worker closes its devices (private adb servers) and exits, and
``os._exit`` follows if that takes more than a few seconds.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from llamatouch.procutil import describe_exit, die_with_parent
from llamatouch.redact import install_log_redaction
from llamatouch.runner.executor import Executor, WorkerError, after_worker_death
from llamatouch.runner.work import EpisodeOutcome, EpisodeWork
from llamatouch.runner.worker import EpisodeWorker, WorkerContext

log = logging.getLogger(__name__)

#: Seconds a worker has to clean up after SIGTERM before it is ended hard.
EXIT_GRACE_S = 10.0


class LocalProcessExecutor(Executor):
    """Runs episodes in ``len(context.device_specs)`` worker processes on this machine.

    Args:
        start_method: ``"spawn"`` (default) or ``"forkserver"``; never ``"fork"`` (a forked
            copy of a driver with threads and native libraries is not safe).
        stop_timeout_s: how long workers get to finish cleanly when the run ends or is
            interrupted before they are terminated.
    """

    def __init__(self, start_method: str = "spawn", stop_timeout_s: float = EXIT_GRACE_S) -> None:
        if start_method not in ("spawn", "forkserver"):
            raise ValueError(f"start_method must be 'spawn' or 'forkserver', not {start_method!r}")
        self.start_method = start_method
        self.stop_timeout_s = stop_timeout_s

    def run(
        self, work: Sequence[EpisodeWork], context: WorkerContext
    ) -> Iterator[EpisodeOutcome]:
        ctx = mp.get_context(self.start_method)
        pending: deque[EpisodeWork] = deque(work)
        procs: list[_Proc | None] = [None] * len(context.device_specs)
        try:
            while pending or any(p is not None and p.item is not None for p in procs):
                for i, p in enumerate(procs):
                    if pending and (p is None or p.item is None):
                        procs[i] = p = p or _Proc.start(ctx, context, i)
                        p.give(pending.popleft())
                busy = [p for p in procs if p is not None and p.item is not None]
                ready = set(wait([p.conn for p in busy] + [p.process.sentinel for p in busy]))
                for p in busy:
                    if p.conn not in ready and p.process.sentinel not in ready:
                        continue
                    outcome = self._collect(p, procs, context, pending)
                    if outcome is not None:
                        yield outcome
        finally:
            _stop_all([p for p in procs if p is not None], self.stop_timeout_s)

    def _collect(
        self,
        p: _Proc,
        procs: list[_Proc | None],
        context: WorkerContext,
        pending: deque[EpisodeWork],
    ) -> EpisodeOutcome | None:
        item = p.item
        assert item is not None
        msg = p.receive()
        if msg is not None:
            kind, payload = msg
            if kind == "error":
                raise WorkerError(f"worker {p.index}: {payload}")
            p.item = None
            assert isinstance(payload, EpisodeOutcome)
            return payload
        # the pipe closed: the worker died with the item in hand
        p.process.join(timeout=5)
        death = describe_exit(p.process.exitcode)
        p.conn.close()
        procs[p.index] = None  # replaced by a fresh process on the next hand-out
        log.warning("worker %d %s while running %s", p.index, death, item.spec.episode_id)
        follow = after_worker_death(item, context, death)
        if isinstance(follow, EpisodeWork):
            pending.appendleft(follow)
            return None
        return follow


@dataclass(slots=True)
class _Proc:
    """A worker process seen from the driver."""

    index: int
    process: BaseProcess
    conn: Connection
    item: EpisodeWork | None = None

    @classmethod
    def start(cls, ctx: Any, context: WorkerContext, index: int) -> _Proc:
        parent_end, child_end = ctx.Pipe(duplex=True)
        spawn = ctx.get_start_method() == "spawn"
        process = ctx.Process(
            target=_worker_main,
            args=(child_end, context, index, os.getpid() if spawn else 0, _log_level()),
            name=f"llamatouch-eval-worker-{index}",
            daemon=True,
        )
        try:
            process.start()  # pickles the context: its factories must be importable callables
        except (pickle.PicklingError, AttributeError, TypeError) as exc:
            parent_end.close()
            raise WorkerError(
                f"worker {index}: the run's agent/device factory cannot be sent to a worker "
                f"process ({exc}); use a module-level callable, or InProcessExecutor"
            ) from exc
        finally:
            child_end.close()
        return cls(index, process, parent_end)

    def give(self, item: EpisodeWork) -> None:
        self.item = item
        # a worker already dead: its sentinel tells, and the item counts as crashed
        with contextlib.suppress(OSError):
            self.conn.send(item)

    def receive(self) -> tuple[str, object] | None:
        """The worker's message, or ``None`` when its pipe closed (it died)."""
        try:
            if not self.conn.poll():
                return None if not self.process.is_alive() else self._wait_message()
            msg = self.conn.recv()
        except (EOFError, OSError):
            return None
        return msg if isinstance(msg, tuple) else None

    def _wait_message(self) -> tuple[str, object] | None:
        # the sentinel fired but the pipe is empty and the process still looks alive: give the
        # exit a moment to complete, then decide
        self.process.join(timeout=5)
        try:
            if self.conn.poll():
                msg = self.conn.recv()
                return msg if isinstance(msg, tuple) else None
        except (EOFError, OSError):
            pass
        return None


def _stop_all(procs: list[_Proc], timeout_s: float) -> None:
    """Ask every worker to stop (a ``None`` item), then SIGTERM, then SIGKILL the stragglers."""
    for p in procs:
        with contextlib.suppress(OSError, ValueError):
            if p.item is None:
                p.conn.send(None)
            else:
                p.process.terminate()  # SIGTERM: it closes its devices and exits
    deadline = time.monotonic() + timeout_s
    for p in procs:
        p.process.join(timeout=max(0.0, deadline - time.monotonic()))
        if p.process.is_alive():
            p.process.terminate()
            p.process.join(timeout=2)
        if p.process.is_alive():
            p.process.kill()
            p.process.join(timeout=2)
        with contextlib.suppress(OSError):
            p.conn.close()


# -- inside the worker process -------------------------------------------------------------
def _log_level() -> int:
    return logging.getLogger().getEffectiveLevel()


def _worker_main(
    conn: Connection, context: WorkerContext, index: int, parent_pid: int, log_level: int
) -> None:
    """A worker's life: take items until told to stop (``None``) or the driver goes away."""
    _die_with_parent(parent_pid)
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s")
    install_log_redaction()  # no log line carries a key or URL credentials
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    worker = EpisodeWorker(context, index)
    try:
        while True:
            item = conn.recv()
            if item is None:
                return
            try:
                outcome = worker.run(item)
            except Exception as exc:  # a bug outside the episode's accounting: stop the run
                tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
                log.error("worker %d: %s", index, tb)
                conn.send(("error", f"{type(exc).__name__}: {exc}"))
                return
            conn.send(("done", outcome))
    except (EOFError, OSError, KeyboardInterrupt, SystemExit):
        return
    finally:
        worker.close()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    hard = threading.Timer(EXIT_GRACE_S, os._exit, args=(128 + signum,))
    hard.daemon = True
    hard.start()
    raise SystemExit(128 + signum)


def _die_with_parent(parent_pid: int) -> None:
    """Make this process die when the driver does (even when the driver is SIGKILLed).

    ``parent_pid``: the driver's pid when it started this process directly (spawn), else 0.
    """
    if sys.platform.startswith("linux") and not die_with_parent(signal.SIGTERM):
        log.warning("no parent-death signal: the watch thread alone ends this worker")
    watched = os.getppid()  # the driver (spawn) or the fork server (which dies with it)
    if parent_pid and watched != parent_pid:  # the driver died before we got here
        os._exit(1)

    def watch() -> None:
        while os.getppid() == watched:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(EXIT_GRACE_S)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
