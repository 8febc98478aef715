"""The eval loop: plan episodes, run them on an executor's workers, score, write results.

Resumable: the trace manifests say what is done. Composition root of a run: the agent and
device factories and the executor are parameters of :func:`run_eval` (defaults: the agent
registry, :class:`~llamatouch.runner.devices.DeviceSlot`, worker processes).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llamatouch.agent import AgentOptions
from llamatouch.agent_registry import resolve_agent_class
from llamatouch.device.spec import DEFAULT_DEVICE, DeviceKind, DeviceSpec
from llamatouch.errors import LlamaTouchError
from llamatouch.runner.devices import DeviceSlot
from llamatouch.runner.executor import Executor
from llamatouch.runner.local import LocalProcessExecutor
from llamatouch.runner.results import (
    EpisodeResult,
    RunSummary,
    collect_results,
    summarize,
    write_results,
)
from llamatouch.runner.runconfig import (
    RUN_SCHEMA,
    EvalConfig,
    ResumeConflict,
    RunError,
    check_config,
    write_run_json,
)
from llamatouch.runner.scorer import Scorer, default_annotations_dir, score_into
from llamatouch.runner.work import DONE_STATUSES, EpisodeSpec, EpisodeWork
from llamatouch.runner.worker import (
    AgentFactory,
    DeviceFactory,
    RegistryAgentFactory,
    WorkerContext,
)
from llamatouch.tasks import Task, TaskSuite, load_suite
from llamatouch.trace.format import TraceManifest, read_trace

log = logging.getLogger(__name__)

__all__ = [
    "RUN_SCHEMA",
    "EvalConfig",
    "ResumeConflict",
    "RunError",
    "RunOutcome",
    "agent_label",
    "episode_id",
    "run_eval",
]


def agent_label(spec: str) -> str:
    """A file-name-safe label for an agent spec (used in episode ids)."""
    cls = resolve_agent_class(spec)
    name = cls.name if cls.name and cls.name != "agent" else cls.__name__
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "agent"


def episode_id(task: Task, label: str, trial: int) -> str:
    return f"{task.id}__{label}__t{trial}"


@dataclass(slots=True)
class RunOutcome:
    """What :func:`run_eval` returns.

    Attributes:
        rows: one result per finished episode (this run's and earlier ones when resuming).
        summary: aggregates.
        ran: episodes run in this invocation.
        skipped: episodes already finished (resume).
        rescored: finished episodes that only needed scoring.
        oracle: the agent was handed the ground truth (an oracle baseline such as ``replay``).
    """

    rows: list[EpisodeResult]
    summary: RunSummary
    ran: int
    skipped: int
    rescored: int
    oracle: bool = False

    @property
    def infra_failures(self) -> int:
        """Episodes that ended as an infrastructure failure or a crash."""
        return sum(r.failure_kind in ("infra", "crash") for r in self.rows)


def _existing(trace_root: Path) -> dict[str, TraceManifest]:
    out: dict[str, TraceManifest] = {}
    if not trace_root.is_dir():
        return out
    for folder in sorted(p for p in trace_root.iterdir() if p.is_dir()):
        try:
            out[folder.name] = read_trace(folder).manifest
        except LlamaTouchError:
            continue
    return out


def _worker_specs(config: EvalConfig) -> tuple[str, ...]:
    specs = list(config.devices) or [DEFAULT_DEVICE]
    n = config.workers or len(specs)
    real = [s for s in specs if DeviceSpec.parse(s).kind is DeviceKind.ADB]
    if real and n > len(specs):
        raise RunError(
            f"--workers {n} but only {len(specs)} device(s) named: one episode per device "
            "at a time"
        )
    return tuple(specs[i % len(specs)] for i in range(n))


def _select(suite: TaskSuite, task_ids: tuple[str, ...]) -> list[Task]:
    if not task_ids:
        return list(suite.tasks)
    unknown = set(task_ids) - {t.id for t in suite.tasks}
    if unknown:
        raise RunError(f"suite {suite.suite!r} has no task(s) {sorted(unknown)}")
    return [t for t in suite.tasks if t.id in set(task_ids)]


def run_eval(
    config: EvalConfig,
    *,
    progress: Callable[[int], Any] | None = None,
    on_total: Callable[[int], Any] | None = None,
    agent_factory: AgentFactory | None = None,
    device_factory: DeviceFactory | None = None,
    executor: Executor | None = None,
) -> RunOutcome:
    """Run (or resume) an eval.

    Args:
        config: the run.
        progress: called with 1 after each finished episode.
        on_total: called once with the number of episodes to run.
        agent_factory: builds each worker's agent from :class:`AgentOptions` (default: the
            agent registry's ``config.agent``); picklable for process executors. Episode ids
            and the oracle flag still come from ``config.agent``'s class.
        device_factory: builds each worker's device slot (default:
            :class:`~llamatouch.runner.devices.DeviceSlot`); picklable.
        executor: where episodes run (default: :class:`LocalProcessExecutor`).
    """
    check_config(config)
    suite = load_suite(config.tasks)
    tasks = _select(suite, config.task_ids)
    label = agent_label(config.agent)
    oracle = bool(resolve_agent_class(config.agent).oracle)
    out = Path(config.out)
    existing = _existing_run(out, config.resume)
    ann_dir = (
        Path(config.annotations)
        if config.annotations
        else default_annotations_dir(suite.suite, suite.source)
    )
    scorer = Scorer(ann_dir, require_completion=config.require_completion,
                    allow_shared_screen=config.allow_shared_screen, skip_types=config.skip_types)
    for err in scorer.load_errors:
        log.warning("annotation not loaded: %s", err)
    plan = _plan(config, suite, tasks, label, existing, scorer)

    out.mkdir(parents=True, exist_ok=True)
    write_run_json(
        out,
        config,
        {
            "suite": suite.suite,
            "suite_source": suite.source,
            "annotations": str(ann_dir) if ann_dir else None,
            "agent_label": label,
            "oracle": oracle,
        },
    )
    for eid, task in plan.rescore:
        score_into(scorer, out / "traces" / eid, task.id)
    if on_total is not None:
        on_total(len(plan.run))
    if plan.run:
        context = WorkerContext(
            agent_factory=agent_factory or RegistryAgentFactory(config.agent),
            agent_options=_agent_options(config, tasks),
            agent_label=label,
            oracle=oracle,
            device_factory=device_factory or DeviceSlot,
            device_specs=_worker_specs(config),
            trace_root=str(out / "traces"),
            world_base=str(Path(suite.source).parent) if suite.source else "",
            seed=config.seed,
            record_packages=config.record_packages,
            infra_retries=config.infra_retries,
            annotations=str(ann_dir) if ann_dir else "",
            require_completion=config.require_completion,
            allow_shared_screen=config.allow_shared_screen,
            skip_types=config.skip_types,
        )
        runner = executor or LocalProcessExecutor()
        for _outcome in runner.run([EpisodeWork(s) for s in plan.run], context):
            if progress is not None:
                progress(1)
    rows = collect_results(out)
    summary = summarize(rows, k=config.trials)
    write_results(out, rows, summary)
    return RunOutcome(rows, summary, len(plan.run), plan.skipped, len(plan.rescore), oracle)


def _existing_run(out: Path, resume: bool) -> dict[str, TraceManifest]:
    """The episodes already in ``out`` (refused unless resuming)."""
    if out.exists() and not out.is_dir():
        raise RunError(f"--out {out} is a file, not a folder")
    existing = _existing(out / "traces")
    if existing and not resume:
        raise RunError(
            f"{out} already holds {len(existing)} episode(s): pass --resume to continue that "
            "run, or choose another --out"
        )
    return existing


@dataclass(slots=True)
class _Plan:
    """What an invocation does: episodes to run, finished ones to skip or only score."""

    run: list[EpisodeSpec]
    skipped: int
    rescore: list[tuple[str, Task]]


def _plan(
    config: EvalConfig,
    suite: TaskSuite,
    tasks: list[Task],
    label: str,
    existing: dict[str, TraceManifest],
    scorer: Scorer,
) -> _Plan:
    plan = _Plan([], 0, [])
    for task in tasks:
        for trial in range(config.trials):
            eid = episode_id(task, label, trial)
            m = existing.get(eid)
            if m is not None and m.status in DONE_STATUSES:
                plan.skipped += 1
                if m.verdict is None and m.status != "crash" and scorer.has(task.id):
                    plan.rescore.append((eid, task))
                continue
            limit = task.max_steps if config.max_steps is None else config.max_steps
            world = task.world or suite.world
            plan.run.append(EpisodeSpec(eid, task, suite.suite, trial, limit, world))
    return plan


def _agent_options(config: EvalConfig, tasks: list[Task]) -> AgentOptions:
    return AgentOptions(
        model=config.model,
        base_url=config.base_url,
        seed=config.seed,
        max_steps=config.max_steps or max((t.max_steps for t in tasks), default=15),
        memory_dir=config.memory_dir,
        params=dict(config.agent_params),
    )
