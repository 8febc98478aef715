"""Checking that a task's ground truth replays on the virtual device, and repairing it.

The importers call :func:`make_replayable` on every fully resolved task of a world: the
ground-truth actions are replayed on an in-process :class:`VirtualDevice` started at the
task's start state, and after every action the device must show the path's next state.

Where one input was recorded leading to different screens, the path's recorded context
(:func:`llamatouch.datasets.task_paths.add_task_edges`) already decides. What context cannot
decide is two tasks that start on the same screen and see one input lead to different places
(the app held different data when each was recorded: "View last captured media" opens a
different photo). Such a task gets its own copy of the start screen, a *hidden-state variant*
``<start>.<task id>`` (same hierarchy, same outgoing edges, the task's own edge recorded from
it), and starts there. A task that still does not replay is flagged
(``Task.flagged``) with the reason and left out of default runs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from llamatouch.actions import Finish, action_from_json
from llamatouch.agent import DeviceCapabilities
from llamatouch.datasets.task_paths import add_task_edges
from llamatouch.device.base import Observation
from llamatouch.errors import LlamaTouchError
from llamatouch.essential.schema import Annotation
from llamatouch.evaluator.scoring import score_trace
from llamatouch.tasks import Task
from llamatouch.trace.format import StepRecord, TraceManifest, TraceWriter, read_trace
from llamatouch.trace.records import TaskRef
from llamatouch.ui.xmlio import read_uiautomator_xml
from llamatouch.world import World, WorldTransition, safe_name

if TYPE_CHECKING:
    from llamatouch_emulator.virtual import VirtualDevice


@dataclass(frozen=True, slots=True)
class ReplayCheck:
    """The outcome of replaying one task's ground truth.

    Attributes:
        ok: every action led to the path's next state.
        step: the first action that did not (``-1`` when ``ok``).
        expected: the state the path expected after it.
        got: the state the device showed instead (or the error).
    """

    ok: bool
    step: int = -1
    expected: str = ""
    got: str = ""

    @property
    def reason(self) -> str:
        if self.ok:
            return ""
        return (
            f"ground-truth replay diverges at step {self.step}: expected state "
            f"{self.expected[:16]}, the virtual device showed {self.got[:16]}"
        )


def check_replay(world: World, task: Task) -> ReplayCheck:
    """Replay ``task.gt_actions`` on a fresh virtual device over ``world`` (see the module
    docstring)."""
    from llamatouch_emulator.virtual import VirtualDevice

    dev = VirtualDevice(world)
    try:
        dev.reset_to_state(task.start_state)
        for i, raw in enumerate(task.gt_actions[:-1]):
            dev.act(action_from_json(raw))
            if dev.current_state != task.gt_states[i + 1]:
                return ReplayCheck(False, i, task.gt_states[i + 1], dev.current_state)
    except LlamaTouchError as exc:
        return ReplayCheck(False, -1, task.start_state, f"error: {exc}")
    return ReplayCheck(True)


def start_variant(world: World, task: Task) -> str:
    """Give ``task`` its own copy of its start state (see the module docstring) and re-record
    its path from there. Returns the variant's id."""
    start = task.start_state
    vid = f"{start}.{task.id}"
    if not safe_name(vid):
        raise LlamaTouchError(f"task id {task.id!r} cannot name a state variant")
    if vid not in world.states:
        world.states[vid] = replace(world.states[start], id=vid, aliases=[])
        world.screens[vid] = world.screen(start)
        png = world.screenshot(start)
        if png is not None:
            world.screenshots[vid] = png
        for t in [t for t in world.transitions if t.source == start]:
            world.transitions.append(
                WorldTransition(
                    source=vid,
                    target=vid if t.target == start else t.target,
                    action=dict(t.action),
                    element_key=t.element_key,
                    element=None if t.element is None else dict(t.element),
                    event_type=t.event_type,
                    effects=dict(t.effects),
                )
            )
    task.gt_states = [vid, *task.gt_states[1:]]
    task.start_state = vid
    add_task_edges(world, task.gt_states, task.gt_actions)
    return vid


def make_replayable(world: World, tasks: list[Task]) -> list[Task]:
    """Check every task with a ground truth; give the ones that diverge a start variant, and
    flag those that still diverge. Returns the flagged tasks."""
    flagged: list[Task] = []
    for task in tasks:
        if not task.gt_actions:
            continue
        check = check_replay(world, task)
        if check.ok:
            continue
        start_variant(world, task)
        task.meta["start_variant"] = True
        check = check_replay(world, task)
        if not check.ok:
            task.flagged = check.reason
            flagged.append(task)
    return flagged


def replay_task(
    world: World, task: Task, out_dir: str | Path, *, screenshots: bool = True
) -> Path:
    """Replay ``task.gt_actions`` on a fresh virtual device (as the ``replay`` agent does) and
    record what the device served at every step (its hierarchy, with typed text, and its
    screenshot) as a trace in ``out_dir``, the action taken on each screen, ``finish`` on the
    last. ``screenshots=False`` leaves screenshots out (a check whose annotation has no
    image primitive does not need them). Returns the trace folder."""
    from llamatouch_emulator.virtual import VirtualDevice

    dev = VirtualDevice(world, serial=f"replay-{task.id}")
    if task.start_state:
        dev.reset_to_state(task.start_state)
    else:
        dev.reset(task.app or None)  # the app freshly launched, as on a real device
    first = _observe(dev, screenshots)
    manifest = TraceManifest(
        episode_id=f"{task.id}__replay",
        task=TaskRef(id=task.id, suite="", app=task.app, instruction=task.instruction),
        agent={"name": "replay"},
        device=DeviceCapabilities(
            serial=dev.serial, kind="virtual", width=first.screen.width,
            height=first.screen.height,
        ),
    )
    writer = TraceWriter(Path(out_dir), manifest)
    obs = first
    for i, raw in enumerate(task.gt_actions):
        action = action_from_json(raw)
        record = StepRecord(
            index=i, activity=obs.activity, package=obs.package, action=action,
            width=obs.screen.width, height=obs.screen.height,
            extra={"world": world.name, "state_id": dev.current_state},
        )
        writer.write_step(record, obs.screenshot_png if screenshots else None, obs.hierarchy_xml)
        if isinstance(action, Finish):
            break
        dev.act(action)
        obs = _observe(dev, screenshots)
    writer.finish("finished")
    return Path(out_dir)


def _observe(dev: VirtualDevice, screenshots: bool) -> Observation:
    if screenshots:
        return dev.observe()
    xml = dev.dump_xml()
    width, height = dev.screen_size()
    screen = read_uiautomator_xml(
        xml, "virtual", width=width, height=height, activity=dev.foreground_activity()
    )
    return Observation(
        screen=screen, screenshot_png=b"", hierarchy_xml=xml,
        activity=dev.foreground_activity(), package=dev.foreground_package(),
    )


def check_annotation(
    world: World, task: Task, annotation: Annotation, work_dir: str | Path
) -> str:
    """Replay ``task`` (see :func:`replay_task`) and score the replay with ``annotation``
    (the essential evaluator). Returns ``""`` when it scores ``success``, else the reason."""

    images = any(p.type == "image" for c in annotation.checkpoints for p in c.primitives)
    folder = replay_task(world, task, Path(work_dir) / task.id, screenshots=images)
    verdict = score_trace(read_trace(folder), annotation)
    if verdict.status == "success":
        return ""
    return f"the replayed ground truth does not meet its annotation ({verdict.reason})"
