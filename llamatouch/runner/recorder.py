"""The trace side of an episode: observations, the agent's answers and the device's results
become :class:`~llamatouch.trace.format.StepRecord` s, written atomically (``llamatouch.trace/1``).
"""

from __future__ import annotations

import json
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any

from llamatouch.agent import AgentFailure, AgentStep, DeviceCapabilities, LLMUsageSummary
from llamatouch.device.base import ActResult, Effect, Observation
from llamatouch.errors import AgentError, LlamaTouchError
from llamatouch.fsutil import atomic_write_json
from llamatouch.redact import redact
from llamatouch.runner.env import StepOutcome
from llamatouch.runner.work import EpisodeSpec
from llamatouch.trace.format import StepRecord, TraceManifest, TraceWriter, read_trace
from llamatouch.trace.records import EpisodeStatus, EpisodeUsage, OnDeviceUsage, TaskRef


def episode_manifest(
    spec: EpisodeSpec,
    agent_info: dict[str, Any],
    capabilities: DeviceCapabilities | None = None,
) -> TraceManifest:
    """The manifest an episode's trace starts with (``agent_info``: ``Agent.describe()`` plus
    the runner's ``oracle`` flag)."""
    task = spec.task
    return TraceManifest(
        episode_id=spec.episode_id,
        task=TaskRef(
            id=task.id,
            suite=spec.suite,
            app=task.app,
            instruction=task.instruction,
            trial=spec.trial,
        ),
        agent=dict(agent_info),
        device=capabilities,
    )


class TraceRecorder:
    """Writes one episode's trace and keeps its totals (LLM usage, agent seconds, actions).

    Args:
        trace_dir: the episode's folder (restarted clean if it exists).
        manifest: the manifest to start with.
        infra_attempts: attempts already spent on infrastructure failures (kept in ``usage``).
    """

    def __init__(self, trace_dir: Path, manifest: TraceManifest, infra_attempts: int = 0) -> None:
        self.writer = TraceWriter(trace_dir, manifest)
        self.usage = LLMUsageSummary()
        self.agent_s = 0.0
        self.actions = 0
        self.infra_attempts = infra_attempts
        self._t_start = time.perf_counter()

    def observed(self, obs: Observation, index: int) -> StepRecord:
        """A step record for an observation (the action is filled in by :meth:`write`)."""
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

    def write(self, rec: StepRecord, obs: Observation) -> None:
        """Write ``rec`` with ``obs``'s screenshot and hierarchy."""
        self.writer.write_step(rec, obs.screenshot_png, obs.hierarchy_xml)

    def answered(self, rec: StepRecord, answer: AgentStep, agent_s: float) -> None:
        """Put the agent's answer into ``rec`` and count it."""
        self.agent_s += agent_s
        self.usage.merge(answer.usage)
        self.actions += 1
        rec.timings["agent"] = agent_s
        rec.reasoning = answer.reasoning
        rec.llm = replace(answer.usage)
        if answer.extra:
            rec.extra["agent"] = jsonable(answer.extra)
        rec.action = answer.action

    def acted(self, rec: StepRecord, outcome: StepOutcome) -> None:
        """Put the device's result of the step into ``rec``."""
        rec.timings.update(outcome.timings)
        if outcome.invalid:
            rec.action_result = ActResult(ok=False, effect=Effect.INVALID, detail=outcome.invalid)
            return
        rec.acted_at = outcome.acted_at
        rec.action_result = outcome.result

    def finished(self, rec: StepRecord, status: str) -> None:
        """Mark ``rec`` as the agent's ``finish`` (``status``: what it declared)."""
        rec.action_result = ActResult(ok=True, effect=Effect.FINISHED, detail=status)

    def agent_failed(
        self, rec: StepRecord, message: str, exc: BaseException, agent_s: float
    ) -> None:
        """Record an agent failure (its evidence, and the LLM usage it reported) in ``rec``."""
        self.agent_s += agent_s
        rec.timings["agent"] = agent_s
        rec.error = message
        rec.extra["agent_evidence"] = evidence(exc)
        if isinstance(exc, AgentFailure):
            u = exc.evidence.get("usage")
            known = set(LLMUsageSummary.__dataclass_fields__)
            raw = u if isinstance(u, dict) else {}
            try:
                used = LLMUsageSummary(**{k: v for k, v in raw.items() if k in known})
            except TypeError:
                used = LLMUsageSummary()
            rec.llm = used
            self.usage.merge(used)

    def finish(self, status: EpisodeStatus, error: str | None, device_s: float) -> None:
        """Write the totals and the final status."""
        totals = EpisodeUsage(
            llm=replace(self.usage),
            agent_s=self.agent_s,
            device_s=device_s,
            wall_s=time.perf_counter() - self._t_start,
            actions=self.actions,
            infra_attempts=self.infra_attempts,
        )
        self.writer.update(usage=totals)
        self.writer.finish(status, redact(error) if error else error)


