"""The executor interface: how episodes are spread over workers.

An :class:`Executor` takes a list of :class:`~llamatouch.runner.work.EpisodeWork` items and a
:class:`~llamatouch.runner.worker.WorkerContext`, runs ``len(context.device_specs)`` workers,
and yields exactly one final :class:`~llamatouch.runner.work.EpisodeOutcome` per item, in the
order they finish. Inside each worker an :class:`~llamatouch.runner.worker.EpisodeWorker` does
the work (agent, device, infrastructure retries, trace, scoring); the trace is written by the
worker into ``context.trace_root`` and the manifest on disk is what results are built from.

The contract every executor keeps:

- **Crash isolation.** A worker that dies while it runs an item (a native crash, a signal, an
  exit) costs that item one attempt: the executor replaces the worker and hands
  :func:`after_worker_death` the item and a description of the death; that returns either the
  item to run again (attempts left) or the final ``crash`` outcome (it also writes the crash
  into the item's trace manifest). Nothing else is retried here: infrastructure retries happen
  inside the worker.
- **Workers die with the driver** (even on ``kill -9`` of the driver).
- A Python exception that escapes a worker (a bug, not an agent's: those are recorded in the
  episode) stops the run: raise :class:`WorkerError` from :meth:`Executor.run`.
- Stop the workers when the iteration ends early (``KeyboardInterrupt``, the consumer's
  exception, ``close()`` of the generator): unfinished episodes stay ``running`` on disk and are
  re-run by ``--resume``.

:class:`~llamatouch.runner.local.LocalProcessExecutor` (worker processes on this machine) is
the default; :class:`InProcessExecutor` runs everything in the calling process (no isolation;
for debugging with ``pdb``).
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from pathlib import Path

from llamatouch.errors import LlamaTouchError
from llamatouch.runner.recorder import record_unrun
from llamatouch.runner.work import EpisodeOutcome, EpisodeStatus, EpisodeWork
from llamatouch.runner.worker import EpisodeWorker, WorkerContext


class WorkerError(LlamaTouchError):
    """A worker failed outside any episode's accounting (a bug): the run stops."""


class Executor(abc.ABC):
    """Runs episode work items on workers (see the module docstring for the contract)."""

    @abc.abstractmethod
    def run(
        self, work: Sequence[EpisodeWork], context: WorkerContext
    ) -> Iterator[EpisodeOutcome]:
        """Yield one final outcome per item of ``work``, as they finish.

        Raises:
            WorkerError: a worker failed outside an episode (the run stops).
        """


class InProcessExecutor(Executor):
    """Runs every episode in the calling process, one at a time, on worker 0's device.

    No crash isolation (a native crash ends the run) and no parallelism: for debugging.
    """

    def run(
        self, work: Sequence[EpisodeWork], context: WorkerContext
    ) -> Iterator[EpisodeOutcome]:
        worker = EpisodeWorker(context, 0)
        try:
            for item in work:
                yield worker.run(item)
        finally:
            worker.close()


def step_reached(context: WorkerContext, item: EpisodeWork) -> int:
    """The step an episode had reached (complete steps in its trace on disk)."""
    from llamatouch.trace.format import read_trace

    folder = Path(context.trace_root) / item.spec.episode_id
    try:
        manifest = read_trace(folder).manifest
    except LlamaTouchError:
        return 0
    return manifest.num_steps if manifest.episode_id == item.spec.episode_id else 0


def after_worker_death(
    item: EpisodeWork, context: WorkerContext, death: str
) -> EpisodeWork | EpisodeOutcome:
    """What to do with the item a worker was running when it died.

    Args:
        item: the item.
        context: the run's worker context (retry budget, trace folder).
        death: how the worker died (:func:`llamatouch.procutil.describe_exit`).

    Returns:
        The item again (one more attempt spent) while ``context.infra_retries`` allows, else
        the final ``crash`` outcome, recorded in the item's trace manifest (the steps written
        before the crash are kept as evidence).
    """
    failure = f"worker {death} at step {step_reached(context, item)}"
    retry = item.retried(failure)
    if retry.attempts_before <= context.infra_retries:
        return retry
    attempts = retry.attempts_before
    error = f"crash: {failure} (after {attempts} attempt(s): {'; '.join(retry.failures_before)})"
    steps = record_unrun(
        Path(context.trace_root) / item.spec.episode_id,
        item.spec,
        context.driver_agent_info(),
        EpisodeStatus.CRASH,
        error,
        attempts,
        keep_steps=True,
    )
    return EpisodeOutcome(item.spec.episode_id, EpisodeStatus.CRASH, steps, attempts, error)
