"""The work-stealing scheduler behind ``score --workers N``: every item exactly once, in
real forked processes, with the calling process working too; a worker that dies loses
only the item it was on."""

from __future__ import annotations

import enum
import multiprocessing
import os
import signal
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from proctree import HAS_PROC, children_map

from llamatouch.evaluator.stealing import Claims, Lost, run_stealing


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(0, 400),
    workers=st.integers(1, 8),
    chunk=st.integers(1, 50),
    order=st.lists(st.integers(0, 7), min_size=1, max_size=60),
)
def test_claims_hand_out_every_item_exactly_once(n, workers, chunk, order):
    """Whatever order the workers ask in, the claims partition [0, n) into pieces of at most
    ``chunk`` items, and a worker first empties its own segment front to back."""
    claims = Claims(Claims.initial(n, workers), nullcontext())
    seen: list[int] = []
    done = [False] * workers
    own_front = [start for start, _ in Claims.segments(n, workers)]
    k = 0
    while not all(done):
        me = order[k % len(order)] % workers
        k += 1
        if done[me]:
            me = done.index(False)
        got = claims.claim(me, chunk)
        if got is None:
            done[me] = True
            continue
        start, stop = got
        assert 0 < stop - start <= chunk
        if start == own_front[me]:  # its own segment, in order
            own_front[me] = stop
        seen.extend(range(start, stop))
    assert sorted(seen) == list(range(n))


def test_segments_are_contiguous_and_even():
    assert Claims.segments(10, 3) == [(0, 4), (4, 7), (7, 10)]
    assert Claims.segments(2, 4) == [(0, 1), (1, 2), (2, 2), (2, 2)]


_PARENT = os.getpid()
#: set by a forked worker, and by this process, when it starts an item (every fork of this
#: process shares them)
_WORKER_STARTED = multiprocessing.get_context("fork").Event()
_HERE_STARTED = multiprocessing.get_context("fork").Event()
#: whether both wait for each other at their first item (see ``both_work``)
_GATED = False


@pytest.fixture
def both_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process and the forked worker each wait at their first item until the other has
    started one: both surely get items, and the worker its first chunk, however loaded the
    machine is (a worker that does not sleep can otherwise claim everything while this
    process is descheduled after the fork, and a timer alone was not enough under CI load)."""
    _WORKER_STARTED.clear()
    _HERE_STARTED.clear()
    monkeypatch.setattr(sys.modules[__name__], "_GATED", True)


def _slow_here() -> None:
    """Items of this (the calling) process take a while; with ``both_work`` the two
    processes meet at their first items."""
    here = os.getpid() == _PARENT
    if _GATED:
        mine, theirs = (_HERE_STARTED, _WORKER_STARTED) if here else (_WORKER_STARTED,
                                                                       _HERE_STARTED)
        mine.set()
        assert theirs.wait(60), "the other process started no item within 60 s"
    if here:
        time.sleep(0.01)


def _square_and_pid(i: int) -> tuple[int, int]:
    _slow_here()
    return i * i, os.getpid()


def test_every_item_once_in_order_and_the_caller_works_too(both_work):
    ticks: list[int] = []
    out = run_stealing(_square_and_pid, 60, workers=2, chunk=3, tick=lambda: ticks.append(1))
    assert [v for v, _ in out] == [i * i for i in range(60)]  # type: ignore[misc]
    pids = {pid for _, pid in out}  # type: ignore[misc]
    assert os.getpid() in pids and len(pids) == 2  # the caller is worker 0
    assert len(ticks) == 60


def test_one_worker_or_one_item_runs_in_this_process():
    for n, workers in ((5, 1), (1, 4), (0, 3)):
        out = run_stealing(_square_and_pid, n, workers=workers)
        assert [pid for _, pid in out] == [os.getpid()] * n  # type: ignore[misc]


def _dies_on_13(i: int) -> tuple[int, int]:
    _slow_here()
    if i == 13 and os.getpid() != _PARENT:
        os.kill(os.getpid(), signal.SIGKILL)
    return i, os.getpid()


def test_a_killed_worker_loses_only_the_item_it_was_on(both_work):
    """Item 13 sits in the second worker's segment and kills it; the items it had claimed
    but not sent are redone here, and item 13 comes back as ``Lost`` naming the signal."""
    out = run_stealing(_dies_on_13, 20, workers=2, chunk=4)
    lost = [i for i, r in enumerate(out) if isinstance(r, Lost)]
    assert lost == [13]
    assert "SIGKILL" in out[13].reason  # type: ignore[union-attr]
    assert [r[0] for i, r in enumerate(out) if i != 13] == [  # type: ignore[index]
        i for i in range(20) if i != 13
    ]


def _raises_on_7(i: int) -> int:
    _slow_here()
    if i == 7 and os.getpid() != _PARENT:
        raise ZeroDivisionError("boom at 7")
    return i


def test_a_bug_in_a_worker_is_raised_here_with_its_traceback(both_work):
    with pytest.raises(RuntimeError, match="boom at 7") as ei:
        run_stealing(_raises_on_7, 12, workers=2, chunk=2)
    assert "ZeroDivisionError" in str(ei.value)


@pytest.mark.skipif(not HAS_PROC, reason="reads /proc")
def test_no_worker_is_left_behind():
    before = _children()
    run_stealing(_square_and_pid, 20, workers=3, chunk=2)
    with pytest.raises(RuntimeError):
        run_stealing(_raises_on_7, 12, workers=3, chunk=1)
    assert _children() <= before


def _children() -> set[int]:
    return set(children_map().get(os.getpid(), []))


class _Colour(enum.StrEnum):
    RED = "red"


def _not_plain(i: int) -> tuple[object, ...]:
    _slow_here()
    return (Path(f"p{i}"), _Colour.RED, {"i": [i, float(i), None, True]}, os.getpid())


def test_results_that_are_not_plain_data_come_back_whole(both_work):
    """Plain data travels as marshal, anything else (a Path, a str enum) as pickle."""
    out = run_stealing(_not_plain, 40, workers=2, chunk=2)
    assert [r[:3] for r in out] == [  # type: ignore[index]
        (Path(f"p{i}"), _Colour.RED, {"i": [i, float(i), None, True]}) for i in range(40)
    ]
    assert all(type(r[1]) is _Colour for r in out)  # type: ignore[index]
    assert len({r[3] for r in out}) == 2  # type: ignore[index]


def test_a_worker_killed_while_it_holds_the_claims_lock_hangs_nothing(
    monkeypatch, both_work
):
    """The claims lock is held for microseconds, but a worker can die in them (SIGKILL,
    the OOM killer). The caller notices a lock held past ``LOCK_WAIT_S`` with a worker dead,
    frees it, and finishes every item; nothing was in flight, so nothing is lost."""
    from llamatouch.evaluator import stealing

    monkeypatch.setattr(stealing, "LOCK_WAIT_S", 0.2)
    real = stealing.Claims.claim
    calls = {"n": 0}

    def claim(self, me, chunk):
        if os.getpid() != _PARENT:
            calls["n"] += 1
            if calls["n"] == 2:  # the worker's second claim: die holding the lock
                self._lock.acquire()
                os.kill(os.getpid(), signal.SIGKILL)
        return real(self, me, chunk)

    monkeypatch.setattr(stealing.Claims, "claim", claim)
    t0 = time.monotonic()
    out = run_stealing(_square_and_pid, 40, workers=2, chunk=2)
    assert time.monotonic() - t0 < 30
    assert [v for v, _ in out] == [i * i for i in range(40)]  # type: ignore[misc]
