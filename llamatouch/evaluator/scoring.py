"""Score a folder of traces against a folder of annotations (``llamatouch score``).

Every trace gets one :class:`ScoreResult`; nothing stops the run: an unreadable trace, a
missing or invalid annotation, a primitive that cannot be computed each become an ``error``
result with the reason, and the summary counts them. With ``workers > 1`` the traces are
scored by that many forked processes; the results are the same and come in the same order.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llamatouch.errors import LlamaTouchError
from llamatouch.essential.schema import Annotation, load_annotations_dir
from llamatouch.evaluator.baselines import evaluate_exact_match, evaluate_lcs
from llamatouch.evaluator.matcher import evaluate
from llamatouch.evaluator.options import EvalOptions, Evidence, Verdict
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
    a ``steps`` folder), without walking into the trace folders themselves (their step
    folders hold no traces) or following symbolic links: on 640 DroidTask traces this takes
    a tenth of the time of a recursive glob over every step folder.
    """
    base = Path(root)
    if is_trace_dir(base):
        return [base]
    out: list[Path] = []
    stack = [base]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                subdirs = [e for e in it if e.is_dir(follow_symlinks=False)]
        except OSError:
            continue
        for entry in subdirs:
            path = Path(entry.path)
            if os.path.isfile(os.path.join(entry.path, "manifest.json")) and os.path.isdir(
                os.path.join(entry.path, "steps")
            ):
                out.append(path)
            else:
                stack.append(path)
    return sorted(out)


@dataclass(frozen=True, slots=True)
class _Job:
    """What every trace of a run is scored with (handed to each worker process once).

    Forked workers inherit it (annotations, trace folders) without a copy; a worker is then
    told only which slice of ``paths`` to score and answers with packed results.
    """

    annotations: dict[str, Annotation]
    load_errors: dict[str, str]
    evaluator: str
    options: EvalOptions | None
    lcs_threshold: float
    paths: tuple[Path, ...] = ()

    def score(self, path: Path) -> ScoreResult:
        t0 = time.perf_counter()
        res = _score_one(
            path,
            self.annotations,
            self.load_errors,
            self.evaluator,
            self.options,
            self.lcs_threshold,
        )
        res.seconds = time.perf_counter() - t0
        return res


_WORKER_JOB: _Job | None = None

_EVIDENCE_FIELDS = tuple(f.name for f in fields(Evidence))
_VERDICT_FIELDS = tuple(f.name for f in fields(Verdict))
_RESULT_FIELDS = tuple(f.name for f in fields(ScoreResult))

#: a :class:`ScoreResult` as plain tuples (its fields in order; the verdict's and evidence's
#: too), which pickle several times faster than the dataclasses
_Packed = tuple[Any, ...]


def _pack(res: ScoreResult) -> _Packed:
    values = [getattr(res, name) for name in _RESULT_FIELDS]
    v = res.verdict
    if v is not None:
        packed = [getattr(v, name) for name in _VERDICT_FIELDS]
        packed[_VERDICT_FIELDS.index("evidence")] = [
            tuple(getattr(e, name) for name in _EVIDENCE_FIELDS) for e in v.evidence
        ]
        values[_RESULT_FIELDS.index("verdict")] = tuple(packed)
    return tuple(values)


def _unpack(packed: _Packed) -> ScoreResult:
    values = list(packed)
    at = _RESULT_FIELDS.index("verdict")
    if values[at] is not None:
        v = list(values[at])
        ev = _VERDICT_FIELDS.index("evidence")
        v[ev] = [Evidence(*e) for e in v[ev]]
        values[at] = Verdict(*v)
    return ScoreResult(*values)


def _init_worker(job: _Job) -> None:
    global _WORKER_JOB
    _WORKER_JOB = job


def _score_block(start: int, stop: int) -> list[_Packed]:
    """Score ``paths[start:stop]`` of the worker's job; the results packed."""
    job = _WORKER_JOB
    assert job is not None, "worker not initialised"
    return [_pack(job.score(p)) for p in job.paths[start:stop]]


def _pool(job: _Job, workers: int) -> ProcessPoolExecutor:
    """``workers`` processes that score with ``job``.

    Forked where the platform can (the parent's imports, loaded annotations and list of
    trace folders are shared, so a worker starts in milliseconds), else spawned.
    """
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(job,)
    )


def _block_size(n: int, workers: int) -> int:
    """Traces per block handed to a worker: four contiguous blocks per worker. Contiguous
    blocks keep the traces of one task (which share screens) in one worker's hierarchy
    cache, so few screens are parsed by both workers; four per worker let the last ones
    even out the workers' finishing times."""
    return max(1, -(-n // (workers * 4)))


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
    paths = find_trace_folders(traces_dir)
    job = _Job(dict(annotations), load_errors, evaluator, options, lcs_threshold, tuple(paths))
    if workers == 1 or len(paths) < 2:
        ticks = progress(paths) if progress is not None else paths
        return [job.score(p) for p in ticks]
    workers = min(workers, len(paths))
    size = _block_size(len(paths), workers)
    # the pool starts before the progress bar's thread does
    with _pool(job, workers) as pool:
        # the parent's objects go to the collector's permanent generation while the workers
        # fork, so the workers' collections never walk (and copy) the pages they share
        gc.freeze()
        try:
            blocks = [
                pool.submit(_score_block, start, min(start + size, len(paths)))
                for start in range(0, len(paths), size)
            ]
        finally:
            gc.unfreeze()
        scored = (_unpack(packed) for block in blocks for packed in block.result())
        ticks = progress(paths) if progress is not None else paths
        return [res for _, res in zip(ticks, scored, strict=True)]


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
