"""AutoDroid's offline step-wise evaluation on DroidTask (as in the AutoDroid paper).

For every record of every ``task<N>.yaml``: show the agent the recorded screen (the record's
own ``State`` HTML, so ids are the recorded ones) with the *true* history so far, and check
whether it picks the recorded element (``Choice``; ``-1`` = the task is finished) and, for
inputs, the recorded text. Reported per app:

- action accuracy: steps whose element (and text, for inputs) matches the record;
- element accuracy: steps whose element matches, text ignored;
- task completion: tasks whose every step matches.

With a memory folder the agent's exploration memory (built from the app's world, imported
from the same DroidTask folder) provides hints and, when confident, a path followed without
the LLM (the path's next element is looked up by label on the recorded screen); saved LLM
calls are counted. A step where the model gives no usable answer counts as wrong, with the
evidence kept in the per-step records.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llamatouch.agent import AgentFailure, AgentOptions, LLMUsageSummary
from llamatouch.errors import InputFormatError
from llamatouch.fsutil import atomic_write_json
from llamatouch.llm.base import LLMBackend
from llamatouch.ui.html_agreement import parse_state_html
from llamatouch_agents.autodroid.agent import AutoDroidAgent
from llamatouch_agents.autodroid.memory import AppMemory, MemoryHit
from llamatouch_agents.autodroid.screen import normalise_label

log = logging.getLogger(__name__)

_TASK_RE = re.compile(r"^task(\d+)\.ya?ml$")


@dataclass(frozen=True, slots=True)
class OfflineConfig:
    """What to evaluate.

    Attributes:
        droidtask_dir: the DroidTask folder (one sub-folder per app).
        apps: only these apps (folder names; empty: all).
        max_tasks_per_app: at most this many tasks per app (0: all), in task-number order.
        memory_dir: exploration memory folder (``""`` or ``--agent-param memory=off``: no
            memory, no query optimisation).
        out: write ``offline.json`` (per-step records and per-app figures) here, if set.
        ask_llm: ask the model on steps the memory path does not cover. ``False`` only counts
            what query optimisation covers (and whether those memory picks are right) without
            loading a model: uncovered steps count as wrong and make no LLM call.
    """

    droidtask_dir: Path
    apps: tuple[str, ...] = ()
    max_tasks_per_app: int = 0
    memory_dir: str = ""
    out: Path | None = None
    ask_llm: bool = True


@dataclass(slots=True)
class RecordedElement:
    id: int
    tag: str
    text: str
    label: str


@dataclass(slots=True)
class StepOutcome:
    """One recorded step and the agent's pick."""

    app: str
    task: str
    step: int
    expected: int
    expected_text: str
    chosen: int | None
    chosen_text: str
    element_ok: bool
    action_ok: bool
    from_memory: bool
    llm_calls: int
    error: str = ""


@dataclass(slots=True)
class AppFigures:
    app: str
    tasks: int = 0
    steps: int = 0
    action_correct: int = 0
    element_correct: int = 0
    tasks_completed: int = 0
    llm_calls: int = 0
    saved_calls: int = 0
    memory_correct: int = 0
    failures: int = 0

    @property
    def action_accuracy(self) -> float:
        return self.action_correct / self.steps if self.steps else 0.0

    @property
    def element_accuracy(self) -> float:
        return self.element_correct / self.steps if self.steps else 0.0

    @property
    def completion_rate(self) -> float:
        return self.tasks_completed / self.tasks if self.tasks else 0.0


@dataclass(slots=True)
class OfflineReport:
    apps: list[AppFigures]
    steps: list[StepOutcome] = field(default_factory=list)

    def total(self) -> AppFigures:
        t = AppFigures("all")
        for a in self.apps:
            for f in ("tasks", "steps", "action_correct", "element_correct", "tasks_completed",
                      "llm_calls", "saved_calls", "memory_correct", "failures"):
                setattr(t, f, getattr(t, f) + getattr(a, f))
        return t

    def to_json(self) -> dict[str, Any]:
        def fig(a: AppFigures) -> dict[str, Any]:
            return asdict(a) | {
                "action_accuracy": a.action_accuracy,
                "element_accuracy": a.element_accuracy,
                "completion_rate": a.completion_rate,
            }

        return {
            "apps": [fig(a) for a in self.apps],
            "total": fig(self.total()),
            "steps": [asdict(s) for s in self.steps],
        }


