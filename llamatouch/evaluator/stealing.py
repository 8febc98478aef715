"""Run ``work(i)`` for every ``i`` in ``[0, n)`` on several processes that share the work out
as they go (work stealing); ``score --workers N`` scores traces with it.

The items are cut into one contiguous segment per worker. The calling process is worker 0
and works through its own segment while ``workers - 1`` forked processes work through
theirs, each front to back, a few items (a *chunk*) at a time. A worker whose segment is
done takes chunks from the back of the segment with the most items left. So:

* a worker mostly gets neighbouring items (for ``score``: the trials and variants of one
  task sit together and share screens, which the worker's hierarchy cache then parses
  once, where handing items out round-robin parses them in every worker);
* the workers finish within one chunk of each other, whatever the items cost;
* the calling process works instead of waiting, and its results need no pickling.

Each forked worker writes the item it is on to shared memory before working on it and
sends its results over a pipe after every chunk, encoded with :mod:`marshal` when they are
plain data (several times faster to decode than :mod:`pickle`, which is the fallback; both
ends are this interpreter). A worker that dies (a signal, the
out-of-memory killer) loses only that item, returned as :class:`Lost` naming the cause;
the items it had claimed but not sent are worked on here. A worker can even die inside a
claim, holding the lock that guards the claims: a lock held past :data:`LOCK_WAIT_S` while a
worker is dead is freed by the caller, so nothing waits on it forever. An exception inside a
worker is a bug and is raised here, as a :class:`RuntimeError` carrying the worker's
traceback.
Workers ignore Ctrl-C (the caller handles it), die with the caller on Linux, and are ended
when this returns or raises.
"""

from __future__ import annotations

import gc
import logging
import marshal
import multiprocessing
import pickle
import signal
import traceback
from collections.abc import Callable, MutableSequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.context import ForkContext, SpawnContext
from multiprocessing.process import BaseProcess
from typing import Any, Generic, TypeVar

from llamatouch.procutil import describe_exit, die_with_parent

T = TypeVar("T")

#: most items a worker claims at once (small: the workers finish within one chunk of each
#: other; large enough that claiming, at a lock and a message per chunk, costs nothing)
MAX_CHUNK = 8
#: seconds the claims lock may stay taken before the caller looks for a worker that died
#: holding it (a claim holds it for microseconds)
LOCK_WAIT_S = 2.0

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Lost:
    """An item whose worker process died while working on it."""

    reason: str


class Claims:
    """Who works on what: ``bounds[2k:2k+2]`` is worker ``k``'s unclaimed ``[lo, hi)``.

    ``bounds`` may live in shared memory and ``lock`` then guards it across processes.
    """

    def __init__(self, bounds: MutableSequence[int], lock: AbstractContextManager[Any]) -> None:
        self._b = bounds
        self._lock = lock
        self._workers = len(bounds) // 2

    @staticmethod
    def segments(n: int, workers: int) -> list[tuple[int, int]]:
        """``[0, n)`` cut into ``workers`` contiguous segments whose sizes differ by at most one."""
        out = []
        start = 0
        for k in range(workers):
            stop = start + n // workers + (1 if k < n % workers else 0)
            out.append((start, stop))
            start = stop
        return out

    @staticmethod
    def initial(n: int, workers: int) -> list[int]:
        """The flat ``bounds`` of a fresh run."""
        return [x for seg in Claims.segments(n, workers) for x in seg]

    def claim(self, me: int, chunk: int) -> tuple[int, int] | None:
        """The next ``[start, stop)`` for worker ``me``, at most ``chunk`` items: the front of
        its own segment, else the back of the segment with the most left; ``None``: all
        claimed."""
        with self._lock:
            return self.take(me, chunk)

    def take(self, me: int, chunk: int) -> tuple[int, int] | None:
        """:meth:`claim` for a caller that holds the lock."""
        b = self._b
        lo, hi = b[2 * me], b[2 * me + 1]
        if lo < hi:
            stop = min(hi, lo + chunk)
            b[2 * me] = stop
            return lo, stop
        victim = max(range(self._workers), key=lambda k: b[2 * k + 1] - b[2 * k])
        lo, hi = b[2 * victim], b[2 * victim + 1]
        if lo >= hi:
            return None
        start = max(lo, hi - chunk)
        b[2 * victim + 1] = start
        return start, hi


