"""The multi-level essential-state evaluator (and its baselines).

``evaluate(trace, annotation, options)`` walks an agent's trace against the ordered
checkpoints of an :class:`~llamatouch.essential.schema.Annotation` and returns a
:class:`Verdict`; ``score_dir`` scores a whole folder (``llamatouch score``). See
``docs/evaluator.md``.
"""

from llamatouch.evaluator.matcher import evaluate
from llamatouch.evaluator.options import EvalOptions, Evidence, Verdict
from llamatouch.evaluator.scoring import (
    ScoreResult,
    ScoreSummary,
    StatusCounts,
    score_dir,
    score_trace,
    summarize,
    to_frame,
)

__all__ = [
    "EvalOptions",
    "Evidence",
    "ScoreResult",
    "ScoreSummary",
    "StatusCounts",
    "Verdict",
    "evaluate",
    "score_dir",
    "score_trace",
    "summarize",
    "to_frame",
]
