"""Ground-truth traces: a path through a world written as a trace (format v1).

A task's ground truth (``Task.gt_states`` / ``Task.gt_actions``) becomes an episode folder
that the evaluator and the annotation tool read like any recorded run: one step per state,
with the state's hierarchy XML, a screenshot (the recorded one when the world has it, else one
rendered from the hierarchy), the activity and the action taken on it; the last step carries
``finish``. :func:`write_path_trace` does the same for any path through a world.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from llamatouch.actions import action_from_json
from llamatouch.agent import DeviceCapabilities
from llamatouch.errors import ActionError, SchemaError
from llamatouch.fsutil import safe_join
from llamatouch.tasks import Task, TaskSuite
from llamatouch.trace.format import StepRecord, TraceManifest, TraceWriter
from llamatouch.trace.records import TaskRef, action_from_record
from llamatouch.ui.node import UIScreen
from llamatouch.ui.xmlio import write_uiautomator_xml
from llamatouch.world import World, load_world

#: Agent name recorded in the manifest of ground-truth traces.
GROUND_TRUTH_AGENT = "ground_truth"

ScreenshotFn = Callable[[UIScreen], bytes]


def _default_screenshot(screen: UIScreen) -> bytes:
    from llamatouch.ui.render import render_screenshot

    return render_screenshot(screen)


def write_path_trace(
    world: World,
    task: Task,
    state_ids: Sequence[str],
    actions: Sequence[dict[str, Any] | None],
    out_dir: str | Path,
    *,
    episode_id: str | None = None,
    agent: dict[str, Any] | None = None,
    suite: str = "",
    status: str = "finished",
    render: ScreenshotFn | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write the path ``state_ids`` (with ``actions[i]`` taken on ``state_ids[i]``) as a trace.

    ``actions`` has one entry per state, or one fewer (the last screen then has no action).
    Every action is validated with :func:`~llamatouch.actions.action_from_json`. Screenshots
    are the world's recorded PNGs where it has them, else ``render(screen)`` (default:
    :func:`llamatouch.ui.render.render_screenshot`). ``extra`` is merged into every step's
    ``extra``. Returns the episode folder.
    """
    if not state_ids:
        raise SchemaError(f"task {task.id}", "gt_states", "empty path")
    if len(actions) not in (len(state_ids), len(state_ids) - 1):
        raise SchemaError(
            f"task {task.id}",
            "gt_actions",
            f"{len(actions)} actions for {len(state_ids)} states",
        )
    for i, sid in enumerate(state_ids):
        if sid not in world.states:
            raise SchemaError(f"task {task.id}", f"gt_states[{i}]", f"unknown state {sid!r}")
    for i, act in enumerate(actions):
        if act is None:
            continue
        try:
            action_from_json(act)
        except ActionError as exc:
            raise SchemaError(f"task {task.id}", f"gt_actions[{i}]", str(exc)) from exc
    shot = render or _default_screenshot
    first = world.states[state_ids[0]]
    manifest = TraceManifest(
        episode_id=episode_id or f"{task.id}__{GROUND_TRUTH_AGENT}",
        task=TaskRef(id=task.id, suite=suite, app=task.app, instruction=task.instruction),
        agent=agent or {"name": GROUND_TRUTH_AGENT},
        device=DeviceCapabilities(
            serial=f"world:{world.name}",
            kind="world",
            width=first.width,
            height=first.height,
        ),
    )
    out = Path(out_dir)
    writer = TraceWriter(out, manifest)
    for i, sid in enumerate(state_ids):
        meta = world.states[sid]
        screen = world.screen(sid)
        png = world.screenshot(sid)
        if png is None:
            png = shot(screen)
        record = StepRecord(
            index=i,
            activity=meta.activity,
            package=meta.package,
            action=action_from_record(actions[i] if i < len(actions) else None),
            width=meta.width,
            height=meta.height,
            extra={
                "world": world.name,
                "state_id": sid,
                "screenshot": "recorded" if meta.screenshot else "rendered",
                **(extra or {}),
            },
        )
        writer.write_step(record, png, write_uiautomator_xml(screen))
    writer.finish(status)
    return out


def write_gt_trace(
    world: World,
    task: Task,
    out_dir: str | Path,
    *,
    suite: str = "",
    render: ScreenshotFn | None = None,
) -> Path:
    """Write ``task``'s ground-truth path (``gt_states`` / ``gt_actions``) as a trace."""
    if not task.gt_states or not task.gt_actions:
        raise SchemaError(f"task {task.id}", "gt_states", "task has no resolved ground truth")
    return write_path_trace(
        world,
        task,
        task.gt_states,
        task.gt_actions,
        out_dir,
        suite=suite,
        render=render,
        extra={"ground_truth": True},
    )


def write_gt_traces(
    suite: TaskSuite,
    import_root: str | Path,
    traces_dir: str | Path,
    *,
    tasks: Sequence[Task] | None = None,
    render: ScreenshotFn | None = None,
    progress: Callable[[int], object] | None = None,
) -> list[Path]:
    """Write the ground-truth trace of every task with a ground truth (or of ``tasks``) to
    ``traces_dir/<task id>/``; worlds are read from ``import_root/worlds/<task.world>``."""
    root = Path(import_root)
    worlds: dict[str, World] = {}
    out: list[Path] = []
    chosen = tasks if tasks is not None else [t for t in suite.tasks if t.gt_states]
    for task in chosen:
        name = task.world or suite.world
        if name not in worlds:
            worlds[name] = load_world(safe_join(root, "worlds", name))
        target = safe_join(Path(traces_dir), task.id)
        out.append(write_gt_trace(worlds[name], task, target, suite=suite.suite, render=render))
        if progress is not None:
            progress(1)
    return out
