"""Test doubles for agent authors, shipped in the package.

Three pieces, so that a researcher can unit-test an agent without writing harness code:

- :class:`ScriptedLLM`: an :class:`~llamatouch.llm.base.LLMBackend` that answers from a list of
  replies and keeps every prompt it was sent (for asserting on prompts).
- :func:`virtual_device`: the virtual device on a shipped or recorded world, in process (the
  real replay engine, with optional fault injection; no adb, no emulator).
- :func:`run_one_episode`: one whole episode of an agent *instance* on a task of a suite, on the
  in-process virtual device, through the same worker code as ``llamatouch eval`` (the agent gets
  the same :class:`~llamatouch.agent.AgentTask` view, the trace is written and scored the same
  way). It returns an :class:`EpisodeReport` with the trace read back.

Example::

    from llamatouch.testing import run_one_episode

    report = run_one_episode(MyAgent(AgentOptions()), "clock-new-alarm-0630")
    assert report.verdict == "success", report.reason

This module sits at the top of the import layers (beside the CLI): it may import the runner
and the virtual device; library code never imports it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llamatouch.agent import Agent, AgentOptions
from llamatouch.llm.base import ChatMessage, LLMBackend, LLMResult, LLMUsage
from llamatouch.runner.devices import DeviceSlot
from llamatouch.runner.scorer import default_annotations_dir
from llamatouch.runner.work import EpisodeSpec, EpisodeWork
from llamatouch.runner.worker import EpisodeWorker, WorkerContext
from llamatouch.tasks import load_suite
from llamatouch.trace.format import Trace, read_trace
from llamatouch.world import World
from llamatouch_emulator.virtual import FaultConfig, VirtualDevice
from llamatouch_emulator.worlds import load_named_world

__all__ = [
    "EpisodeReport",
    "FaultConfig",
    "ScriptedLLM",
    "VirtualDevice",
    "run_one_episode",
    "virtual_device",
]


class ScriptedLLM(LLMBackend):
    """An LLM backend that answers from a script.

    Each call returns the next reply; the last one is repeated once the script runs out.
    Usage is estimated (4 characters a token) so that cost accounting has numbers to add.

    Args:
        replies: the answers, in order (at least one).

    Attributes:
        prompts: every prompt received, in order (a copy of its messages).
    """

    name = "scripted"

    def __init__(self, replies: Sequence[str]) -> None:
        if not replies:
            raise ValueError("ScriptedLLM needs at least one reply")
        self._replies = list(replies)
        self.prompts: list[list[ChatMessage]] = []

    def complete(self, messages: list[ChatMessage], **kwargs: Any) -> LLMResult:
        self.prompts.append(list(messages))
        text = self._replies.pop(0) if len(self._replies) > 1 else self._replies[0]
        prompt_chars = sum(len(m.content) for m in messages)
        usage = LLMUsage(prompt_chars // 4, len(text) // 4, 0, 0.0, 0.0, 0.0)
        return LLMResult(text, usage, "scripted", "stop")


def virtual_device(
    world: str | World = "demo", *, seed: int = 0, faults: FaultConfig | None = None
) -> VirtualDevice:
    """The in-process virtual device on ``world`` (a shipped world's name, or a loaded world)."""
    loaded = load_named_world(world) if isinstance(world, str) else world
    return VirtualDevice(loaded, seed=seed, faults=faults)


@dataclass(frozen=True, slots=True)
class EpisodeReport:
    """What :func:`run_one_episode` returns.

    Attributes:
        status: how the episode ended (``finished``, ``step_limit``, ``agent_error``...).
        verdict: the evaluator's verdict (``success``, ``fail``, ``error``), or ``"unscored"``
            when the task has no annotation.
        reason: the verdict's reason (or the episode's error).
        trace: the trace as written to disk and read back.
        steps: steps in the trace.
    """

    status: str
    verdict: str
    reason: str
    trace: Trace = field(repr=False)
    steps: int = 0


def run_one_episode(
    agent: Agent,
    task_id: str,
    *,
    suite: str = "demo",
    out: str | Path | None = None,
    max_steps: int | None = None,
    trial: int = 0,
    seed: int = 0,
) -> EpisodeReport:
    """Run ``agent`` on one task on the in-process virtual device, and score it.

    Args:
        agent: the agent instance (it is closed at the end, as a worker closes its agent).
        task_id: the task's id in ``suite``.
        suite: a shipped suite's name or a suite file.
        out: folder for the trace (default: a new temporary folder).
        max_steps: the step limit (default: the task's own).
        trial: the trial number the agent is told.
        seed: the virtual device's seed.
    """
    tasks = load_suite(suite)
    task = tasks.get(task_id)
    root = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="llamatouch-episode-"))
    annotations = default_annotations_dir(tasks.suite, tasks.source)
    context = WorkerContext(
        agent_factory=lambda _options: agent,
        agent_options=AgentOptions(seed=seed, max_steps=max_steps or task.max_steps),
        agent_label=type(agent).__name__,
        oracle=bool(type(agent).oracle),
        device_factory=DeviceSlot,
        device_specs=("virtual",),
        trace_root=str(root),
        world_base=str(Path(tasks.source).parent) if tasks.source else "",
        seed=seed,
        record_packages=False,
        infra_retries=0,
        annotations=str(annotations) if annotations else "",
    )
    spec = EpisodeSpec(
        episode_id=f"{task.id}__{type(agent).__name__}__t{trial}",
        task=task,
        suite=tasks.suite,
        trial=trial,
        max_steps=max_steps or task.max_steps,
        world=task.world or tasks.world,
    )
    worker = EpisodeWorker(context, 0)
    try:
        outcome = worker.run(EpisodeWork(spec))
    finally:
        worker.close()
    trace = read_trace(root / spec.episode_id)
    verdict = trace.manifest.verdict
    return EpisodeReport(
        status=str(outcome.status),
        verdict=str(verdict.status) if verdict is not None else "unscored",
        reason=(verdict.reason if verdict is not None else "") or outcome.error,
        trace=trace,
        steps=outcome.steps,
    )
