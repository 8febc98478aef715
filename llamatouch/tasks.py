"""Tasks and task suites.

A suite is one JSON file (``tasks/<suite>.json`` for the shipped ones, or the output of
``llamatouch datasets import``)::

    {"schema": "llamatouch.tasks/1", "suite": "demo", "world": "demo", "tasks": [ ... ]}

Each task names its app, its instruction, where it starts and (when known) its ground-truth
action sequence. Essential-state annotations live apart, in ``annotations/<suite>/``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llamatouch.errors import JsonFormatError, SchemaError
from llamatouch.fsutil import atomic_write_json, load_json_file
from llamatouch.paths import tasks_dir

TASKS_SCHEMA = "llamatouch.tasks/1"


@dataclass(slots=True)
class Task:
    """One task.

    Attributes:
        id: unique within the suite and usable as a file name (``notes-task1``).
        app: the app's package.
        instruction: the natural-language task given to the agent.
        start_state: for virtual worlds, the state the episode starts in (``""``: the app's
            start state; real devices start from the app freshly launched).
        max_steps: step limit for an episode (agents are stopped after it).
        gt_actions: the ground-truth actions (action JSON, see :mod:`llamatouch.actions`),
            ending with ``finish``; empty when unknown.
        gt_states: world state ids along the ground-truth path (``len(gt_actions)`` of them,
            the state each action was taken on, then the final state).
        app_label: the app's human-readable name.
        world: world this task runs in on the virtual device (``""``: the suite's world).
        meta: free-form provenance (dataset, source file, quirks found on import).
        flagged: why the task is left out of default runs (``""``: it is not), e.g. its
            ground truth does not replay on the virtual device; ``load_suite`` skips flagged
            tasks unless asked for them (``include_flagged=True``).
    """

    id: str
    app: str
    instruction: str
    start_state: str = ""
    max_steps: int = 15
    gt_actions: list[dict[str, Any]] = field(default_factory=list)
    gt_states: list[str] = field(default_factory=list)
    app_label: str = ""
    world: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    flagged: str = ""


@dataclass(slots=True)
class TaskSuite:
    """A named list of tasks over one world (``world`` empty: real devices only).

    Attributes:
        suite: suite name; annotations are looked up in ``annotations/<suite>/``.
        world: world name (``demo``) or folder the tasks run in on the virtual device.
        tasks: the tasks, in order.
        source: where the suite was loaded from.
    """

    suite: str
    world: str
    tasks: list[Task]
    source: str = ""

    def get(self, task_id: str) -> Task:
        for t in self.tasks:
            if t.id == task_id:
                return t
        raise KeyError(f"suite {self.suite!r} has no task {task_id!r}")

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": TASKS_SCHEMA,
            "suite": self.suite,
            "world": self.world,
            "tasks": [_task_json(t) for t in self.tasks],
        }

    def save(self, path: str | Path) -> None:
        atomic_write_json(path, self.to_json())


def _task_json(task: Task) -> dict[str, Any]:
    """A task as a suite file stores it (``flagged`` only when it is set)."""
    out = asdict(task)
    if not out["flagged"]:
        del out["flagged"]
    return out


def load_suite(path_or_name: str | Path, *, include_flagged: bool = False) -> TaskSuite:
    """Load a suite from a file path, or a shipped suite by name (``demo``).

    Tasks with a ``flagged`` reason (e.g. a ground truth that does not replay) are left out
    unless ``include_flagged`` is set.
    """
    p = Path(path_or_name)
    if not p.exists() and isinstance(path_or_name, str) and "/" not in path_or_name:
        p = tasks_dir() / f"{path_or_name}.json"
    data = load_json_file(p)
    if not isinstance(data, dict):
        raise JsonFormatError(p, "top level is not an object")
    if data.get("schema") != TASKS_SCHEMA:
        raise SchemaError(p, "schema", f"expected {TASKS_SCHEMA!r}, got {data.get('schema')!r}")
    raw_tasks = data.get("tasks")
    if not isinstance(raw_tasks, list):
        raise SchemaError(p, "tasks", "missing or not a list")
    tasks: list[Task] = []
    seen: set[str] = set()
    for i, t in enumerate(raw_tasks):
        if not isinstance(t, dict):
            raise SchemaError(p, f"tasks[{i}]", "not an object")
        for req in ("id", "app", "instruction"):
            if not isinstance(t.get(req), str) or not t.get(req):
                raise SchemaError(p, f"tasks[{i}].{req}", "missing or not a non-empty string")
        try:
            task = Task(**t)
        except TypeError as exc:
            raise SchemaError(p, f"tasks[{i}]", str(exc)) from exc
        if task.id in seen:
            raise SchemaError(p, f"tasks[{i}].id", f"duplicate id {task.id!r}")
        if not isinstance(task.flagged, str):
            raise SchemaError(p, f"tasks[{i}].flagged", "not a string")
        seen.add(task.id)
        if task.flagged and not include_flagged:
            continue
        tasks.append(task)
    return TaskSuite(
        suite=str(data.get("suite") or p.stem),
        world=str(data.get("world") or ""),
        tasks=tasks,
        source=str(p),
    )