def parse_recorded_state(html: str) -> list[RecordedElement]:
    """The elements of a recorded ``State`` string (ids as recorded), labelled like
    :attr:`~llamatouch_agents.autodroid.screen.Choice.label` so memory entries match them."""
    return [
        RecordedElement(e.id, e.tag, e.body, normalise_label(e.body or e.desc))
        for e in parse_state_html(html, document_order=True)
    ]


def _history_line(el: RecordedElement | None, typed: str) -> str:
    if el is None:
        return "unknown action"
    if el.label == "go back":
        return "press back"
    if typed:
        return f"type {typed!r} into {el.label!r}"
    return f"tap {el.label!r}"


def _load_task(path: Path) -> tuple[str, list[dict[str, Any]]]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputFormatError(path, f"cannot read task YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("records"), list):
        raise InputFormatError(path, "expected task_name and a records list")
    records = [r for r in data["records"] if isinstance(r, dict)]
    return str(data.get("task_name", "")), records


def _memories(config: OfflineConfig, agent: AutoDroidAgent, apps: list[Path]) -> dict[str, Any]:
    """app folder name → AppMemory, built from each app's transition graph (imported in
    memory from the same DroidTask folder, only for the apps evaluated)."""
    if not config.memory_dir or agent.settings.memory != "on":
        return {}
    from llamatouch.datasets.droidtask import import_app

    out: dict[str, Any] = {}
    for folder in apps:
        problems: list[Any] = []
        world, _tasks, summary = import_app(folder, Path(config.droidtask_dir), problems)
        if world is None or not summary.package:
            log.warning("offline: no transition graph for %s; no memory", folder.name)
            continue
        mem = agent.memory_for_world(world, summary.package)
        if mem is not None:
            out[folder.name] = mem
    return out


def run_offline_stepwise(
    config: OfflineConfig,
    options: AgentOptions,
    *,
    llm: LLMBackend | None = None,
    progress: bool = False,
) -> OfflineReport:
    """Run the offline step-wise evaluation (see the module docstring)."""
    root = Path(config.droidtask_dir)
    if not root.is_dir():
        raise InputFormatError(root, "not a folder")
    apps = sorted(p for p in root.iterdir() if p.is_dir() and any(p.glob("task*.yaml")))
    if config.apps:
        apps = [p for p in apps if p.name in config.apps]
    agent = AutoDroidAgent(options, llm=llm)
    report = OfflineReport([])
    try:
        memories = _memories(config, agent, apps)
        jobs: list[tuple[Path, Path]] = []
        for app in apps:
            files = sorted(
                (p for p in app.iterdir() if _TASK_RE.match(p.name)),
                key=lambda p: int(_TASK_RE.match(p.name).group(1)),  # type: ignore[union-attr]
            )
            if config.max_tasks_per_app:
                files = files[: config.max_tasks_per_app]
            jobs += [(app, f) for f in files]
        bar: Any = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(jobs), unit="task")
        figures: dict[str, AppFigures] = {}
        for app, path in jobs:
            fig = figures.setdefault(app.name, AppFigures(app.name))
            _run_task(agent, app.name, path, memories.get(app.name), fig, report,
                      ask_llm=config.ask_llm)
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        report.apps = [figures[a.name] for a in apps if a.name in figures]
    finally:
        agent.close()
    if config.out is not None:
        atomic_write_json(Path(config.out) / "offline.json", report.to_json())
    return report


