"""Score a folder of traces against a folder of annotations (``llamatouch score``).

Every trace gets one :class:`ScoreResult`; nothing stops the run: an unreadable trace, a
missing or invalid annotation, a primitive that cannot be computed each become an ``error``
result with the reason, and the summary counts them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llamatouch.errors import LlamaTouchError
from llamatouch.essential.schema import Annotation, load_annotations_dir
from llamatouch.evaluator.baselines import evaluate_exact_match, evaluate_lcs
from llamatouch.evaluator.matcher import evaluate
from llamatouch.evaluator.options import EvalOptions, Verdict
from llamatouch.trace.format import Trace, find_traces, read_trace

if TYPE_CHECKING:
    import pandas as pd

EVALUATORS = ("essential", "exact", "lcs")


@dataclass(slots=True)
class ScoreResult:
    """One scored trace.

    Attributes:
        episode_id: the trace's episode id (the folder name when the manifest is unreadable).
        task_id: the task the trace claims (``""`` when unknown).
        app: the task's app package.
        path: the trace folder.
        evaluator: ``essential``, ``exact`` or ``lcs``.
        status: ``success``, ``fail`` or ``error``.
        reason: why.
        verdict: the full verdict (``None`` when the trace or annotation could not be read).
        steps: number of steps in the trace.
        seconds: time spent scoring it.
        primitive_types: primitive types of the annotation used.
    """

    episode_id: str
    task_id: str
    app: str
    path: str
    evaluator: str
    status: str
    reason: str
    verdict: Verdict | None = None
    steps: int = 0
    seconds: float = 0.0
    primitive_types: list[str] = field(default_factory=list)

    def to_row(self) -> dict[str, Any]:
        return {
            "episode": self.episode_id,
            "task": self.task_id,
            "app": self.app,
            "evaluator": self.evaluator,
            "status": self.status,
            "success": self.status == "success",
            "reason": self.reason,
            "steps": self.steps,
            "checkpoint_steps": None if self.verdict is None else self.verdict.checkpoint_steps,
            "primitive_types": ",".join(self.primitive_types),
            "seconds": round(self.seconds, 6),
            "path": self.path,
        }

    def to_json(self) -> dict[str, Any]:
        out = self.to_row()
        out["verdict"] = None if self.verdict is None else self.verdict.to_json()
        return out


def score_trace(
    trace: Trace,
    annotation: Annotation,
    evaluator: str = "essential",
    options: EvalOptions | None = None,
    lcs_threshold: float = 1.0,
) -> Verdict:
    """Score one trace with the named evaluator."""
    if evaluator == "essential":
        return evaluate(trace, annotation, options)
    if evaluator == "exact":
        return evaluate_exact_match(trace, annotation)
    if evaluator == "lcs":
        return evaluate_lcs(trace, annotation, lcs_threshold)
    raise ValueError(f"unknown evaluator {evaluator!r}; known: {EVALUATORS}")


def score_dir(
    traces_dir: str | Path,
    annotations_dir: str | Path,
    *,
    evaluator: str = "essential",
    options: EvalOptions | None = None,
    lcs_threshold: float = 1.0,
    progress: Callable[[Iterable[Path]], Iterable[Path]] | None = None,
    annotations: dict[str, Annotation] | None = None,
) -> list[ScoreResult]:
    """Score every trace below ``traces_dir`` against ``annotations_dir/<task_id>.json``.

    ``progress`` wraps the list of trace folders (e.g. ``tqdm``). ``annotations`` may be
    given pre-loaded (then ``annotations_dir`` is only used for messages). Results come in
    trace-folder order; see :func:`to_frame` for a pandas table.
    """
    if evaluator not in EVALUATORS:
        raise ValueError(f"unknown evaluator {evaluator!r}; known: {EVALUATORS}")
    load_errors: dict[str, str] = {}
    if annotations is None:
        loaded = load_annotations_dir(annotations_dir)
        for err in loaded.errors:
            load_errors[Path(getattr(err, "source", "")).stem] = str(err)
        annotations = loaded
    paths = find_traces(traces_dir)
    results: list[ScoreResult] = []
    for path in progress(paths) if progress is not None else paths:
        t0 = time.perf_counter()
        res = _score_one(path, annotations, load_errors, evaluator, options, lcs_threshold)
        res.seconds = time.perf_counter() - t0
        results.append(res)
    return results


def _score_one(
    path: Path,
    annotations: dict[str, Annotation],
    load_errors: dict[str, str],
    evaluator: str,
    options: EvalOptions | None,
    lcs_threshold: float,
) -> ScoreResult:
    base = ScoreResult(path.name, "", "", str(path), evaluator, "error", "")
    try:
        trace = read_trace(path)
    except LlamaTouchError as exc:
        base.reason = f"trace unreadable: {exc}"
        return base
    base.episode_id = trace.manifest.episode_id
    base.task_id = str(trace.manifest.task.get("id", ""))
    base.app = str(trace.manifest.task.get("app", ""))
    base.steps = len(trace)
    if not base.task_id:
        base.reason = "the trace's manifest names no task id"
        return base
    ann = annotations.get(base.task_id)
    if ann is None:
        base.reason = load_errors.get(base.task_id) or f"no annotation for task {base.task_id!r}"
        if base.task_id in load_errors:
            base.reason = f"annotation invalid: {base.reason}"
        return base
    base.app = base.app or ann.app
    base.primitive_types = sorted(ann.primitive_types())
    try:
        verdict = score_trace(trace, ann, evaluator, options, lcs_threshold)
    except LlamaTouchError as exc:
        base.reason = str(exc)
        return base
    base.verdict = verdict
    base.status = verdict.status
    base.reason = verdict.reason
    return base


def to_frame(results: list[ScoreResult]) -> pd.DataFrame:
    """One row per result (see :meth:`ScoreResult.to_row`)."""
    import pandas as pd

    return pd.DataFrame([r.to_row() for r in results])


def summarise(results: list[ScoreResult]) -> dict[str, Any]:
    """Counts by status, overall and by app."""
    out: dict[str, Any] = {"total": len(results), "success": 0, "fail": 0, "error": 0}
    by_app: dict[str, dict[str, int]] = {}
    for r in results:
        out[r.status] = out.get(r.status, 0) + 1
        app = by_app.setdefault(r.app or "?", {"total": 0, "success": 0, "fail": 0, "error": 0})
        app["total"] += 1
        app[r.status] = app.get(r.status, 0) + 1
    out["by_app"] = by_app
    return out
