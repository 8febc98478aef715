"""How well automatic proposals hold up: F1 per failure mode with leave-one-app-out tuning.

For every task of an imported DroidTask suite (flagged tasks left out) the ground truth is
replayed on the virtual device and proposed from (:func:`propose_annotation`), and the
failure-mode variants of :mod:`llamatouch.datasets.failure_modes` are generated and labelled
by the instruction. Each variant is scored with its task's proposal.

The proposer's data-tuned threshold (:attr:`ProposerConfig.common_fraction`) is chosen by
leave-one-app-out cross-validation: for each app, the value with the best F1 on the other
apps' traces is used to score that app's traces, so no figure comes from a threshold tuned on
the traces it is reported on.

Which tasks have a page as their goal (for the ``visit_leave`` and ``extras`` variants) is
read from the instructions by hand (:data:`PAGE_GOAL_TASKS`), independently of the
proposer's own heuristic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llamatouch.annotating.goal import AppTexts
from llamatouch.annotating.propose import ProposerConfig, propose_annotation
from llamatouch.datasets.failure_modes import MODES, Variant, generate_variants
from llamatouch.datasets.replay_check import replay_task
from llamatouch.essential.schema import Annotation
from llamatouch.evaluator.agreement import Metrics, metrics
from llamatouch.evaluator.matcher import evaluate
from llamatouch.tasks import Task, load_suite
from llamatouch.trace.format import Trace, read_trace
from llamatouch.world import World, load_world

#: DroidTask tasks whose instruction asks to reach a page (read from the instructions: "open
#: the clock page", "view favorite contacts", "check the frequently asked questions" ...).
PAGE_GOAL_TASKS = frozenset(
    {
        "applauncher-task1",
        "calendar-task16",
        "camera-task2",
        "camera-task13",
        "clock-task2",
        "clock-task9",
        "dialer-task2",
        "dialer-task7",
        "dialer-task8",
        "filemanager-task14",
        "filemanager-task15",
        "gallery-task1",
        "gallery-task4",
        "messenger-task1",
        "messenger-task8",
        "musicplayer-task3",
    }
)
#: The values of ``common_fraction`` tried (1.01: the filter off).
DEFAULT_GRID: tuple[float, ...] = (0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.01)


@dataclass(slots=True)
class Case:
    """One labelled trace of the study."""

    app: str
    task_id: str
    mode: str
    label: bool
    trace: Trace


@dataclass(slots=True)
class Study:
    """Everything one run of :func:`run_study` produced.

    Attributes:
        cases: the labelled traces.
        chosen: app → the ``common_fraction`` chosen on the other apps.
        loao: per case (same order), the prediction with the fold's threshold.
        baseline: per case, the prediction of the proposer without world/goal knowledge.
        tasks: tasks studied.
        grid_f1: F1 over all cases for every value tried (how sensitive the threshold is).
    """

    cases: list[Case] = field(default_factory=list)
    chosen: dict[str, float] = field(default_factory=dict)
    loao: list[bool] = field(default_factory=list)
    baseline: list[bool] = field(default_factory=list)
    tasks: int = 0
    grid_f1: dict[float, float] = field(default_factory=dict)

    def per_mode(self, predictions: list[bool]) -> dict[str, dict[str, Any]]:
        """Per mode: accuracy on its traces, and F1 (success = positive) on its traces with
        the ground truths of the same tasks (a mode of failures alone has no positives)."""
        gt_by_task = {
            c.task_id: (p, c.label)
            for c, p in zip(self.cases, predictions, strict=True)
            if c.mode == "gt"
        }
        out: dict[str, dict[str, Any]] = {}
        for mode in MODES:
            own = [(p, c.label) for c, p in zip(self.cases, predictions, strict=True)
                   if c.mode == mode]
            if not own:
                continue
            tasks = {c.task_id for c in self.cases if c.mode == mode}
            paired = own if mode == "gt" else own + [gt_by_task[t] for t in tasks
                                                     if t in gt_by_task]
            m = metrics(paired)
            acc = metrics(own)
            out[mode] = {
                "n": len(own),
                "label": "success" if MODES[mode] else "fail",
                "accuracy": acc.accuracy,
                "accuracy_ci95": acc.intervals["accuracy"],
                "f1_with_gt": m.f1,
                "f1_ci95": m.intervals["f1"],
            }
        return out

    def overall(self, predictions: list[bool]) -> Metrics:
        return metrics([(p, c.label) for c, p in zip(self.cases, predictions, strict=True)])


def _app(task: Task) -> str:
    return task.id.rsplit("-task", 1)[0]


def build_cases(
    import_dir: Path,
    work_dir: Path,
    *,
    apps: set[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[Case], dict[str, tuple[Task, Trace, AppTexts]]]:
    """Replay every (unflagged, fully resolved) task, generate its variants; returns the
    cases and, per task, its ground-truth replay and its app's text statistics."""
    suite = load_suite(import_dir / "droidtask.json")
    worlds: dict[str, World] = {}
    texts: dict[str, AppTexts] = {}
    cases: list[Case] = []
    gts: dict[str, tuple[Task, Trace, AppTexts]] = {}
    for task in suite.tasks:
        if not task.gt_actions or (apps is not None and _app(task) not in apps):
            continue
        world = worlds.get(task.world)
        if world is None:
            world = worlds[task.world] = load_world(import_dir / "worlds" / task.world)
            texts[task.world] = AppTexts.of(world, task.app)
        gt = read_trace(replay_task(world, task, work_dir / "gt" / task.id, screenshots=False))
        gts[task.id] = (task, gt, texts[task.world])
        for v in generate_variants(
            world, task, work_dir / "variants", page_goal=task.id in PAGE_GOAL_TASKS
        ):
            cases.append(_case(task, v))
        if progress is not None:
            progress(task.id)
    return cases, gts