def describe(exc: BaseException) -> str:
    """An agent error's message (with the exception type for the agent's own bugs)."""
    return str(exc) if isinstance(exc, AgentError) else f"{type(exc).__name__}: {exc}"


def evidence(exc: BaseException) -> dict[str, Any]:
    """What shows why an agent failed: its :class:`AgentFailure` evidence, or the traceback
    of its own bug."""
    if isinstance(exc, AgentFailure):
        ev = jsonable(dict(exc.evidence))
        return ev if isinstance(ev, dict) else {"repr": ev}
    if isinstance(exc, AgentError):
        return {}
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return {"exception": type(exc).__name__, "traceback": redact("".join(tb)[-4000:])}


def jsonable(obj: Any) -> Any:
    """``obj`` if it survives ``json.dumps``, else its ``repr`` (traces must always write)."""
    try:
        json.dumps(obj)
        return obj
    except (TypeError, ValueError):
        return repr(obj)


def record_unrun(
    trace_dir: Path,
    spec: EpisodeSpec,
    agent: dict[str, Any],
    status: EpisodeStatus,
    error: str,
    attempts: int,
    *,
    keep_steps: bool = False,
) -> int:
    """End an episode that could not run to its end (infrastructure failure, crash).

    With ``keep_steps`` the steps its last attempt wrote are kept as evidence (a worker that
    crashed mid-episode), when its manifest is readable; otherwise a fresh trace without steps
    is written. Returns the steps kept.
    """

    manifest: TraceManifest | None = None
    if keep_steps:
        try:
            manifest = read_trace(trace_dir).manifest
        except LlamaTouchError:
            manifest = None
    if manifest is None or manifest.episode_id != spec.episode_id:
        writer = TraceWriter(trace_dir, episode_manifest(spec, agent))
        manifest = writer.manifest
    manifest.usage.infra_attempts = attempts
    manifest.status = status
    manifest.error = redact(error) if error else error
    manifest.finished_at = time.time()
    save_manifest(trace_dir, manifest)
    return manifest.num_steps


def note_earlier_failures(trace_dir: Path, failures: list[str]) -> None:
    """Keep what ended the earlier attempts of an episode that finally ran (infrastructure
    failures, worker crashes) in its manifest: ``usage["earlier_failures"]``."""
    if not failures:
        return
    manifest = read_trace(trace_dir).manifest
    manifest.usage.extra["earlier_failures"] = list(failures)
    save_manifest(trace_dir, manifest)


def note_on_device(trace_dir: Path, on_device: OnDeviceUsage) -> None:
    """Keep where the episode's model ran, and the device around it, in its manifest
    (``usage.on_device``; ``--model device:PORT``)."""
    manifest = read_trace(trace_dir).manifest
    manifest.usage.on_device = on_device
    save_manifest(trace_dir, manifest)


def save_manifest(trace_dir: Path, manifest: TraceManifest) -> None:
    """Rewrite only the manifest of the trace in ``trace_dir`` (atomically; the steps stay)."""
    atomic_write_json(trace_dir / "manifest.json", manifest.to_json())
