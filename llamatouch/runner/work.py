"""The records that cross between the eval driver and its workers (all picklable).

An :class:`~llamatouch.runner.executor.Executor` takes :class:`EpisodeWork` items and gives
back one :class:`EpisodeOutcome` per item; the trace itself is written by the worker into
``<run>/traces/<episode id>/`` (the manifest on disk is the source of truth for results).
"""

from __future__ import annotations

from dataclasses import dataclass

from llamatouch.tasks import Task
from llamatouch.trace.records import EpisodeStatus

__all__ = ["DONE_STATUSES", "EpisodeOutcome", "EpisodeSpec", "EpisodeStatus", "EpisodeWork"]


#: Statuses of finished work: not re-run on ``--resume`` (``running`` and ``infra_error`` are;
#: a ``crash`` already used its retry budget and is final).
DONE_STATUSES = frozenset(
    {
        EpisodeStatus.FINISHED,
        EpisodeStatus.STEP_LIMIT,
        EpisodeStatus.AGENT_ERROR,
        EpisodeStatus.CRASH,
    }
)


@dataclass(frozen=True, slots=True)
class EpisodeSpec:
    """What to run.

    Attributes:
        episode_id: ``<task>__<agent>__t<trial>`` (the trace folder's name).
        task: the task (with its ground truth: only the runner and oracle agents see it).
        suite: the suite's name (annotations are looked up by it).
        trial: 0-based trial number.
        max_steps: the step limit enforced (the task's own, or the run's ``--max-steps``).
        world: the world the task runs in on virtual devices (``task.world``, else the
            suite's; ``""``: none).
    """

    episode_id: str
    task: Task
    suite: str
    trial: int
    max_steps: int
    world: str = ""


@dataclass(frozen=True, slots=True)
class EpisodeWork:
    """One episode for a worker.

    Attributes:
        spec: the episode.
        attempts_before: attempts already spent on it (a worker died running it); the worker
            starts counting its own infrastructure retries from there.
        failures_before: what ended those attempts (``"worker killed by SIGSEGV at step 2"``).
    """

    spec: EpisodeSpec
    attempts_before: int = 0
    failures_before: tuple[str, ...] = ()

    def retried(self, failure: str) -> EpisodeWork:
        """The same episode, one more attempt spent (``failure`` says why)."""
        return EpisodeWork(
            self.spec, self.attempts_before + 1, (*self.failures_before, failure)
        )


@dataclass(frozen=True, slots=True)
class EpisodeOutcome:
    """How one episode ended (after every retry).

    Attributes:
        episode_id: the episode.
        status: how it ended (see :class:`EpisodeStatus`).
        steps: steps written to its trace.
        attempts: attempts spent on it (1 when the first one went through).
        error: the agent, infrastructure or crash error, if any.
        worker: the index of the worker that gave this outcome (-1: the driver wrote it).
    """

    episode_id: str
    status: EpisodeStatus
    steps: int
    attempts: int
    error: str = ""
    worker: int = -1
