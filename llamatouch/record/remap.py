"""Running a world's tasks on a recording of it.

A task names world states by id (``start_state``, ``gt_states``); a recording names the same
screens by other ids. :func:`remap_tasks` rewrites the tasks of the source world to the
recording's ids by content key, and points them at the recording. Tasks with a state the
recording never reached cannot run there and are reported, not guessed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from llamatouch.record.diff import state_keys
from llamatouch.tasks import Task, TaskSuite
from llamatouch.world import World


@dataclass(slots=True)
class RemapResult:
    """What :func:`remap_tasks` produced.

    Attributes:
        suite: the tasks that run on the recording (ids rewritten, ``world`` = its folder).
        missing: task id → the source state ids the recording does not have.
    """

    suite: TaskSuite
    missing: dict[str, list[str]] = field(default_factory=dict)


def remap_tasks(suite: TaskSuite, source: World, recorded: World,
                recorded_dir: str | Path) -> RemapResult:
    """Rewrite the tasks of ``suite`` that run in ``source`` so they run in ``recorded``."""
    by_key: dict[str, str] = {}
    for sid, key in state_keys(recorded).items():
        by_key.setdefault(key, sid)
    src_keys = state_keys(source)
    tasks: list[Task] = []
    missing: dict[str, list[str]] = {}
    for task in suite.tasks:
        if (task.world or suite.world) != source.name:
            continue
        wanted = [s for s in [task.start_state, *task.gt_states] if s]
        lost = sorted({s for s in wanted if s not in src_keys or src_keys[s] not in by_key})
        if lost:
            missing[task.id] = lost
            continue

        def new(s: str) -> str:
            return by_key[src_keys[s]] if s else s

        tasks.append(dataclasses.replace(
            task,
            start_state=new(task.start_state),
            gt_states=[new(s) for s in task.gt_states],
            world=str(Path(recorded_dir).resolve()),
            meta={**task.meta, "remapped_from": source.name},
        ))
    out = TaskSuite(suite=suite.suite, world=str(Path(recorded_dir).resolve()), tasks=tasks)
    return RemapResult(out, missing)
