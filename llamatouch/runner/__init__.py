"""The eval runner behind ``llamatouch eval``: episodes, workers, devices, scoring, results,
resume.

See ``docs/eval.md``. The pieces, from the inside out: :mod:`.env` (the device side of an
episode), :mod:`.recorder` (its trace), :mod:`.episode` (the loop), :mod:`.worker` (one agent
and one device running episodes), :mod:`.executor` (the interface that spreads episodes over
workers) and :mod:`.local` (worker processes), :mod:`.runner` (plan, run, score, results).
"""

from llamatouch.runner.executor import Executor, InProcessExecutor, WorkerError
from llamatouch.runner.local import LocalProcessExecutor
from llamatouch.runner.results import EpisodeResult, RunSummary, collect_results, summarize
from llamatouch.runner.runconfig import EvalConfig, ResumeConflict, RunError, resume_config
from llamatouch.runner.runner import RunOutcome, run_eval
from llamatouch.runner.work import EpisodeOutcome, EpisodeSpec, EpisodeWork
from llamatouch.runner.worker import (
    AgentFactory,
    DeviceFactory,
    EpisodeWorker,
    RegistryAgentFactory,
    WorkerContext,
)

__all__ = [
    "AgentFactory",
    "DeviceFactory",
    "EpisodeOutcome",
    "EpisodeResult",
    "EpisodeSpec",
    "EpisodeWork",
    "EpisodeWorker",
    "EvalConfig",
    "Executor",
    "InProcessExecutor",
    "LocalProcessExecutor",
    "RegistryAgentFactory",
    "ResumeConflict",
    "RunError",
    "RunOutcome",
    "RunSummary",
    "WorkerContext",
    "WorkerError",
    "collect_results",
    "resume_config",
    "run_eval",
    "summarize",
]
