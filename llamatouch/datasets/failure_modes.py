"""Labelled traces with the failure modes real agents produce, generated on a task's world.

Each variant is a list of actions driven through the virtual device from the task's start
(the ``replay`` path: the device follows recorded edges, shows typed text, goes back through
its own back stack), recorded as a trace, and labelled by what the task's instruction asks:
the goal is reached at the end (``success``) or not (``fail``). The ground truth's own states
tell whether the goal state was reached; a variant whose run does not show what its mode needs
(an undo that does not revert, a sibling with no recorded outcome) is not produced.

Modes (label):

- ``gt`` (success): the ground truth itself.
- ``no_finish`` (success): the ground truth without the final ``finish`` (completion without
  a declared finish; the state was reached).
- ``extras`` (success): the ground truth, then harmless extra actions (two waits and a scroll
  that moves nothing), then ``finish``. (Leaving the page with ``back`` is not used: a world
  replays recorded screens, and the screen ``back`` leads to may show the value from before
  the change, which the real app would not.)
- ``detour`` (success): at one step a recorded edge to another screen is taken, ``back``
  returns, and the ground truth goes on.
- ``visit_leave`` (fail; page goals only): the page is reached, then left with ``back``.
- ``undo`` (fail): the state is reached, then changed back: the last action toggles a switch
  or check box and it is tapped again (the control shows the other state); or the last action
  picks one of exclusive checkable options (radio buttons), and the dialog is opened again
  and a sibling option picked ("Dark" then "Light"), for instructions that set a value
  ("set", "change", "switch", "use", "select", "adjust", "sort", "make": another pick
  replaces it; "add the holidays of China" then of Chile adds more, and is not used).
- ``sibling`` (fail): the last tap goes to a near-identical sibling (same class and parent,
  another label: "96 kbps" for "64 kbps") that has a recorded outcome elsewhere.
- ``diverged`` (fail): halfway the run takes a recorded edge off the path and wanders on
  recorded edges, never reaching the goal state.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llamatouch.actions import Action, Finish, Key, Scroll, Tap, Wait, action_from_json
from llamatouch.agent import DeviceCapabilities
from llamatouch.errors import LlamaTouchError
from llamatouch.tasks import Task
from llamatouch.trace.format import StepRecord, TraceManifest, TraceWriter
from llamatouch.trace.records import TaskRef
from llamatouch.ui.node import UINode, UIScreen
from llamatouch.ui.xmlio import read_uiautomator_xml
from llamatouch.world import World

#: Classes of two-state controls a second tap turns back (a radio button is not one).
_TOGGLE = re.compile(r"(Switch|CheckBox|ToggleButton)", re.I)

#: Instructions that set one value among exclusive ones (another pick replaces it); "add the
#: holidays of China" is not one (another pick adds more).
_SETTING = re.compile(r"^\s*(set|change|switch|use|select|adjust|sort|make)\b", re.I)

#: Every mode, and whether its traces do the task.
MODES: dict[str, bool] = {
    "gt": True,
    "no_finish": True,
    "extras": True,
    "detour": True,
    "visit_leave": False,
    "undo": False,
    "sibling": False,
    "diverged": False,
}


@dataclass(frozen=True, slots=True)
class Variant:
    """One generated, labelled trace.

    Attributes:
        task_id: the task.
        mode: one of :data:`MODES`.
        success: the label (does the trace do what the instruction asks).
        trace_dir: the recorded trace.
        states: the world states the device showed, in order.
    """

    task_id: str
    mode: str
    success: bool
    trace_dir: Path
    states: tuple[str, ...]


@dataclass(slots=True)
class _Run:
    states: list[str]
    finished: bool
    end_screen: UIScreen


def _drive(
    world: World, task: Task, actions: list[Action], out: Path | None
) -> _Run:
    """Run ``actions`` on a fresh virtual device from the task's start; record a trace in
    ``out`` when given (hierarchies only)."""
    from llamatouch_emulator.virtual import VirtualDevice

    dev = VirtualDevice(world, serial=f"variant-{task.id}")
    dev.reset_to_state(task.start_state)
    states = [dev.current_state]
    writer: TraceWriter | None = None
    if out is not None:
        meta = world.states[dev.current_state]
        writer = TraceWriter(
            out,
            TraceManifest(
                episode_id=out.name,
                task=TaskRef(id=task.id, app=task.app, instruction=task.instruction),
                agent={"name": "variant"},
                device=DeviceCapabilities(
                    serial=dev.serial, kind="virtual", width=meta.width, height=meta.height
                ),
            ),
        )
    finished = False
    for i, action in enumerate([*actions, None]):
        if writer is not None:
            width, height = dev.screen_size()
            record = StepRecord(
                index=i,
                activity=dev.foreground_activity(),
                package=dev.foreground_package(),
                action=action,
                width=width,
                height=height,
                extra={"state_id": dev.current_state},
            )
            writer.write_step(record, None, dev.dump_xml())
        if action is None:
            break
        if isinstance(action, Finish):
            finished = True
            break
        if not isinstance(action, Wait):
            dev.act(action)
        states.append(dev.current_state)
    if writer is not None:
        writer.finish("finished")
    width, height = dev.screen_size()
    end = read_uiautomator_xml(dev.dump_xml(), "variant", width=width, height=height)
    return _Run(states, finished, end)


def _actions(task: Task) -> list[Action]:
    return [action_from_json(a) for a in task.gt_actions]


def _tap_on(screen: UIScreen, node: UINode) -> Tap:
    x, y = node.bounds.center
    return Tap(x=x, y=y, element=screen.key(node))


def _checkable_group(screen: UIScreen, node: UINode | None) -> UINode | None:
    if node is None:
        return None
    for n in (node, *screen.descendants(node)):
        if n.checkable:
            return n
    return None


def _siblings(screen: UIScreen, node: UINode) -> list[UINode]:
    parent = screen.parent_of(node)
    if parent is None:
        return []
    label = (node.text or node.content_desc).strip()
    out = []
    for n in screen.nodes:
        if n is node or n.parent != node.parent or n.class_name != node.class_name:
            continue
        other = (n.text or n.content_desc).strip()
        sub = [d for d in screen.descendants(n) if (d.text or d.content_desc).strip()]
        if not other and sub:
            other = (sub[0].text or sub[0].content_desc).strip()
        if n.visible and (n.clickable or n.checkable) and other and other != label:
            out.append(n)
    return out


def _label_of(screen: UIScreen, node: UINode) -> str:
    for n in (node, *screen.descendants(node)):
        if (n.text or n.content_desc).strip():
            return (n.text or n.content_desc).strip()
    return ""


def _recorded_taps(world: World, sid: str, avoid: set[str]) -> list[tuple[Tap, str]]:
    """Recorded tap edges out of ``sid`` to a state not in ``avoid`` (sorted, with a target)."""
    screen = world.screen(sid)
    out: list[tuple[Tap, str]] = []
    for t in world.transitions:
        if t.source != sid or t.action.get("action") != "tap" or t.target in avoid:
            continue
        node = screen.node_by_key(t.element_key) if t.element_key else None
        if node is None or not node.visible:
            continue
        out.append((_tap_on(screen, node), t.target))
    return sorted(out, key=lambda p: (p[1], p[0].y, p[0].x))


def plan_variants(
    world: World, task: Task, page_goal: bool, seed: int = 0
) -> dict[str, list[Action]]:
    """The action list of every mode that applies to ``task`` (before running them)."""
    rng = random.Random(f"{seed}:{task.id}")
    gt = _actions(task)
    body = gt[:-1]
    finish = Finish()
    states = task.gt_states
    plans: dict[str, list[Action]] = {"gt": gt, "no_finish": body}
    extras: list[Action] = [Wait(1.0), Scroll(direction="down"), Wait(1.0)]
    plans["extras"] = [*body, *extras, finish]
    if page_goal:
        plans["visit_leave"] = [*body, Key("back"), finish]
    taps = [(i, a) for i, a in enumerate(body) if isinstance(a, Tap)]
    if taps:
        k, tap = taps[-1]
        screen = world.screen(states[k])
        node = screen.node_by_key(tap.element) if tap.element else screen.hit_test(tap.x, tap.y)
        box = _checkable_group(screen, node)
        if box is not None and _TOGGLE.search(box.class_name or "") and k == len(body) - 1:
            plans["undo"] = [*body, tap, finish]
        if node is not None:
            sibs = _siblings(screen, node)
            rng.shuffle(sibs)
            if sibs:
                plans["sibling"] = [*body[:k], _tap_on(screen, sibs[0]), finish]
                exclusive = box is not None and _checkable_group(screen, sibs[0]) is not None
                setting = bool(_SETTING.search(task.instruction))
                if (
                    "undo" not in plans
                    and exclusive
                    and setting
                    and k >= 1
                    and isinstance(body[k - 1], Tap)
                ):
                    # reopen what the choice was made in, pick another option
                    plans["undo"] = [*body, body[k - 1], _tap_on(screen, sibs[0]), finish]
    path = set(states)
    if len(body) >= 1:
        k = len(body) // 2
        off = _recorded_taps(world, states[k], path)
        if off:
            tap, target = off[rng.randrange(len(off))]
            wander: list[Action] = [tap]
            here = target
            for _ in range(2):
                nxt = _recorded_taps(world, here, path)
                if not nxt:
                    break
                tap2, here = nxt[rng.randrange(len(nxt))]
                wander.append(tap2)
            plans["diverged"] = [*body[:k], *wander, finish]
        k2 = rng.randrange(len(body))
        off2 = _recorded_taps(world, states[k2], path)
        if off2:
            tap, _ = off2[rng.randrange(len(off2))]
            plans["detour"] = [*body[:k2], tap, Key("back"), *body[k2:], finish]
    return plans


def _toggled_back(goal: UIScreen, after: UIScreen) -> bool:
    """Whether a switch / check box shown on both screens is set differently on ``after``
    (the screen the device served at the end)."""
    before = {
        goal.key(n): n.checked
        for n in goal.nodes
        if n.checkable and _TOGGLE.search(n.class_name or "")
    }
    return any(
        after.key(n) in before and before[after.key(n)] != n.checked
        for n in after.nodes
        if n.checkable
    )


def _texts(world: World, sid: str) -> set[str]:
    return {(n.text or n.content_desc).strip() for n in world.screen(sid).nodes
            if n.visible and (n.text or n.content_desc).strip()}


def _same_page(world: World, goal: str, end: str) -> bool:
    """Whether ``end`` is the goal's page again (same activity, most of its texts), with
    something changed: a value picked again shows on the page, not in a dialog left open."""
    if world.states[goal].activity != world.states[end].activity:
        return False
    want, got = _texts(world, goal), _texts(world, end)
    return bool(want) and len(want & got) >= 0.6 * len(want) and want != got


def _same_screen(world: World, a: str, b: str) -> bool:
    return a == b or world.screen(a).nodes == world.screen(b).nodes


def generate_variants(
    world: World, task: Task, out_dir: str | Path, *, page_goal: bool, seed: int = 0
) -> list[Variant]:
    """Generate, check and record every applicable mode of ``task`` under ``out_dir``."""
    out: list[Variant] = []
    goal = task.gt_states[-1]
    for mode, actions in plan_variants(world, task, page_goal, seed).items():
        try:
            run = _drive(world, task, actions, None)
        except LlamaTouchError:
            continue
        end = run.states[-1]
        reached = any(_same_screen(world, s, goal) for s in run.states)
        ok = {
            "gt": _same_screen(world, end, goal),
            "no_finish": _same_screen(world, end, goal),
            "extras": _same_screen(world, end, goal),
            "detour": _same_screen(world, end, goal) and len(run.states) > len(task.gt_states),
            "visit_leave": reached and not _same_screen(world, end, goal),
            "undo": reached
            and (
                (
                    # the ground truth visibly flipped it (a recorded end screen that still
                    # shows the old state cannot tell an undo apart), and the undo flips back
                    _toggled_back(world.screen(task.gt_states[-2]), world.screen(goal))
                    and _toggled_back(world.screen(goal), run.end_screen)
                )
                or (
                    len(actions) > len(task.gt_actions) + 1
                    and not _same_screen(world, end, goal)
                    and _same_page(world, goal, end)
                )
            ),
            "sibling": not reached and len(run.states) > 1 and run.states[-2] != end,
            "diverged": not reached,
        }[mode]
        if not ok:
            continue
        folder = Path(out_dir) / f"{task.id}__{mode}"
        run = _drive(world, task, actions, folder)
        out.append(Variant(task.id, mode, MODES[mode], folder, tuple(run.states)))
    return out


def variant_summary(variants: list[Variant]) -> dict[str, Any]:
    """Counts per mode (for reports)."""
    counts: dict[str, int] = {}
    for v in variants:
        counts[v.mode] = counts.get(v.mode, 0) + 1
    return counts
