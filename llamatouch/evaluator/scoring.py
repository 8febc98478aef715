"""Score a folder of traces against a folder of annotations (``llamatouch score``).

Every trace gets one :class:`ScoreResult`; nothing stops the run: an unreadable trace, a
missing or invalid annotation, a primitive that cannot be computed each become an ``error``
result with the reason, and the summary counts them. With ``workers > 1`` the traces are
scored by that many processes, this one included, that share the traces out as they go
(:mod:`llamatouch.evaluator.stealing`); the results are the same and come in the same order.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llamatouch.errors import LlamaTouchError
from llamatouch.essential.schema import Annotation, load_annotations_dir
from llamatouch.evaluator.baselines import evaluate_exact_match, evaluate_lcs
from llamatouch.evaluator.matcher import evaluate
from llamatouch.evaluator.options import EvalOptions, Evidence, Verdict
from llamatouch.evaluator.stealing import Lost, run_stealing
from llamatouch.trace.format import Trace, is_trace_dir, read_trace

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


def find_trace_folders(root: str | Path) -> list[Path]:
    """Every trace folder below ``root`` (``root`` itself if it is one), sorted.

    The folders :func:`llamatouch.trace.format.find_traces` finds (a ``manifest.json`` beside
    a ``steps`` folder), in the same order, without walking into the trace folders
    themselves (their step folders hold no traces) or following symbolic links: on 640
    DroidTask traces this takes a tenth of the time of a recursive glob over every step
    folder.
    """
    return [Path(p) for p in _trace_folders(root)]


def _trace_folders(root: str | Path) -> list[str]:
    """:func:`find_trace_folders` as strings (what scoring needs; no ``Path`` objects)."""
    base = str(Path(root))  # normalised once: the joins below keep it so
    if is_trace_dir(base):
        return [base]
    out: list[str] = []
    stack = [base]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                subdirs = [e.path for e in it if e.is_dir(follow_symlinks=False)]
        except OSError:
            continue
        for path in subdirs:
            if os.path.isfile(os.path.join(path, "manifest.json")) and os.path.isdir(
                os.path.join(path, "steps")
            ):
                out.append(path)
            else:
                stack.append(path)
    # in the order of Path objects (component by component), which a plain string sort
    # does not keep: "a-b" sorts before "a/b" as a string, after it as a path
    return sorted(out, key=_components)


def _components(path: str) -> list[str]:
    return path.split(os.sep)


@dataclass(frozen=True, slots=True)
class _Job:
    """What every trace of a run is scored with (handed to each worker process once).

    Forked workers inherit it (annotations, trace folders) without a copy; a worker then
    claims indices into ``paths`` (:mod:`llamatouch.evaluator.stealing`) and answers with
    packed results.
    """

    annotations: dict[str, Annotation]
    load_errors: dict[str, str]
    evaluator: str
    options: EvalOptions | None
    lcs_threshold: float
    paths: tuple[str, ...] = ()

    def score_at(self, i: int) -> ScoreResult:
        """Score ``paths[i]`` (timed)."""
        t0 = time.perf_counter()
        res = _score_one(
            self.paths[i],
            self.annotations,
            self.load_errors,
            self.evaluator,
            self.options,
            self.lcs_threshold,
        )
        res.seconds = time.perf_counter() - t0
        return res


_EVIDENCE_FIELDS = tuple(f.name for f in fields(Evidence))
_VERDICT_FIELDS = tuple(f.name for f in fields(Verdict))
_RESULT_FIELDS = tuple(f.name for f in fields(ScoreResult))

#: a :class:`ScoreResult` as plain tuples (its fields in order; the verdict's and evidence's
#: too), which pickle several times faster than the dataclasses
_Packed = tuple[Any, ...]


_RESULT_VALUES = attrgetter(*_RESULT_FIELDS)
_VERDICT_VALUES = attrgetter(*_VERDICT_FIELDS)
_EVIDENCE_VALUES = attrgetter(*_EVIDENCE_FIELDS)
_AT_VERDICT = _RESULT_FIELDS.index("verdict")
_AT_EVIDENCE = _VERDICT_FIELDS.index("evidence")


def _pack(res: ScoreResult) -> _Packed:
    values = list(_RESULT_VALUES(res))
    v = res.verdict
    if v is not None:
        packed = list(_VERDICT_VALUES(v))
        packed[_AT_EVIDENCE] = [_EVIDENCE_VALUES(e) for e in v.evidence]
        values[_AT_VERDICT] = tuple(packed)
    return tuple(values)


def _unpack(packed: _Packed) -> ScoreResult:
    values = list(packed)
    if values[_AT_VERDICT] is not None:
        v = list(values[_AT_VERDICT])
        v[_AT_EVIDENCE] = [Evidence(*e) for e in v[_AT_EVIDENCE]]
        values[_AT_VERDICT] = Verdict(*v)
    return ScoreResult(*values)


def score_dir(
    traces_dir: str | Path,
    annotations_dir: str | Path,
    *,
    evaluator: str = "essential",
    options: EvalOptions | None = None,
    lcs_threshold: float = 1.0,
    progress: Callable[[Iterable[Path]], Iterable[Path]] | None = None,
    annotations: dict[str, Annotation] | None = None,
    workers: int = 1,
) -> list[ScoreResult]:
    """Score every trace below ``traces_dir`` against ``annotations_dir/<task_id>.json``.

    ``progress`` wraps the list of trace folders (e.g. ``tqdm``). ``annotations`` may be
    given pre-loaded (then ``annotations_dir`` is only used for messages). ``workers``
    processes score the traces (``1``: in this process); the results are the same whatever
    the number. Results come in trace-folder order; see :func:`to_frame` for a pandas table.
    """
    if evaluator not in EVALUATORS:
        raise ValueError(f"unknown evaluator {evaluator!r}; known: {EVALUATORS}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    load_errors: dict[str, str] = {}
    if annotations is None:
        loaded = load_annotations_dir(annotations_dir)
        for err in loaded.errors:
            load_errors[Path(getattr(err, "source", "")).stem] = str(err)
        annotations = loaded
    paths = _trace_folders(traces_dir)
    job = _Job(dict(annotations), load_errors, evaluator, options, lcs_threshold, tuple(paths))
    ticker = _Ticker(paths, progress)
    scored = run_stealing(
        job.score_at, len(paths), workers, tick=ticker.tick, pack=_pack, unpack=_unpack
    )
    ticker.close()
    return [
        _lost(paths[i], evaluator, res.reason) if isinstance(res, Lost) else res
        for i, res in enumerate(scored)
    ]


class _Ticker:
    """Advances ``progress(paths)`` once per result. The bar is made at the first result,
    after :func:`run_stealing` has forked its workers (a progress bar may start a thread)."""

    def __init__(
        self, paths: list[str], progress: Callable[[Iterable[Path]], Iterable[Path]] | None
    ) -> None:
        self._paths = paths
        self._progress = progress
        self._it: Iterator[Path] | None = None

    def tick(self) -> None:
        if self._progress is None:
            return
        if self._it is None:
            self._it = iter(self._progress([Path(p) for p in self._paths]))
        next(self._it, None)

    def close(self) -> None:
        if self._it is not None:
            for _ in self._it:  # run it out: a bar closes when its iterable ends
                pass


def _lost(path: str, evaluator: str, why: str) -> ScoreResult:
    name = os.path.basename(path)
    return ScoreResult(name, "", "", path, evaluator, "error", f"not scored: {why}")


def _score_one(
    path: str | Path,
    annotations: dict[str, Annotation],
    load_errors: dict[str, str],
    evaluator: str,
    options: EvalOptions | None,
    lcs_threshold: float,
) -> ScoreResult:
    base = ScoreResult(os.path.basename(path), "", "", str(path), evaluator, "error", "")
    try:
        trace = read_trace(path)
    except LlamaTouchError as exc:
        base.reason = f"trace unreadable: {exc}"
        return base
    base.episode_id = trace.manifest.episode_id
    base.task_id = trace.manifest.task.id
    base.app = trace.manifest.task.app
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


@dataclass(slots=True)
class StatusCounts:
    """How many results have each status."""

    total: int = 0
    success: int = 0
    fail: int = 0
    error: int = 0

    def add(self, status: str) -> None:
        self.total += 1
        if status == "success":
            self.success += 1
        elif status == "fail":
            self.fail += 1
        else:
            self.error += 1

    def to_json(self) -> dict[str, int]:
        return {"total": self.total, "success": self.success, "fail": self.fail,
                "error": self.error}


@dataclass(slots=True)
class ScoreSummary:
    """Counts by status, overall and by app (``?``: the app is unknown)."""

    overall: StatusCounts = field(default_factory=StatusCounts)
    by_app: dict[str, StatusCounts] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """``{total, success, fail, error, by_app: {app: {...}}}`` (``score --format json``)."""
        out: dict[str, Any] = self.overall.to_json()
        out["by_app"] = {app: c.to_json() for app, c in self.by_app.items()}
        return out


def summarize(results: list[ScoreResult]) -> ScoreSummary:
    """Counts by status, overall and by app."""
    summary = ScoreSummary()
    for r in results:
        summary.overall.add(r.status)
        summary.by_app.setdefault(r.app or "?", StatusCounts()).add(r.status)
    return summary