def _case(task: Task, v: Variant) -> Case:
    return Case(_app(task), task.id, v.mode, v.success, read_trace(v.trace_dir))


def _predict(
    cases: list[Case], anns: dict[str, Annotation]
) -> list[bool]:
    return [evaluate(c.trace, anns[c.task_id]).status == "success" for c in cases]


def run_study(
    import_dir: Path,
    work_dir: Path,
    *,
    grid: tuple[float, ...] = DEFAULT_GRID,
    apps: set[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Study:
    """Build the labelled cases, score them with proposals for every grid value, and pick the
    threshold per held-out app (see the module docstring)."""
    cases, gts = build_cases(import_dir, work_dir, apps=apps, progress=progress)
    by_value: dict[float, list[bool]] = {}
    for value in grid:
        cfg = ProposerConfig(common_fraction=value)
        anns = {tid: propose_annotation(tr, t, texts=tx, config=cfg)
                for tid, (t, tr, tx) in gts.items()}
        by_value[value] = _predict(cases, anns)
    base_cfg = ProposerConfig(common_fraction=1.01, page_goals=False, persist_states=False)
    base = {tid: propose_annotation(tr, t, config=base_cfg) for tid, (t, tr, _) in gts.items()}
    study = Study(cases=cases, baseline=_predict(cases, base), tasks=len(gts))
    study.grid_f1 = {
        v: metrics([(p, c.label) for p, c in zip(preds, cases, strict=True)]).f1
        for v, preds in by_value.items()
    }
    app_names = sorted({c.app for c in cases})
    loao: list[bool | None] = [None] * len(cases)
    default = ProposerConfig().common_fraction
    for held in app_names:
        train = [i for i, c in enumerate(cases) if c.app != held]

        def score(value: float, idx: list[int] = train) -> tuple[float, float]:
            preds = by_value[value]
            f1 = metrics([(preds[i], cases[i].label) for i in idx]).f1
            return (f1, -abs(value - default))

        best = max(grid, key=score)
        study.chosen[held] = best
        for i, c in enumerate(cases):
            if c.app == held:
                loao[i] = by_value[best][i]
    study.loao = [bool(p) for p in loao]
    return study
