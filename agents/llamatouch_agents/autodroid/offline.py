"""AutoDroid's offline step-wise evaluation on DroidTask (the AutoDroid paper's table).

For every record of every ``task<N>.yaml``: show the agent the screen of that record with the
*true* history so far, and check whether it picks the recorded element (``Choice``; ``-1`` =
the task is finished) with the recorded action. The screen is, by default, **our rendering**
of the record's state file (``states/state_*.json`` named by its ``state_str``), elements
scrolled out of view included as in the recorded views; the record's ``Choice`` (an index into
the recorded ``State`` HTML) is mapped to the same element of our rendering
(:func:`llamatouch.llm.recorded.map_element`). ``screen="recorded"`` shows the recorded
``State`` HTML itself instead.

A step is correct as in the AutoDroid artifact's evaluator:

- a finish step (``Choice = -1``): the model says the task is finished;
- a tap step (no recorded input): the same element, and the answer does not type;
- an input step: the same element, the answer types, and the typed text equals the recorded
  one (surrounding whitespace aside).

Reported per app and overall: action accuracy (all steps), tap / input / end accuracy, and
task completion by the artifact's definition (every step except the finish step correct:
its ``Whole_task_Acc_except_end`` plus its ``Whole_task_Acc``, which is how the paper's
completion figures come out; the strict "every step" rate is reported too).

With ``--model recorded:DIR`` (:class:`~llamatouch.llm.recorded.RecordedBackend`) the answers
are the released ones, and each step also carries the artifact's own verdict, so the
agreement of our verdict with the artifact's is reported.

With a memory folder the agent's exploration memory (built from the app's world, imported
from the same DroidTask folder) provides hints and, when confident, a path followed without
the LLM; saved LLM calls are counted. A step where the model gives no usable answer counts as
wrong, with the evidence kept in the per-step records.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llamatouch.agent import AgentFailure, AgentOptions, LLMUsageSummary, OfflineRequest
from llamatouch.errors import InputFormatError
from llamatouch.fsutil import atomic_write_json, load_json_file
from llamatouch.llm.base import LLMBackend
from llamatouch.llm.recorded import (
    RecordedBackend,
    RecordingBackend,
    map_element,
    read_released_reply,
)
from llamatouch.ui.droidbot import screen_from_droidbot
from llamatouch.ui.html import COMPACT_STYLE
from llamatouch.ui.html_agreement import parse_state_html, recorded_style
from llamatouch.ui.node import UIScreen
from llamatouch_agents.autodroid.agent import AutoDroidAgent
from llamatouch_agents.autodroid.memory import AppMemory, MemoryHit, confident_path
from llamatouch_agents.autodroid.prompt import paper_action_line
from llamatouch_agents.autodroid.screen import ScreenView, build_view, normalise_label

log = logging.getLogger(__name__)

_TASK_RE = re.compile(r"^task(\d+)\.ya?ml$")
_LINE_RE = re.compile(r"<(\w+) id=(\d+)[ >]")
#: Screen sources of :class:`OfflineConfig`.
SCREENS = ("rendered", "recorded")
#: Output file in ``OfflineConfig.out``.
STEPWISE_FILE = "stepwise.json"


@dataclass(frozen=True, slots=True)
class OfflineConfig:
    """What to evaluate.

    Attributes:
        droidtask_dir: the DroidTask folder (one sub-folder per app).
        apps: only these apps (folder names; empty: all).
        max_tasks_per_app: at most this many tasks per app (0: all), in task-number order.
        memory_dir: exploration memory folder (``""`` or ``--agent-param memory=off``: no
            memory, no query optimisation).
        out: write ``stepwise.json`` (figures overall and per app, per-step records) here.
        ask_llm: ask the model on steps the memory path does not cover. ``False`` only counts
            what query optimisation covers (and whether those memory picks are right) without
            loading a model: uncovered steps count as wrong and make no LLM call.
        screen: ``rendered`` (our rendering of the record's state file; default) or
            ``recorded`` (the record's own ``State`` HTML).
        dialect: ``recorded``: render in the dialect of the record's ``State`` (DroidTask's
            recorder wrote two, see :func:`llamatouch.ui.html_agreement.recorded_style`);
            ``compact``: our default dialect, what the agent shows online.
    """

    droidtask_dir: Path
    apps: tuple[str, ...] = ()
    max_tasks_per_app: int = 0
    memory_dir: str = ""
    out: Path | None = None
    ask_llm: bool = True
    screen: str = "rendered"
    dialect: str = "recorded"


@dataclass(slots=True)
class RecordedElement:
    """An element of a recorded ``State`` (ids as recorded), labelled like
    :attr:`~llamatouch_agents.autodroid.screen.Choice.label`."""

    id: int
    tag: str
    text: str
    label: str


@dataclass(slots=True)
class StepOutcome:
    """One recorded step and the agent's pick.

    Attributes:
        app, task, step: where (app folder, task file stem, record index).
        task_text: the instruction.
        kind: ``tap``, ``input`` or ``end`` (what the record did).
        expected: the recorded ``Choice`` (an index into the recorded HTML; -1 = finished).
        expected_text: the recorded input text (``""``: none).
        label: the recorded choice on the screen shown (our id; -1 = finished; ``None`` when
            the element is not on our rendering).
        chosen: the answer's element on the screen shown (-1 = finished; ``None``: no answer).
        chosen_action: ``tap`` or ``type`` (``""``: finished or no answer).
        chosen_text: the typed text.
        correct: our verdict (see the module docstring).
        from_memory: picked by a memory path without an LLM call.
        llm_calls: LLM calls spent on the step.
        error: why there was no usable answer (``""``: there was).
        error_kind: a short class of ``error`` (recorded-answer kinds, ``no-answer``,
            ``no-state-file``, ``label-not-on-screen``).
        artifact_correct: the AutoDroid artifact's own verdict (recorded answers only).
        recorded_answer: the recorded answer's element id on the recorded screen (-1 =
            finished; recorded answers only).
    """

    app: str
    task: str
    task_text: str
    step: int
    kind: str
    expected: int
    expected_text: str
    label: int | None = None
    chosen: int | None = None
    chosen_action: str = ""
    chosen_text: str = ""
    correct: bool = False
    from_memory: bool = False
    llm_calls: int = 0
    error: str = ""
    error_kind: str = ""
    artifact_correct: bool | None = None
    recorded_answer: int | None = None


@dataclass(slots=True)
class AppFigures:
    """Counts for one app (or all: ``app="all"``)."""

    app: str
    tasks: int = 0
    steps: int = 0
    correct: int = 0
    tap_steps: int = 0
    tap_correct: int = 0
    input_steps: int = 0
    input_correct: int = 0
    end_steps: int = 0
    end_correct: int = 0
    tasks_completed: int = 0
    tasks_all_correct: int = 0
    llm_calls: int = 0
    saved_calls: int = 0
    memory_correct: int = 0
    failures: int = 0
    artifact_steps: int = 0
    artifact_agree: int = 0
    artifact_correct: int = 0

    @staticmethod
    def _rate(a: int, b: int) -> float:
        return a / b if b else 0.0

    @property
    def action_accuracy(self) -> float:
        return self._rate(self.correct, self.steps)

    @property
    def tap_accuracy(self) -> float:
        return self._rate(self.tap_correct, self.tap_steps)

    @property
    def input_accuracy(self) -> float:
        return self._rate(self.input_correct, self.input_steps)

    @property
    def end_accuracy(self) -> float:
        return self._rate(self.end_correct, self.end_steps)

    @property
    def completion_rate(self) -> float:
        """Tasks whose every step except the finish step is correct (the artifact's)."""
        return self._rate(self.tasks_completed, self.tasks)

    @property
    def strict_completion_rate(self) -> float:
        """Tasks whose every step, the finish step included, is correct."""
        return self._rate(self.tasks_all_correct, self.tasks)

    @property
    def agreement(self) -> float:
        """Share of steps where our verdict equals the artifact's (recorded answers)."""
        return self._rate(self.artifact_agree, self.artifact_steps)

    def add(self, other: AppFigures) -> None:
        for name in self.__dataclass_fields__:
            if name != "app":
                setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {
            "action_accuracy": self.action_accuracy,
            "tap_accuracy": self.tap_accuracy,
            "input_accuracy": self.input_accuracy,
            "end_accuracy": self.end_accuracy,
            "completion_rate": self.completion_rate,
            "strict_completion_rate": self.strict_completion_rate,
            "agreement": self.agreement if self.artifact_steps else None,
        }


@dataclass(slots=True)
class OfflineReport:
    apps: list[AppFigures]
    steps: list[StepOutcome] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def total(self) -> AppFigures:
        t = AppFigures("all")
        for a in self.apps:
            t.add(a)
        return t

    def disagreements(self) -> list[StepOutcome]:
        """Steps where our verdict differs from the artifact's."""
        return [
            s for s in self.steps
            if s.artifact_correct is not None and s.artifact_correct != s.correct
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "settings": self.settings,
            "overall": self.total().to_json(),
            "apps": {a.app: a.to_json() for a in self.apps},
            "disagreements": [asdict(s) for s in self.disagreements()],
            "steps": [asdict(s) for s in self.steps],
        }


def parse_recorded_state(html: str) -> list[RecordedElement]:
    """The elements of a recorded ``State`` string (ids as recorded), labelled like
    :attr:`~llamatouch_agents.autodroid.screen.Choice.label` so memory entries match them."""
    return [
        RecordedElement(e.id, e.tag, e.body, normalise_label(e.body or e.desc))
        for e in parse_state_html(html, document_order=True)
    ]


def _compact_history_line(label: str, typed: str) -> str:
    if label == "go back":
        return "press back"
    if typed:
        return f"type {typed!r} into {label!r}"
    return f"tap {label!r}"


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


@dataclass(slots=True)
class _Screens:
    """State files by ``state_str`` and parsed screens (one per file). A record's hash is
    looked up in its own app's ``states/`` first (DroidBot's ``state_str`` ignores some
    content, and a few hashes name states of two apps), then in every app's."""

    root: Path
    index: dict[str, Path] = field(default_factory=dict)
    per_app: dict[str, dict[str, Path]] = field(default_factory=dict)
    cache: dict[Path, UIScreen] = field(default_factory=dict)

    def _lookup(self, app: str, h: str) -> Path | None:
        if not self.index:
            for path in sorted(self.root.glob("*/states/state_*.json")):
                data = load_json_file(path)
                sid = data.get("state_str") if isinstance(data, dict) else None
                if isinstance(sid, str):
                    self.per_app.setdefault(path.parent.parent.name, {})[sid] = path
                    self.index[sid] = path
        own = self.per_app.get(app, {}).get(h)
        return own or self.index.get(h)

    def screen_for(self, app: str, rec: dict[str, Any]) -> UIScreen | None:
        hashes = rec.get("state_str")
        for h in hashes if isinstance(hashes, list) else [hashes]:
            path = self._lookup(app, h) if isinstance(h, str) else None
            if path is None:
                continue
            if path not in self.cache:
                data = load_json_file(path)
                if not isinstance(data, dict):
                    raise InputFormatError(path, "top level is not an object")
                self.cache[path] = screen_from_droidbot(data, path)
            return self.cache[path]
        return None


def run_offline_stepwise(
    config: OfflineConfig,
    options: AgentOptions,
    *,
    llm: LLMBackend | None = None,
    progress: bool = False,
) -> OfflineReport:
    """Run the offline step-wise evaluation (see the module docstring).

    Raises:
        InputFormatError: the DroidTask folder does not exist, or an unknown ``screen``.
    """
    root = Path(config.droidtask_dir)
    if not root.is_dir():
        raise InputFormatError(root, "not a folder")
    if config.screen not in SCREENS:
        raise InputFormatError(root, f"screen must be one of {SCREENS}, got {config.screen!r}")
    apps = sorted(p for p in root.iterdir() if p.is_dir() and any(p.glob("task*.yaml")))
    if config.apps:
        apps = [p for p in apps if p.name in config.apps]
    agent = AutoDroidAgent(options, llm=llm)
    report = OfflineReport([], settings={
        "screen": config.screen, "model": options.model, "memory_dir": config.memory_dir,
        "agent": agent.describe().get("settings", {}),
    })
    screens = _Screens(root)
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
            _run_task(agent, app.name, path, memories.get(app.name), fig, report, screens,
                      config)
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        report.apps = [figures[a.name] for a in apps if a.name in figures]
    finally:
        agent.close()
    if config.out is not None:
        atomic_write_json(Path(config.out) / STEPWISE_FILE, report.to_json())
    return report


@dataclass(slots=True)
class _Shown:
    """The screen shown for one record: its HTML, ids, labels and element lines."""

    html: str
    view: ScreenView | None
    elements: list[Any]
    labels: dict[int, str]
    lines: dict[int, str]


def _shown(
    config: OfflineConfig, app: str, rec: dict[str, Any], screens: _Screens
) -> _Shown | None:
    recorded_html = str(rec.get("State", ""))
    if config.screen == "recorded":
        html, view = recorded_html, None
    else:
        screen = screens.screen_for(app, rec)
        if screen is None:
            return None
        style = recorded_style(recorded_html) if config.dialect == "recorded" else COMPACT_STYLE
        view = build_view(screen, include_offscreen=True, style=style)
        html = view.text()
    elements = parse_state_html(html, document_order=True)
    if view is not None:
        labels = {c.id: c.label for c in view.choices}
    else:
        labels = {e.id: normalise_label(e.body or e.desc) for e in elements}
    lines: dict[int, str] = {}
    for line in html.split("\n"):
        m = _LINE_RE.match(line.strip())
        if m:
            lines[int(m.group(2))] = line.strip()
    return _Shown(html, view, elements, labels, lines)


def _verdict(out: StepOutcome) -> bool:
    if out.expected == -1:
        return out.chosen == -1
    if out.label is None or out.chosen != out.label:
        return False
    if out.expected_text:
        return out.chosen_action == "type" and out.chosen_text.strip() == out.expected_text.strip()
    return out.chosen_action != "type"


def _run_task(
    agent: AutoDroidAgent,
    app: str,
    path: Path,
    memory: AppMemory | None,
    fig: AppFigures,
    report: OfflineReport,
    screens: _Screens,
    config: OfflineConfig,
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
        path_labels = [s.label for s in confident_path(hits, agent.settings.path_threshold)]
    backend = agent.llm if config.ask_llm else None
    if isinstance(backend, RecordedBackend | RecordingBackend):
        backend.begin_task(app)
    paper = agent.settings.prompt == "paper"
    fig.tasks += 1
    history: list[str] = []
    outcomes: list[StepOutcome] = []
    following = bool(path_labels)
    for i, rec in enumerate(records):
        expected = int(rec.get("Choice", -1))
        raw_input = rec.get("Input")
        expected_text = "" if raw_input in (None, "null") else str(raw_input)
        kind = "end" if expected == -1 else ("input" if expected_text else "tap")
        out = StepOutcome(app, path.stem, instruction, i, kind, expected, expected_text)
        recorded_els = parse_state_html(str(rec.get("State", "")), document_order=True)
        shown = _shown(config, app, rec, screens)
        if shown is None:
            out.error, out.error_kind = "no state file for this record", "no-state-file"
        else:
            out.label = -1 if expected == -1 else map_element(recorded_els, expected,
                                                                shown.elements)
            _answer(agent, out, shown, instruction, app, history, hits, path_labels, following,
                    config, paper, fig)
            following = following and out.from_memory
        if out.label is None and expected != -1 and not out.error:
            out.error_kind = "label-not-on-screen"
        if isinstance(backend, RecordedBackend):
            rstep = backend.find(instruction, i, app)
            if rstep is not None:
                out.artifact_correct = rstep.verdict
                out.recorded_answer = read_released_reply(rstep.raw).id
        out.correct = _verdict(out)
        fig.llm_calls += out.llm_calls
        fig.steps += 1
        fig.correct += out.correct
        setattr(fig, f"{kind}_steps", getattr(fig, f"{kind}_steps") + 1)
        setattr(fig, f"{kind}_correct", getattr(fig, f"{kind}_correct") + out.correct)
        fig.memory_correct += out.from_memory and out.correct
        if out.artifact_correct is not None:
            fig.artifact_steps += 1
            fig.artifact_agree += out.artifact_correct == out.correct
            fig.artifact_correct += out.artifact_correct
        outcomes.append(out)
        report.steps.append(out)
        history.append(_history_line(out, recorded_els, shown, paper))
    fig.tasks_completed += all(o.correct for o in outcomes if o.kind != "end")
    fig.tasks_all_correct += all(o.correct for o in outcomes)


def _history_line(
    out: StepOutcome, recorded_els: list[Any], shown: _Shown | None, paper: bool
) -> str:
    """The true action of a record, as the history line the prompt style uses (the element
    of our screen when the record's choice is on it, else the recorded element)."""
    rec = next((e for e in recorded_els if e.id == out.expected), None)
    if out.expected == -1:
        return ""
    if paper:
        if shown is not None and out.label is not None and out.label in shown.lines:
            line = shown.lines[out.label]
        elif rec is not None:
            checked = "" if rec.checked is None else f" checked={rec.checked}"
            desc = f" text='{rec.desc}'" if rec.desc else ""
            line = f"<{rec.tag} id={rec.id}{desc}{checked}>{rec.body}</{rec.tag}>"
        else:
            return "\n- unknown action"
        return paper_action_line(line, out.expected_text)
    if shown is not None and out.label is not None and out.label in shown.labels:
        label = shown.labels[out.label]
    elif rec is not None:
        label = normalise_label(rec.body or rec.desc)
    else:
        return "unknown action"
    return _compact_history_line(label, out.expected_text)


def _answer(
    agent: AutoDroidAgent,
    out: StepOutcome,
    shown: _Shown,
    instruction: str,
    app: str,
    history: list[str],
    hits: list[MemoryHit],
    path_labels: list[str],
    following: bool,
    config: OfflineConfig,
    paper: bool,
    fig: AppFigures,
) -> None:
    by_label: dict[str, int] = {}
    for cid, lab in shown.labels.items():
        by_label.setdefault(lab, cid)
    if following and out.step < len(path_labels) and path_labels[out.step] in by_label:
        out.chosen, out.chosen_action, out.from_memory = (
            by_label[path_labels[out.step]], "tap", True
        )
        fig.saved_calls += 1
        return
    if not config.ask_llm:
        out.error, out.error_kind = "not asked (ask_llm=False)", "not-asked"
        return
    hints: list[str] = []
    id_hints: dict[int, str] = {}
    for h in hits:
        hid = by_label.get(h.entry.label)
        if hid is None or hid in id_hints:
            continue
        id_hints[hid] = h.entry.simulated_task
        hints.append(f"element {hid} ('{h.entry.label}') leads to: {h.entry.simulated_task}")
        if len(hints) >= agent.settings.max_hints:
            break
    valid = {e.id for e in shown.elements} | set(shown.labels)
    try:
        d = agent.decide(instruction, history, shown.html, shown.view, hints, valid,
                         app=app, id_hints=id_hints)
    except AgentFailure as exc:
        usage = exc.evidence.get("usage", {})
        out.llm_calls = int(usage.get("calls", 0)) if isinstance(usage, dict) else 0
        out.error = str(exc)
        kind = exc.evidence.get("recorded_miss")
        out.error_kind = str(kind) if kind else "no-answer"
        fig.failures += 1
        return
    out.llm_calls = d.usage.calls
    if d.answer.finished:
        out.chosen = -1
    else:
        out.chosen, out.chosen_action, out.chosen_text = d.answer.id, d.answer.action, d.answer.text


def run_request(request: OfflineRequest) -> str:
    """``eval --agent autodroid --offline-stepwise DIR``: run, write ``request.out``, and
    return the table to print."""
    config = OfflineConfig(
        droidtask_dir=request.dataset_dir,
        apps=request.apps,
        max_tasks_per_app=request.max_tasks_per_app,
        memory_dir=request.options.memory_dir,
        out=request.out,
    )
    report = run_offline_stepwise(config, request.options, progress=request.progress)
    return format_offline_table(report)


def format_offline_table(report: OfflineReport) -> str:
    """The per-app table printed by ``llamatouch eval --offline-stepwise``."""
    agree = any(a.artifact_steps for a in report.apps)
    head = (f"{'app':<12} {'tasks':>5} {'steps':>5} {'action':>13} {'tap':>6} {'input':>6} "
            f"{'end':>6} {'completion':>12} {'LLM':>5} {'saved':>5}")
    if agree:
        head += f" {'artifact':>13} {'agree':>6}"
    lines = [head, "-" * len(head)]
    for a in [*report.apps, report.total()]:
        line = (
            f"{a.app:<12} {a.tasks:>5} {a.steps:>5} {a.correct:>4}"
            f" {100 * a.action_accuracy:>6.1f}%"
            f" {100 * a.tap_accuracy:>5.1f}% {100 * a.input_accuracy:>5.1f}%"
            f" {100 * a.end_accuracy:>5.1f}% {a.tasks_completed:>3}"
            f" {100 * a.completion_rate:>6.1f}%"
            f" {a.llm_calls:>5} {a.saved_calls:>5}"
        )
        if agree:
            line += (f" {a.artifact_correct:>4} {100 * a.artifact_correct / max(a.steps, 1):>6.1f}%"
                     f" {100 * a.agreement:>5.1f}%")
        lines.append(line)
    n_dis = len(report.disagreements())
    if agree:
        lines.append(f"verdicts differing from the artifact's: {n_dis} step(s) "
                     f"(see disagreements in {STEPWISE_FILE})")
    return "\n".join(lines)


__all__ = [
    "SCREENS",
    "STEPWISE_FILE",
    "LLMUsageSummary",
    "OfflineConfig",
    "OfflineReport",
    "StepOutcome",
    "format_offline_table",
    "parse_recorded_state",
    "run_offline_stepwise",
]
