"""Typed problem records and the import report shared by the importers."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llamatouch.fsutil import atomic_write_json


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """Something an importer skipped or could not resolve.

    Attributes:
        kind: machine-readable category (``malformed_json``, ``state_unresolved``,
            ``element_unresolved``, ``event_state_unresolved`` ...).
        source: the file at fault (a path relative to the dataset root where possible).
        detail: a human-readable explanation of what is wrong and why.
        app: the app folder the problem belongs to (``""`` when not app-specific).
        task: the task id (``""`` when not about a task).
        record: the 0-based record index within the task (``None`` when not about a record).
    """

    kind: str
    source: str
    detail: str
    app: str = ""
    task: str = ""
    record: int | None = None

    def __str__(self) -> str:
        where = self.source
        if self.task:
            where += f" [{self.task}"
            where += f" record {self.record}]" if self.record is not None else "]"
        return f"{self.kind}: {where}: {self.detail}"


@dataclass(slots=True)
class AppSummary:
    """Counts for one imported app.

    Attributes:
        app: the app folder name.
        package: the Android package.
        world: the world folder name written under ``worlds/``.
        state_files: state JSON files read.
        states: distinct states after de-duplication.
        transitions: distinct transitions written (recorded events and task edges).
        tasks: tasks read from ``task<N>.yaml``.
        fully_resolved: tasks whose every record resolved to a state and an action.
        task_edges: transitions added from the tasks' own records (a step on one state, the
            next record on another) where no recorded event did the same.
        state_variants: states added as a task's own copy of its start screen (see
            :mod:`llamatouch.datasets.replay_check`), included in ``states``.
        flagged: fully resolved tasks whose ground truth still does not replay (or does not
            meet its annotation) on the virtual device; left out of default runs.
    """

    app: str
    package: str
    world: str
    state_files: int = 0
    states: int = 0
    transitions: int = 0
    tasks: int = 0
    fully_resolved: int = 0
    task_edges: int = 0
    state_variants: int = 0
    flagged: int = 0


@dataclass(slots=True)
class ImportReport:
    """What an import produced and what it skipped (``import-report.json``).

    Attributes:
        dataset: dataset kind (``droidtask``, ``droidbot``, ``llamatouch-gt``).
        source: the dataset folder that was read.
        out: the output folder.
        apps: per-app counts.
        problems: everything skipped or unresolved.
    """

    dataset: str
    source: str
    out: str
    apps: list[AppSummary] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)

    def total(self, attr: str) -> int:
        return sum(int(getattr(a, attr)) for a in self.apps)

    def problem_counts(self) -> dict[str, int]:
        return dict(Counter(p.kind for p in self.problems))

    def to_json(self) -> dict[str, Any]:
        totals = {
            k: self.total(k)
            for k in (
                "state_files",
                "states",
                "transitions",
                "tasks",
                "fully_resolved",
                "task_edges",
                "state_variants",
                "flagged",
            )
        }
        return {
            "dataset": self.dataset,
            "source": self.source,
            "out": self.out,
            "totals": {"apps": len(self.apps), **totals},
            "problem_counts": self.problem_counts(),
            "apps": [asdict(a) for a in self.apps],
            "problems": [asdict(p) for p in self.problems],
        }

    def save(self, path: str | Path) -> None:
        atomic_write_json(path, self.to_json())
