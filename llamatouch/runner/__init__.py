"""The eval runner behind ``llamatouch eval``: episodes, devices, scoring, results, resume.

See ``docs/eval.md``.
"""

from llamatouch.runner.results import EpisodeResult, RunSummary, collect_results, summarize
from llamatouch.runner.runner import EvalConfig, RunError, RunOutcome, run_eval

__all__ = [
    "EpisodeResult",
    "EvalConfig",
    "RunError",
    "RunOutcome",
    "RunSummary",
    "collect_results",
    "run_eval",
    "summarize",
]
