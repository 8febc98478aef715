"""Every DroidTask variant trace keeps its verdict: the fast paths change speed, not answers.

The fast path (per-hierarchy cache, text pre-check, answers from lxml's tree) is compared
with the slow path (every step's screen model built up front, so no pre-check and no tree:
how the evaluator worked before them), verdict by verdict, evidence included. Before the
fast paths were committed, the verdicts of all 640 variant traces were also compared with
the previous evaluator's output (identical); the traces themselves follow the importer, so
no snapshot of them is kept.
"""

from __future__ import annotations

import json

from llamatouch.essential.schema import load_annotations_dir
from llamatouch.evaluator import EvalOptions, evaluate, score_dir
from llamatouch.evaluator.matcher import evaluate_views
from llamatouch.evaluator.scoring import ScoreResult
from llamatouch.evaluator.stepview import StepView, hierarchy_cache
from llamatouch.trace.format import read_trace


def _rows(results: list[ScoreResult]) -> list[str]:
    return sorted(
        json.dumps(r.to_json() | {"seconds": 0}, sort_keys=True, default=str) for r in results
    )


def test_fast_path_verdicts_equal_the_slow_path(variant_traces, droidtask_annotations):
    root, index = variant_traces
    anns = load_annotations_dir(droidtask_annotations)
    opts = EvalOptions()
    hierarchy_cache().clear()
    compared = 0
    for eid in sorted(index):
        trace = read_trace(root / eid)
        ann = anns[trace.manifest.task.id]
        fast = evaluate(trace, ann, opts)
        views = [StepView(s, screen=s.screen()) for s in trace.steps]
        slow = evaluate_views(views, ann, opts, episode_id=trace.manifest.episode_id)
        assert fast.to_json() == slow.to_json(), eid
        compared += 1
    assert compared == len(index) >= 600


def test_cold_cache_warm_cache_and_no_cache_agree(variant_traces, droidtask_annotations):
    """The per-hierarchy cache is invisible: scoring with it disabled gives the same rows."""
    root, _index = variant_traces
    cache = hierarchy_cache()
    size = cache.max_entries
    try:
        cache.clear()
        cold = _rows(score_dir(root, droidtask_annotations))
        assert cache.misses < cache.hits  # the variants share screens
        warm = _rows(score_dir(root, droidtask_annotations))
        cache.resize(0)
        none = _rows(score_dir(root, droidtask_annotations))
    finally:
        cache.resize(size)
    assert cold == warm == none


def test_workers_give_the_same_results_in_the_same_order(variant_traces, droidtask_annotations):
    root, _index = variant_traces
    hierarchy_cache().clear()
    one = score_dir(root, droidtask_annotations, workers=1)
    hierarchy_cache().clear()
    two = score_dir(root, droidtask_annotations, workers=2)
    assert [r.path for r in one] == [r.path for r in two]
    assert [r.to_json() | {"seconds": 0} for r in one] == [
        r.to_json() | {"seconds": 0} for r in two
    ]
