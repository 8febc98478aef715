"""One episode: reset the device to the task's start, run the agent, record the trace.

The loop below is all there is to an episode; the device side (:class:`EpisodeEnv`) and the
trace side (:class:`TraceRecorder`) live in their own modules.

Failure accounting (the heart of honest results):

- an :class:`~llamatouch.errors.AgentError` from the agent (``reset`` or ``step``) -- or any
  other exception from the agent's own code (recorded with its traceback) -- or an invalid
  action (e.g. a tap outside the screen) ends the episode as ``agent_error`` with the evidence
  in the trace;
- a :class:`~llamatouch.errors.DeviceError`, or an
  :class:`~llamatouch.errors.LLMUnavailableError` from the agent (the LLM service could not be
  reached after the backend's retries; also when the agent wrapped it in an ``AgentFailure``),
  is an infrastructure failure: it propagates as :class:`InfraFailure` so that the runner
  retries the whole episode;
- anything else is a bug and propagates.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from llamatouch.actions import Action, Finish
from llamatouch.agent import (
    Agent,
    AgentFailure,
    AgentStep,
    AgentTask,
    DeviceCapabilities,
    StepHistory,
)
from llamatouch.device.base import Effect, Observation
from llamatouch.errors import LLMUnavailableError
from llamatouch.runner.env import EpisodeEnv, InfraFailure
from llamatouch.runner.recorder import TraceRecorder, describe, episode_manifest
from llamatouch.runner.work import EpisodeSpec, EpisodeStatus
from llamatouch.trace.format import StepRecord

__all__ = [
    "EpisodeEnd",
    "EpisodeEnv",
    "EpisodeSpec",
    "InfraFailure",
    "agent_info",
    "llm_unavailable",
    "run_episode",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class EpisodeEnd:
    """How an episode that ran to its end ended (infrastructure failures raise instead).

    Attributes:
        status: ``finished``, ``step_limit`` or ``agent_error``.
        steps: steps written to the trace.
        actions: actions the agent took (``finish`` included).
        error: the agent error, if any.
    """

    status: EpisodeStatus
    steps: int
    actions: int
    error: str = ""


def agent_info(agent: Agent) -> dict[str, Any]:
    """The ``agent`` object of a trace manifest: ``Agent.describe()`` and the oracle flag."""
    return {**agent.describe(), "oracle": bool(type(agent).oracle)}


def run_episode(
    spec: EpisodeSpec,
    agent: Agent,
    env: EpisodeEnv,
    capabilities: DeviceCapabilities,
    trace_dir: Path,
    *,
    infra_attempts: int = 0,
) -> EpisodeEnd:
    """Run one episode and record it in ``trace_dir`` (restarted clean if it exists).

    The agent gets the task's :class:`AgentTask` view (the ground truth only if its class is an
    oracle). Raises :class:`InfraFailure` on device failures and an unavailable LLM.
    """
    manifest = episode_manifest(spec, agent_info(agent), capabilities)
    recorder = TraceRecorder(trace_dir, manifest, infra_attempts)
    view = AgentTask.from_task(
        spec.task, max_steps=spec.max_steps, trial=spec.trial, world=spec.world,
        oracle=type(agent).oracle,
    )
    _, failed, dt = _timed(0, lambda: agent.reset(view, capabilities))
    obs = env.reset(spec.task)
    if failed is not None:
        rec = recorder.observed(obs, 0)
        recorder.agent_failed(rec, f"agent reset failed: {describe(failed)}", failed, dt)
        return _end(recorder, env, rec, obs, EpisodeStatus.AGENT_ERROR)
    history: list[StepHistory] = []
    while True:
        rec = recorder.observed(obs, env.index)
        if recorder.actions >= spec.max_steps:
            rec.reasoning = f"step limit ({spec.max_steps}) reached"
            return _end(recorder, env, rec, obs, EpisodeStatus.STEP_LIMIT)
        answer, failed, dt = _timed(rec.index, _asker(agent, obs, history))
        if failed is not None or answer is None:
            exc = failed or AgentFailure("no answer")
            msg = f"agent failed at step {rec.index}: {describe(exc)}"
            recorder.agent_failed(rec, msg, exc, dt)
            return _end(recorder, env, rec, obs, EpisodeStatus.AGENT_ERROR)
        recorder.answered(rec, answer, dt)
        if isinstance(answer.action, Finish):
            recorder.finished(rec, answer.action.status)
            return _end(recorder, env, rec, obs, EpisodeStatus.FINISHED)
        outcome = env.step(answer.action)
        recorder.acted(rec, outcome)
        if outcome.observation is None:
            rec.error = f"invalid action at step {rec.index}: {outcome.invalid}"
            return _end(recorder, env, rec, obs, EpisodeStatus.AGENT_ERROR)
        recorder.write(rec, obs)
        history.append(_history(rec.index, answer, outcome.result, obs))
        obs = outcome.observation


def _end(
    recorder: TraceRecorder,
    env: EpisodeEnv,
    rec: StepRecord,
    obs: Observation,
    status: EpisodeStatus,
) -> EpisodeEnd:
    recorder.write(rec, obs)
    recorder.finish(status, rec.error, env.device_s)
    steps = recorder.writer.manifest.num_steps
    return EpisodeEnd(status, steps, recorder.actions, rec.error or "")


def _timed(step: int, call: Callable[[], T]) -> tuple[T | None, Exception | None, float]:
    """``(result, None, seconds)``, or ``(None, the agent's exception, seconds)``; an
    unavailable LLM is raised as an :class:`InfraFailure` instead."""
    t0 = time.perf_counter()
    try:
        return call(), None, time.perf_counter() - t0
    except Exception as exc:  # an agent's own bug fails its episode, visibly, not the run
        cause = llm_unavailable(exc)
        if cause is not None:
            msg = f"LLM unavailable at step {step}: {cause}"
            raise InfraFailure(msg, step, device=False) from exc
        return None, exc, time.perf_counter() - t0


def _asker(
    agent: Agent, obs: Observation, history: list[StepHistory]
) -> Callable[[], AgentStep]:
    """``agent.step`` on ``obs`` (with a copy of the history), its answer checked."""

    def ask() -> AgentStep:
        answer: object = agent.step(obs, list(history))
        if not isinstance(answer, AgentStep) or not isinstance(answer.action, Action):
            raise AgentFailure(
                f"step() returned {type(answer).__name__}, not an AgentStep with an Action"
            )
        return answer

    return ask


def _history(index: int, answer: AgentStep, result: Any, obs: Observation) -> StepHistory:
    return StepHistory(
        index=index,
        action=answer.action,
        reasoning=answer.reasoning,
        effect=result.effect if result is not None else Effect.UNKNOWN,
        activity=obs.activity,
        description=answer.description,
    )


def llm_unavailable(exc: BaseException) -> BaseException | None:
    """The :class:`LLMUnavailableError` behind ``exc`` (itself, or in its ``__cause__`` /
    ``__context__`` chain, as when an agent wraps it in an ``AgentFailure``), else ``None``.

    A connection failure of an LLM client (``ConnectionError``, ``TimeoutError`` in the chain of
    an :class:`~llamatouch.errors.LLMError`) counts too, for backends that do not raise the
    typed error yet.
    """
    seen: set[int] = set()
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen and len(chain) < 32:
        seen.add(id(cur))
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    for e in chain:
        if isinstance(e, LLMUnavailableError):
            return e
    from llamatouch.errors import LLMError

    if any(isinstance(e, LLMError) for e in chain):
        for e in chain:
            if isinstance(e, ConnectionError | TimeoutError):
                return next(x for x in chain if isinstance(x, LLMError))
    return None
