"""Scoring finished episodes with the essential-state evaluator (annotations loaded once)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from llamatouch.errors import LlamaTouchError
from llamatouch.fsutil import atomic_write_json
from llamatouch.paths import annotations_dir
from llamatouch.trace.format import read_trace
from llamatouch.trace.records import VerdictRecord, VerdictStatus

if TYPE_CHECKING:  # the evaluator is imported when the first trace is scored
    from llamatouch.essential.schema import Annotation
    from llamatouch.evaluator import EvalOptions

log = logging.getLogger(__name__)


def default_annotations_dir(suite: str, suite_source: str = "") -> Path | None:
    """``annotations/<suite>/`` shipped with llamatouch, else ``<suite file dir>/annotations``
    (where ``llamatouch datasets import`` writes them), else ``None``."""
    shipped = annotations_dir() / suite
    if shipped.is_dir():
        return shipped
    if suite_source:
        beside = Path(suite_source).parent / "annotations"
        if beside.is_dir():
            return beside
    return None


class Scorer:
    """Scores traces of one suite. Thread-safe (one evaluation at a time).

    Args:
        folder: annotations folder (``None``: every episode is ``unscored``).
        require_completion: the evaluator's option that the agent must have declared
            completion.
        allow_shared_screen: the evaluator's option that one screen may satisfy several
            consecutive checkpoints.
        skip_types: primitive types the evaluator ignores.
    """

    def __init__(
        self,
        folder: Path | None,
        *,
        require_completion: bool = False,
        allow_shared_screen: bool = False,
        skip_types: tuple[str, ...] = (),
    ) -> None:
        self.folder = folder
        self.require_completion = require_completion
        self.allow_shared_screen = allow_shared_screen
        self.skip_types = skip_types
        self._lock = threading.Lock()
        self.annotations: dict[str, Annotation] = {}
        self.load_errors: list[str] = []
        if folder is not None:
            from llamatouch.essential.schema import load_annotations_dir

            loaded = load_annotations_dir(folder)
            self.annotations = dict(loaded)
            self.load_errors = [str(e) for e in loaded.errors]
        self._options: EvalOptions | None = None

    def _evaluator_options(self) -> EvalOptions:
        if self._options is None:
            from llamatouch.evaluator import EvalOptions

            self._options = EvalOptions(
                require_completion=self.require_completion,
                allow_shared_screen=self.allow_shared_screen,
                skip_types=frozenset(self.skip_types),
            )
        return self._options

    def has(self, task_id: str) -> bool:
        return task_id in self.annotations

    def score(self, trace_dir: Path, task_id: str) -> VerdictRecord | None:
        """The verdict as the manifest keeps it (``None`` when the task has no annotation).

        An evaluator failure is a verdict ``error`` with its reason, never an exception.
        """
        ann = self.annotations.get(task_id)
        if ann is None:
            return None
        from llamatouch.evaluator import evaluate

        with self._lock:
            try:
                trace = read_trace(trace_dir)
                verdict = evaluate(trace, ann, self._evaluator_options())
                return VerdictRecord.from_json(verdict.to_json(), trace_dir, "verdict")
            except LlamaTouchError as exc:
                return VerdictRecord(
                    VerdictStatus.ERROR, f"{type(exc).__name__}: {exc}", task_id=task_id
                )


def score_into(scorer: Scorer, trace_dir: Path, task_id: str) -> None:
    """Score the trace in ``trace_dir`` and store the verdict in its manifest (nothing when the
    task has no annotation)."""
    verdict = scorer.score(trace_dir, task_id)
    if verdict is None:
        return
    # rewrite only the manifest (TraceWriter would wipe the folder): load, set, save
    manifest = read_trace(trace_dir).manifest
    manifest.verdict = verdict
    atomic_write_json(trace_dir / "manifest.json", manifest.to_json())
