"""The eval loop: plan episodes, run them on worker devices, retry infrastructure failures,
score, and write results. Resumable: the trace manifests say what is done."""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llamatouch.agent import Agent, AgentOptions
from llamatouch.agent_registry import create_agent, resolve_agent_class
from llamatouch.errors import DeviceError, LlamaTouchError
from llamatouch.fsutil import atomic_write_json
from llamatouch.runner.devices import DEFAULT_DEVICE, DeviceSlot, parse_spec
from llamatouch.runner.episode import EpisodeSpec, InfraFailure, episode_manifest, run_episode
from llamatouch.runner.results import (
    DONE_STATUSES,
    EpisodeResult,
    RunSummary,
    collect_results,
    summarize,
    write_results,
)
from llamatouch.runner.scoring import Scorer, default_annotations_dir
from llamatouch.tasks import Task, TaskSuite, load_suite
from llamatouch.trace.format import TraceManifest, TraceWriter, read_trace

log = logging.getLogger(__name__)

RUN_SCHEMA = "llamatouch.eval-run/1"


class RunError(LlamaTouchError):
    """The run cannot start (bad options, an output folder that would be overwritten...)."""


@dataclass(frozen=True, slots=True)
class EvalConfig:
    """One ``llamatouch eval`` run.

    Attributes:
        agent: agent spec (name, entry point, or ``file.py:Class``).
        out: the run folder (``traces/``, ``results.csv``, ``results.json``, ``summary.json``).
        tasks: suite name (``demo``) or suite file.
        task_ids: run only these tasks (empty: all).
        devices: device specs (see :mod:`llamatouch.runner.devices`); empty: ``adb-virtual``.
        workers: parallel episodes (one per device at a time); 0 = one per device spec.
        model: LLM spec for agents that use one.
        base_url: OpenAI-compatible endpoint for ``openai:`` models.
        trials: trials per task (pass@k, pass^k, flip rate when > 1).
        max_steps: step limit per episode (``None``: each task's own ``max_steps``).
        resume: continue the run in ``out`` (finished episodes are kept, others restart clean).
        infra_retries: how many times an episode hit by a device failure is retried (on a
            reconnected device) before it is reported as an infrastructure failure.
        seed: seed of the agents and virtual devices (agents also see the trial number in
            ``task.meta["trial"]``).
        annotations: annotations folder (``""``: ``annotations/<suite>/``).
        require_finish: the evaluator demands that the agent declared completion.
        agent_params: agent-specific settings (``--agent-param KEY=VALUE``).
        memory_dir: memory folder for agents that keep one (AutoDroid).
        record_packages: record installed packages at every step (for ``installed`` checks).
    """

    agent: str
    out: Path
    tasks: str = "demo"
    task_ids: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    workers: int = 0
    model: str = "embedded"
    base_url: str | None = None
    trials: int = 1
    max_steps: int | None = None
    resume: bool = False
    infra_retries: int = 2
    seed: int = 0
    annotations: str = ""
    require_finish: bool = False
    agent_params: dict[str, str] = field(default_factory=dict)
    memory_dir: str = ""
    record_packages: bool = True


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
    """

    rows: list[EpisodeResult]
    summary: RunSummary
    ran: int
    skipped: int
    rescored: int


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


def _worker_specs(config: EvalConfig) -> list[str]:
    specs = list(config.devices) or [DEFAULT_DEVICE]
    n = config.workers or len(specs)
    real = [s for s in specs if parse_spec(s)[0] == "adb"]
    if real and n > len(specs):
        raise RunError(
            f"--workers {n} but only {len(specs)} device(s) named: one episode per device "
            "at a time"
        )
    return [specs[i % len(specs)] for i in range(n)]


def run_eval(
    config: EvalConfig,
    *,
    progress: Callable[[int], Any] | None = None,
    on_total: Callable[[int], Any] | None = None,
) -> RunOutcome:
    """Run (or resume) an eval. ``progress(1)`` is called after each finished episode and
    ``on_total(n)`` once with the number of episodes to run."""
    suite = load_suite(config.tasks)
    tasks = suite.tasks
    if config.task_ids:
        wanted = set(config.task_ids)
        unknown = wanted - {t.id for t in tasks}
        if unknown:
            raise RunError(f"suite {suite.suite!r} has no task(s) {sorted(unknown)}")
        tasks = [t for t in tasks if t.id in wanted]
    if config.trials < 1:
        raise RunError("--trials must be at least 1")
    label = agent_label(config.agent)
    out = Path(config.out)
    trace_root = out / "traces"
    existing = _existing(trace_root)
    if existing and not config.resume:
        raise RunError(
            f"{out} already holds {len(existing)} episode(s): pass --resume to continue that "
            "run, or choose another --out"
        )
    ann_dir = Path(config.annotations) if config.annotations else default_annotations_dir(
        suite.suite, suite.source
    )
    scorer = Scorer(ann_dir, require_finish=config.require_finish)
    for err in scorer.load_errors:
        log.warning("annotation not loaded: %s", err)

    plan: list[EpisodeSpec] = []
    skipped = 0
    rescore: list[tuple[str, Task]] = []
    for task in tasks:
        for trial in range(config.trials):
            eid = episode_id(task, label, trial)
            m = existing.get(eid)
            if m is not None and m.status in DONE_STATUSES:
                skipped += 1
                if m.verdict is None and scorer.has(task.id):
                    rescore.append((eid, task))
                continue
            limit = task.max_steps if config.max_steps is None else config.max_steps
            plan.append(EpisodeSpec(eid, task, suite.suite, trial, limit))

    out.mkdir(parents=True, exist_ok=True)
    run_meta = {
        "schema": RUN_SCHEMA,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()},
        "suite": suite.suite,
        "suite_source": suite.source,
        "annotations": str(ann_dir) if ann_dir else None,
        "updated_at": time.time(),
    }
    atomic_write_json(out / "run.json", run_meta)
    for eid, task in rescore:
        _score_into(scorer, trace_root / eid, task)
    if on_total is not None:
        on_total(len(plan))
    if plan:
        _run_plan(config, suite, plan, trace_root, scorer, progress)
    rows = collect_results(out)
    summary = summarize(rows, k=config.trials)
    write_results(out, rows, summary)
    return RunOutcome(rows, summary, len(plan), skipped, len(rescore))


def _score_into(scorer: Scorer, trace_dir: Path, task: Task) -> None:
    verdict = scorer.score(trace_dir, task.id)
    if verdict is None:
        return
    # rewrite only the manifest (TraceWriter would wipe the folder): load, set, save
    trace = read_trace(trace_dir)
    trace.manifest.verdict = verdict
    atomic_write_json(trace_dir / "manifest.json", asdict(trace.manifest))


def _run_plan(
    config: EvalConfig,
    suite: TaskSuite,
    plan: list[EpisodeSpec],
    trace_root: Path,
    scorer: Scorer,
    progress: Callable[[int], Any] | None,
) -> None:
    work: queue.Queue[EpisodeSpec] = queue.Queue()
    for spec in plan:
        work.put(spec)
    specs = _worker_specs(config)
    world_base = Path(suite.source).parent if suite.source else None
    errors: list[BaseException] = []
    lock = threading.Lock()
    slots = [DeviceSlot(s, i, world_base, seed=config.seed) for i, s in enumerate(specs)]

    def worker(index: int, device_spec: str) -> None:
        slot = slots[index]
        agent: Agent | None = None
        try:
            agent = create_agent(
                config.agent,
                AgentOptions(
                    model=config.model,
                    base_url=config.base_url,
                    seed=config.seed,
                    max_steps=config.max_steps or 15,
                    memory_dir=config.memory_dir,
                    params=dict(config.agent_params),
                ),
            )
            while not errors:
                try:
                    spec = work.get_nowait()
                except queue.Empty:
                    return
                _run_with_retries(config, suite, spec, agent, slot, trace_root, scorer)
                if progress is not None:
                    with lock:
                        progress(1)
        except BaseException as exc:  # a bug or Ctrl-C: stop every worker, re-raise below
            with lock:
                errors.append(exc)
        finally:
            if agent is not None:
                agent.close()
            slot.close()

    threads = [
        threading.Thread(target=worker, args=(i, s), name=f"eval-worker-{i}", daemon=True)
        for i, s in enumerate(specs)
    ]
    for t in threads:
        t.start()
    try:
        for t in threads:
            t.join()
    except BaseException:
        # Ctrl-C / SIGTERM in the main thread: stop handing out episodes and release the
        # devices (private adb servers) now; unfinished episodes stay `running` for --resume
        errors.append(RunError("interrupted"))
        for slot in slots:
            slot.close()
        raise
    if errors:
        raise errors[0]


def _run_with_retries(
    config: EvalConfig,
    suite: TaskSuite,
    spec: EpisodeSpec,
    agent: Agent,
    slot: DeviceSlot,
    trace_root: Path,
    scorer: Scorer,
) -> None:
    trace_dir = trace_root / spec.episode_id
    last_error = ""
    for attempt in range(config.infra_retries + 1):
        try:
            world = spec.task.world or suite.world
            device, caps = slot.acquire(world)
            run_episode(
                spec,
                agent,
                device,
                caps,
                trace_dir,
                infra_attempts=attempt,
                record_packages=config.record_packages,
                reset=lambda t, w=world: slot.reset_to(w, t.start_state, t.app),  # type: ignore[misc]
            )
        except (InfraFailure, DeviceError) as exc:
            last_error = str(exc)
            log.warning(
                "episode %s: infrastructure failure (attempt %d of %d): %s",
                spec.episode_id,
                attempt + 1,
                config.infra_retries + 1,
                exc,
            )
            slot.recover()
            continue
        _score_into(scorer, trace_dir, spec.task)
        return
    _record_infra_failure(spec, agent, trace_dir, last_error, config.infra_retries + 1)


def _record_infra_failure(
    spec: EpisodeSpec, agent: Agent, trace_dir: Path, error: str, attempts: int
) -> None:
    writer = TraceWriter(trace_dir, episode_manifest(spec, agent))
    writer.update(usage={"infra_attempts": attempts})
    writer.finish("infra_error", f"after {attempts} attempt(s): {error}")
