"""score_dir's plumbing without ../shared: trace discovery, worker processes, the CLI flag."""

from __future__ import annotations

import json

import pytest
from evaluator_synth import screen
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llamatouch.cli import main
from llamatouch.essential.schema import (
    Annotation,
    Checkpoint,
    Component,
    ExactPrimitive,
    save_annotation,
)
from llamatouch.evaluator import score_dir
from llamatouch.evaluator.scoring import find_trace_folders
from llamatouch.trace.format import find_traces

A = screen({"text": "Alpha"})
B = screen({"text": "Beta"})
FIN = {"action": "finish", "status": "success"}


@pytest.fixture
def scored_dir(make_trace, tmp_path):
    """Six traces (three succeed), nested one level, and the annotation of task ``t``."""
    for i in range(6):
        make_trace([(A if i % 2 else B, FIN, {})])
    nested = tmp_path / "more" / "deeper"
    nested.mkdir(parents=True)
    (tmp_path / "trace3").rename(nested / "trace3")
    anns = tmp_path / "anns"
    alpha = ExactPrimitive(component=Component(text="Alpha"))
    ann = Annotation("t", "x", "com.app", [Checkpoint([alpha])])
    save_annotation(ann, anns / "t.json")
    return tmp_path, anns


def test_trace_folders_are_the_ones_find_traces_finds(scored_dir):
    root, _ = scored_dir
    got = find_trace_folders(root)
    assert got == find_traces(root) and len(got) == 6
    assert find_trace_folders(got[0]) == [got[0]]


def test_workers_score_the_same_in_the_same_order(scored_dir):
    root, anns = scored_dir
    one = score_dir(root, anns)
    two = score_dir(root, anns, workers=2)
    assert sorted(r.status for r in one) == ["fail"] * 3 + ["success"] * 3

    def key(results):
        return [(r.path, r.status, r.reason) for r in results]

    assert key(one) == key(two)
    assert [r.verdict.to_json() for r in one if r.verdict] == [
        r.verdict.to_json() for r in two if r.verdict
    ]
    with pytest.raises(ValueError, match="at least 1"):
        score_dir(root, anns, workers=0)


def test_cli_workers(scored_dir, tmp_path, capsys):
    root, anns = scored_dir
    outs = []
    for n in ("1", "3"):
        out = tmp_path / f"out{n}.json"
        argv = ["score", str(root), "--annotations", str(anns), "--format", "json"]
        assert main([*argv, "--out", str(out), "--no-progress", "--workers", n]) == 0
        rows = json.loads(out.read_text())["results"]
        outs.append([(r["episode"], r["status"], r["reason"]) for r in rows])
    assert outs[0] == outs[1] and len(outs[0]) == 6
    for bad in ("0", "-1", "two"):
        with pytest.raises(SystemExit) as ei:
            main(["score", str(root), "--annotations", str(anns), "--workers", bad])
        assert ei.value.code == 2
        assert "--workers" in capsys.readouterr().err


def test_a_worker_killed_on_a_trace_costs_that_trace_only(scored_dir, monkeypatch):
    """A worker process that dies (here: SIGKILL while on the last trace, which lies in the
    forked worker's half) turns that trace into an ``error`` naming the signal; every other
    trace is scored, the ones the dead worker had claimed by this process."""
    import multiprocessing
    import os
    import signal

    from llamatouch.evaluator import scoring

    root, anns = scored_dir
    paths = find_trace_folders(root)
    victim = str(paths[-1])
    parent = os.getpid()
    real = scoring._score_one
    reached = multiprocessing.get_context("fork").Event()  # shared with the forked worker

    def score_one(path, *args):
        if os.getpid() == parent:  # wait until the worker is on the victim, whatever the load
            assert reached.wait(60), "the forked worker never reached its last trace"
        elif str(path) == victim:
            reached.set()
            os.kill(os.getpid(), signal.SIGKILL)
        return real(path, *args)

    monkeypatch.setattr(scoring, "_score_one", score_one)
    res = score_dir(root, anns, workers=2)
    assert [r.path for r in res] == [str(p) for p in paths]
    lost = [r for r in res if r.status == "error"]
    assert [r.path for r in lost] == [victim]
    assert "not scored" in lost[0].reason and "SIGKILL" in lost[0].reason
    assert sorted(r.status for r in res if r.path != victim) == ["fail"] * 3 + ["success"] * 2


def test_progress_ticks_once_per_trace_with_workers(scored_dir):
    root, anns = scored_dir
    seen: list[str] = []

    def progress(paths):
        for p in paths:
            seen.append(str(p))
            yield p

    for workers in (1, 2):
        seen.clear()
        res = score_dir(root, anns, workers=workers, progress=progress)
        assert len(seen) == len(res) == 6


_NAME = st.text(alphabet="ab-._ 0", min_size=1, max_size=4).filter(lambda n: n not in (".", ".."))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layout=st.lists(st.lists(_NAME, min_size=1, max_size=3), min_size=1, max_size=8))
def test_trace_folders_come_in_path_order_whatever_the_names(layout, tmp_path_factory):
    """Names with '-', '.', ' ' sort differently as strings and as paths; the folders come
    in the order (and spelling) of find_traces', for any nesting."""
    root = tmp_path_factory.mktemp("layout")
    made: list[tuple[str, ...]] = []
    for parts in map(tuple, layout):
        if any(p[: len(parts)] == parts or parts[: len(p)] == p for p in made):
            continue  # one trace inside another: not a layout a run writes
        made.append(parts)
        folder = root.joinpath(*parts)
        (folder / "steps").mkdir(parents=True)
        (folder / "manifest.json").write_text("{}")
    got = find_trace_folders(root)
    assert got == find_traces(root)
    assert find_trace_folders(f"{root}/") == got


def test_the_summary_is_a_typed_record_with_the_same_json(scored_dir):
    from llamatouch.evaluator import ScoreSummary, StatusCounts, summarize

    root, anns = scored_dir
    summary = summarize(score_dir(root, anns))
    assert isinstance(summary, ScoreSummary)
    assert summary.overall == StatusCounts(total=6, success=3, fail=3, error=0)
    assert summary.by_app == {"com.app": StatusCounts(total=6, success=3, fail=3, error=0)}
    assert summary.to_json() == {
        "total": 6, "success": 3, "fail": 3, "error": 0,
        "by_app": {"com.app": {"total": 6, "success": 3, "fail": 3, "error": 0}},
    }
