"""Every DroidTask variant trace keeps its verdict: the fast paths change speed, not answers.

``data/droidtask_verdicts.csv`` was written by the evaluator as it was before the lazy
screen model and the per-hierarchy cache (``LLAMATOUCH_UPDATE_VERDICTS=1`` rewrites it). Each
row holds the status, the steps that satisfied the checkpoints, the reason, and a digest of
the whole verdict (evidence included).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

from llamatouch.evaluator import score_dir
from llamatouch.evaluator.scoring import ScoreResult
from llamatouch.evaluator.stepview import hierarchy_cache

SNAPSHOT = Path(__file__).parent / "data" / "droidtask_verdicts.csv"
FIELDS = ("episode", "status", "checkpoint_steps", "reason", "digest")


def _row(r: ScoreResult) -> dict[str, str]:
    verdict = r.verdict.to_json() if r.verdict is not None else None
    blob = json.dumps(verdict, sort_keys=True, ensure_ascii=False, default=str)
    steps = None if r.verdict is None else r.verdict.checkpoint_steps
    return {
        "episode": r.episode_id,
        "status": r.status,
        "checkpoint_steps": json.dumps(steps),
        "reason": r.reason,
        "digest": hashlib.sha256(blob.encode()).hexdigest()[:16],
    }


def _rows(results: list[ScoreResult]) -> list[dict[str, str]]:
    return sorted((_row(r) for r in results), key=lambda d: d["episode"])


def test_verdicts_match_the_snapshot(variant_traces, droidtask_annotations):
    root, index = variant_traces
    rows = _rows(score_dir(root, droidtask_annotations))
    if os.environ.get("LLAMATOUCH_UPDATE_VERDICTS") == "1":
        with SNAPSHOT.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=FIELDS)
            w.writeheader()
            w.writerows(rows)
    with SNAPSHOT.open(newline="") as fh:
        want = list(csv.DictReader(fh))
    assert len(want) == len(index) == len(rows)
    pairs = zip(want, rows, strict=True)
    diff = [(a["episode"], a["status"], b["status"]) for a, b in pairs if a != b]
    assert not diff, diff[:10]


def test_cold_cache_warm_cache_and_no_cache_agree(variant_traces, droidtask_annotations):
    """The per-hierarchy cache is invisible: scoring with it disabled gives the same rows."""
    root, _index = variant_traces
    cache = hierarchy_cache()
    size = cache.max_entries
    try:
        cache.clear()
        cold = _rows(score_dir(root, droidtask_annotations))
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
