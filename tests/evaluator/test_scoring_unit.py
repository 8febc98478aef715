"""score_dir's plumbing without ../shared: trace discovery, worker processes, the CLI flag."""

from __future__ import annotations

import json

import pytest
from evaluator_synth import screen

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