def _run_task(
    agent: AutoDroidAgent,
    app: str,
    path: Path,
    memory: AppMemory | None,
    fig: AppFigures,
    report: OfflineReport,
    *,
    ask_llm: bool = True,
) -> None:
    try:
        instruction, records = _load_task(path)
    except InputFormatError as exc:
        log.warning("offline: skipping %s", exc)
        return
    hits: list[MemoryHit] = []
    path_labels: list[str] = []
    if memory is not None and memory.entries:
        from llamatouch.embed.minilm import get_encoder

        q = get_encoder().encode([instruction])[0]
        hits = memory.retrieve(q, agent.settings.hint_threshold, top_k=20)
        if hits and hits[0].score >= agent.settings.path_threshold:
            path_labels = [s.label for s in hits[0].entry.path]
    fig.tasks += 1
    history: list[str] = []
    all_ok = True
    following = bool(path_labels)
    for i, rec in enumerate(records):
        html = str(rec.get("State", ""))
        elements = parse_recorded_state(html)
        by_id = {e.id: e for e in elements}
        expected = int(rec.get("Choice", -1))
        raw_input = rec.get("Input")
        expected_text = "" if raw_input in (None, "null") else str(raw_input)
        outcome = StepOutcome(app, path.stem, i, expected, expected_text, None, "", False, False,
                              False, 0)
        if following and i < len(path_labels):
            el = next((e for e in elements if e.label == path_labels[i]), None)
            if el is not None:
                outcome.chosen, outcome.from_memory = el.id, True
                fig.saved_calls += 1
            else:
                following = False
        elif following:
            following = False
        if outcome.chosen is None and not ask_llm:
            outcome.error = "not asked (ask_llm=False)"
        elif outcome.chosen is None:
            hints = []
            for h in hits:
                el = next((e for e in elements if e.label == h.entry.label), None)
                if el is not None:
                    hints.append(f"element {el.id} ('{el.label}') leads to: "
                                 f"{h.entry.simulated_task}")
                if len(hints) >= agent.settings.max_hints:
                    break
            try:
                d = agent.decide(instruction, history, html, None, hints, set(by_id))
                outcome.llm_calls = d.usage.calls
                outcome.chosen = -1 if d.answer.finished else d.answer.id
                outcome.chosen_text = d.answer.text
            except AgentFailure as exc:
                usage = exc.evidence.get("usage", {})
                outcome.llm_calls = int(usage.get("calls", 0)) if isinstance(usage, dict) else 0
                outcome.error = str(exc)
                fig.failures += 1
        fig.llm_calls += outcome.llm_calls
        outcome.element_ok = outcome.chosen == expected
        outcome.action_ok = outcome.element_ok and (
            not expected_text
            or outcome.chosen_text.strip().lower() == expected_text.strip().lower()
        )
        fig.steps += 1
        fig.element_correct += outcome.element_ok
        fig.action_correct += outcome.action_ok
        fig.memory_correct += outcome.from_memory and outcome.action_ok
        all_ok = all_ok and outcome.action_ok
        report.steps.append(outcome)
        history.append(_history_line(by_id.get(expected), expected_text))
    fig.tasks_completed += all_ok


def format_offline_table(report: OfflineReport) -> str:
    head = (f"{'app':<14} {'tasks':>5} {'steps':>5} {'action acc':>10} {'element acc':>11} "
            f"{'completion':>10} {'LLM calls':>9} {'saved':>5} {'failed':>6}")
    lines = [head, "-" * len(head)]
    for a in [*report.apps, report.total()]:
        lines.append(
            f"{a.app:<14} {a.tasks:>5} {a.steps:>5} {100 * a.action_accuracy:>9.1f}% "
            f"{100 * a.element_accuracy:>10.1f}% {100 * a.completion_rate:>9.1f}% "
            f"{a.llm_calls:>9} {a.saved_calls:>5} {a.failures:>6}"
        )
    return "\n".join(lines)


__all__ = [
    "LLMUsageSummary",
    "OfflineConfig",
    "OfflineReport",
    "format_offline_table",
    "parse_recorded_state",
    "run_offline_stepwise",
]
