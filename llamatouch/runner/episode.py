"""One episode: reset the device to the task's start, run the agent, record the trace.

Failure accounting (the heart of honest results):

- an :class:`~llamatouch.errors.AgentError` from the agent (``reset`` or ``step``) — or any
  other exception from the agent's own code (recorded with its traceback) — or an
  :class:`~llamatouch.errors.ActionError` from the device for the agent's action (e.g. a tap
  outside the screen), ends the episode as ``agent_error`` with the evidence in the trace;
- a :class:`~llamatouch.errors.DeviceError` is an infrastructure failure: it propagates as
  :class:`InfraFailure` so the runner can retry the whole episode on a recovered device;
- anything else is a bug and propagates.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from llamatouch.actions import Action, Finish, check_on_screen
from llamatouch.agent import (
    Agent,
    AgentFailure,
    AgentStep,
    DeviceCapabilities,
    LLMUsageSummary,
    StepHistory,
)
from llamatouch.device.base import ActResult, Device, Observation
from llamatouch.errors import ActionError, AgentError, DeviceError, LlamaTouchError
from llamatouch.tasks import Task
from llamatouch.trace.format import StepRecord, TraceManifest, TraceWriter

log = logging.getLogger(__name__)


class InfraFailure(LlamaTouchError):
    """A device failure during an episode (the episode is to be retried or reported apart)."""

    def __init__(self, message: str, step: int) -> None:
        super().__init__(message)
        self.step = step


@dataclass(frozen=True, slots=True)
class EpisodeSpec:
    """What to run.

    Attributes:
        episode_id: ``<task>__<agent>__t<trial>`` (the trace folder's name).
        task: the task.
        suite: the suite's name (annotations are looked up by it).
        trial: 0-based trial number.
        max_steps: step limit (``min`` of the task's and the run's).
    """

    episode_id: str
    task: Task
    suite: str
    trial: int
    max_steps: int


def _obs_step(obs: Observation, index: int) -> StepRecord:
    return StepRecord(
        index=index,
        activity=obs.activity,
        package=obs.package,
        observed_at=obs.finished_at or time.time(),
        timings={f"observe.{k}": v for k, v in obs.timings.items()}
        | {"observe": max(0.0, obs.finished_at - obs.started_at)},
        installed_packages=obs.installed_packages,
        width=obs.screen.width,
        height=obs.screen.height,
    )


def episode_manifest(
    spec: EpisodeSpec, agent: Agent, capabilities: DeviceCapabilities | None = None
) -> TraceManifest:
    """The manifest an episode's trace starts with."""
    task = spec.task
    device: dict[str, Any] = {}
    if capabilities is not None:
        device = {
            "serial": capabilities.serial,
            "kind": capabilities.kind,
            "width": capabilities.width,
            "height": capabilities.height,
            "world": capabilities.world,
        }
    return TraceManifest(
        episode_id=spec.episode_id,
        task={
            "id": task.id,
            "suite": spec.suite,
            "app": task.app,
            "instruction": task.instruction,
            "trial": spec.trial,
        },
        agent=agent.describe(),
        device=device,
    )


def reset_to_task(device: Device, task: Task) -> None:
    """Put ``device`` at the task's start: a recorded start state on virtual devices that can
    jump to one, else the task's app freshly launched."""
    jump: Callable[[str], None] | None = getattr(device, "reset_to_state", None)
    if task.start_state and jump is not None:
        jump(task.start_state)
    else:
        device.reset(task.app)


def run_episode(
    spec: EpisodeSpec,
    agent: Agent,
    device: Device,
    capabilities: DeviceCapabilities,
    trace_dir: Path,
    *,
    infra_attempts: int = 0,
    record_packages: bool = True,
    reset: Callable[[Task], None] | None = None,
) -> TraceWriter:
    """Run one episode and record it in ``trace_dir`` (restarted clean if it exists).

    ``reset(task)`` puts the device at the task's start (default :func:`reset_to_task`).
    Returns the writer (its manifest has ``status`` set and ``usage`` filled in). Raises
    :class:`InfraFailure` on device failures.
    """
    task = spec.task
    manifest = episode_manifest(spec, agent, capabilities)
    writer = TraceWriter(trace_dir, manifest)
    usage = LLMUsageSummary()
    agent_s = 0.0
    device_s = 0.0
    actions = 0
    history: list[StepHistory] = []
    t_start = time.perf_counter()

    def totals() -> dict[str, Any]:
        return usage.to_json() | {
            "agent_s": agent_s,
            "device_s": device_s,
            "wall_s": time.perf_counter() - t_start,
            "actions": actions,
            "infra_attempts": infra_attempts,
        }

    def end(status: str, error: str | None = None) -> TraceWriter:
        writer.update(usage=totals())
        writer.finish(status, error)
        return writer

    index = 0
    try:
        t0 = time.perf_counter()
        if reset is not None:
            reset(task)
        else:
            reset_to_task(device, task)
        device_s += time.perf_counter() - t0
    except DeviceError as exc:
        raise InfraFailure(f"reset before step 0: {exc}", 0) from exc
    except ActionError as exc:  # e.g. an unknown start state: the task file is wrong
        raise InfraFailure(f"reset to the task's start failed: {exc}", 0) from exc
    try:
        t0 = time.perf_counter()
        # the agent sees which trial this is in task.meta["trial"] (seeded agents vary by it)
        agent.reset(replace(task, meta={**task.meta, "trial": spec.trial}), capabilities)
        agent_s += time.perf_counter() - t0
    except Exception as exc:  # an agent's own bug fails its episode, visibly, not the run
        obs = _observe(device, record_packages, 0)
        rec = _obs_step(obs, 0)
        rec.error = f"agent reset failed: {_describe(exc)}"
        rec.extra["agent_evidence"] = _evidence(exc)
        writer.write_step(rec, obs.screenshot_png, obs.hierarchy_xml)
        return end("agent_error", rec.error)

    while True:
        t0 = time.perf_counter()
        obs = _observe(device, record_packages, index)
        device_s += time.perf_counter() - t0
        rec = _obs_step(obs, index)
        if actions >= spec.max_steps:
            rec.reasoning = f"step limit ({spec.max_steps}) reached"
            writer.write_step(rec, obs.screenshot_png, obs.hierarchy_xml)
            return end("step_limit")
        t0 = time.perf_counter()
        try:
            answer = agent.step(obs, list(history))
            if not isinstance(answer, AgentStep) or not isinstance(answer.action, Action):
                raise AgentFailure(
                    f"step() returned {type(answer).__name__}, not an AgentStep with an Action"
                )
        except Exception as exc:  # an agent's own bug fails its episode, visibly, not the run
            agent_s += time.perf_counter() - t0
            rec.timings["agent"] = time.perf_counter() - t0
            rec.error = f"agent failed at step {index}: {_describe(exc)}"
            rec.extra["agent_evidence"] = _evidence(exc)
            if isinstance(exc, AgentFailure):
                rec.llm = _usage_of(exc)
                usage.merge(_summary_of(rec.llm))
            writer.write_step(rec, obs.screenshot_png, obs.hierarchy_xml)
            return end("agent_error", rec.error)
        dt = time.perf_counter() - t0
        agent_s += dt
        usage.merge(answer.usage)
        rec.timings["agent"] = dt
        rec.reasoning = answer.reasoning
        rec.llm = answer.usage.to_json()
        if answer.extra:
            rec.extra["agent"] = _jsonable(answer.extra)
        rec.action = answer.action.to_json()
        actions += 1
        if isinstance(answer.action, Finish):
            rec.action_result = {"ok": True, "effect": "finished", "detail": answer.action.status}
            writer.write_step(rec, obs.screenshot_png, obs.hierarchy_xml)
            return end("finished")
        t0 = time.perf_counter()
        try:
            check_on_screen(answer.action, obs.screen.width, obs.screen.height)
            result = device.act(answer.action)
        except ActionError as exc:
            rec.timings["act"] = time.perf_counter() - t0
            rec.error = f"invalid action at step {index}: {exc}"
            rec.action_result = {"ok": False, "effect": "invalid", "detail": str(exc)}
            writer.write_step(rec, obs.screenshot_png, obs.hierarchy_xml)
            return end("agent_error", rec.error)
        except DeviceError as exc:
            raise InfraFailure(f"device failed acting at step {index}: {exc}", index) from exc
        dt = time.perf_counter() - t0
        device_s += dt
        rec.timings["act"] = dt
        rec.acted_at = time.time()
        rec.action_result = _result_json(result)
        writer.write_step(rec, obs.screenshot_png, obs.hierarchy_xml)
        history.append(
            StepHistory(
                index=index,
                action=answer.action,
                reasoning=answer.reasoning,
                effect=result.effect,
                activity=obs.activity,
                description=answer.description,
            )
        )
        index += 1


def _observe(device: Device, record_packages: bool, index: int) -> Observation:
    try:
        return device.observe(with_packages=record_packages)
    except DeviceError as exc:
        raise InfraFailure(f"device failed observing step {index}: {exc}", index) from exc


def _result_json(r: ActResult) -> dict[str, Any]:
    return {
        "ok": r.ok,
        "effect": r.effect,
        "detail": r.detail,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "timings": dict(r.timings),
    }


def _describe(exc: Exception) -> str:
    return str(exc) if isinstance(exc, AgentError) else f"{type(exc).__name__}: {exc}"


def _evidence(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, AgentFailure):
        ev = _jsonable(dict(exc.evidence))
        return ev if isinstance(ev, dict) else {"repr": ev}
    if isinstance(exc, AgentError):
        return {}
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return {"exception": type(exc).__name__, "traceback": "".join(tb)[-4000:]}


def _usage_of(exc: AgentFailure) -> dict[str, Any]:
    u = exc.evidence.get("usage")
    return dict(u) if isinstance(u, dict) else {}


def _summary_of(d: dict[str, Any]) -> LLMUsageSummary:
    known = set(LLMUsageSummary.__dataclass_fields__)
    return LLMUsageSummary(**{k: v for k, v in d.items() if k in known})


def _jsonable(obj: Any) -> Any:
    """``obj`` if it survives ``json.dumps``, else its ``repr`` (traces must always write)."""
    try:
        json.dumps(obj)
        return obj
    except (TypeError, ValueError):
        return repr(obj)