def default_chunk(n: int, workers: int) -> int:
    """About 64 chunks per worker, at most :data:`MAX_CHUNK` items each."""
    return max(1, min(MAX_CHUNK, n // (workers * 64)))


class _Missing:
    """No result yet (a sentinel distinct from any result, ``None`` included)."""


_MISSING = _Missing()


@dataclass(slots=True)
class _Child:
    process: BaseProcess
    conn: Connection
    me: int
    finished: bool = False  # said "done"
    freed: bool = False  # died holding the claims lock, which this process then released


def run_stealing(
    work: Callable[[int], T],
    n: int,
    workers: int = 2,
    *,
    chunk: int | None = None,
    tick: Callable[[], None] | None = None,
    pack: Callable[[T], Any] | None = None,
    unpack: Callable[[Any], T] | None = None,
) -> list[T | Lost]:
    """``[work(0), ..., work(n - 1)]``, computed by ``workers`` processes (this one included).

    ``tick`` is called once per result as it arrives (a progress bar). ``pack``/``unpack``
    turn a result into something cheaper to pickle and back. ``workers <= 1`` or ``n <= 1``
    runs everything here. ``work`` must be picklable where processes cannot be forked.
    """
    if workers <= 1 or n <= 1:
        out: list[T | Lost] = []
        for i in range(n):
            out.append(work(i))
            if tick is not None:
                tick()
        return out
    return _Run(work, n, min(workers, n), chunk or default_chunk(n, workers), tick, pack,
                unpack).run()


class _Run(Generic[T]):
    """One :func:`run_stealing` call with more than one worker."""

    def __init__(
        self,
        work: Callable[[int], T],
        n: int,
        workers: int,
        chunk: int,
        tick: Callable[[], None] | None,
        pack: Callable[[T], Any] | None,
        unpack: Callable[[Any], T] | None,
    ) -> None:
        self.ctx: ForkContext | SpawnContext
        if "fork" in multiprocessing.get_all_start_methods():
            self.ctx = multiprocessing.get_context("fork")
        else:  # pragma: no cover - Windows
            self.ctx = multiprocessing.get_context("spawn")
        self.work, self.n, self.workers, self.chunk = work, n, workers, chunk
        self.tick, self.pack, self.unpack = tick, pack, unpack
        self.bounds = self.ctx.RawArray("q", Claims.initial(n, workers))
        self.current = self.ctx.RawArray("q", [-1] * workers)
        self.lock = self.ctx.Lock()
        self.results: list[Any] = [_MISSING] * n
        self.children: list[_Child] = []

    def run(self) -> list[T | Lost]:
        try:
            self._start()
            self._work_here()
            while any(not c.conn.closed for c in self.children):
                self._drain(block=True)
            self._recover()
        finally:
            self._stop()
        return self.results

    def _start(self) -> None:
        # the caller's objects go to the collector's permanent generation while the workers
        # fork, so the workers' collections never walk (and copy) the pages they share
        gc.freeze()
        try:
            for me in range(1, self.workers):
                recv, send = self.ctx.Pipe(duplex=False)
                proc = self.ctx.Process(
                    target=_worker_main,
                    args=(me, self.work, self.bounds, self.lock, self.current, send,
                          self.chunk, self.pack),
                    name=f"llamatouch-worker-{me}",
                    daemon=True,
                )
                proc.start()
                send.close()
                self.children.append(_Child(proc, recv, me))
        finally:
            gc.unfreeze()

    def _work_here(self) -> None:
        claims = Claims(self.bounds, self.lock)
        while True:
            while not self.lock.acquire(timeout=LOCK_WAIT_S):
                self._free_a_dead_holder()
            try:
                got = claims.take(0, self.chunk)
            finally:
                self.lock.release()
            if got is None:
                return
            for i in range(*got):
                self._put(i, self.work(i))
            self._drain(block=False)

    def _free_a_dead_holder(self) -> None:
        """The claims lock has been taken for :data:`LOCK_WAIT_S` (a claim takes
        microseconds). A worker that died without saying it was done may have died holding
        it: free it, once per such worker, so that the others (and this process) go on."""
        for child in self.children:
            if child.finished or child.freed or child.process.is_alive():
                continue
            child.freed = True
            log.warning("worker %s %s holding the claims lock; freed it", child.me,
                        describe_exit(child.process.exitcode))
            self.lock.release()
            return

    def _put(self, i: int, result: Any) -> None:
        self.results[i] = result
        if self.tick is not None:
            self.tick()

    def _drain(self, block: bool) -> None:
        """Take what the workers have sent (waiting for something when ``block``)."""
        open_conns = [c.conn for c in self.children if not c.conn.closed]
        if not open_conns:
            return
        ready = wait(open_conns, timeout=LOCK_WAIT_S if block else 0)
        if block and not ready:  # nothing for a while: are the workers stuck on the lock?
            if self.lock.acquire(timeout=LOCK_WAIT_S):
                self.lock.release()
            else:
                self._free_a_dead_holder()
        for child in self.children:
            if child.conn not in ready:
                continue
            try:
                msg = _decode(child.conn.recv_bytes())
            except (EOFError, OSError):  # the worker ended (or died): nothing more comes
                child.conn.close()
                continue
            if msg[0] == "items":
                start, items = msg[1], msg[2]
                for k, item in enumerate(items):
                    self._put(start + k, self.unpack(item) if self.unpack else item)
            elif msg[0] == "done":
                child.finished = True
            else:
                raise RuntimeError(f"a worker process failed:\n{msg[1]}")

    def _recover(self) -> None:
        """The item a dead worker was on becomes :class:`Lost`; what else it had claimed but
        not sent is worked on here."""
        for child in self.children:
            if child.finished:
                continue
            child.process.join()
            at = self.current[child.me]
            if 0 <= at < self.n and self.results[at] is _MISSING:
                self._put(at, Lost(f"the worker process was "
                                   f"{describe_exit(child.process.exitcode)} while on it"))
        for i in range(self.n):
            if self.results[i] is _MISSING:
                self._put(i, self.work(i))

    def _stop(self) -> None:
        for child in self.children:
            if not child.conn.closed:
                child.conn.close()
            if child.process.is_alive():
                child.process.terminate()
            child.process.join()


def _worker_main(
    me: int,
    work: Callable[[int], Any],
    bounds: MutableSequence[int],
    lock: AbstractContextManager[Any],
    current: MutableSequence[int],
    conn: Connection,
    chunk: int,
    pack: Callable[[Any], Any] | None,
) -> None:
    """A forked worker: claim, work, send, until nothing is left."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's to handle
    die_with_parent(signal.SIGTERM)
    claims = Claims(bounds, lock)
    try:
        while (got := claims.claim(me, chunk)) is not None:
            start, stop = got
            items = []
            for i in range(start, stop):
                current[me] = i
                result = work(i)
                items.append(pack(result) if pack is not None else result)
            conn.send_bytes(_encode(("items", start, items)))
        conn.send_bytes(_encode(("done",)))
    except BaseException:  # a bug in work(): the caller raises it with this traceback
        conn.send_bytes(_encode(("error", traceback.format_exc())))
    finally:
        conn.close()


def _encode(msg: tuple[Any, ...]) -> bytes:
    """A message to the caller: ``M`` + marshal for plain data, else ``P`` + pickle."""
    try:
        return b"M" + marshal.dumps(msg)
    except ValueError:  # not plain data (an enum, a Path...)
        return b"P" + pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)


def _decode(raw: bytes) -> Any:
    """A worker's message: bytes our own forked child wrote to a pipe only we hold."""
    body = memoryview(raw)[1:]
    if raw[:1] == b"M":
        return marshal.loads(body)  # noqa: S302 - our own worker's bytes (see above)
    return pickle.loads(body)  # noqa: S301 - our own worker's bytes (see above)
