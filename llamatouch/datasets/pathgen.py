"""Variant paths of a task through its world, for faithfulness studies.

From a task's ground-truth path (``gt_states`` / ``gt_actions``) and its world's recorded
transitions this builds the kinds of traces agents produce:

- ``gt``: the ground-truth path;
- ``short``: stopped before the last action (and declares success there);
- ``half``: stopped after half of the actions;
- ``wrong``: the last action replaced by another recorded transition from the same screen;
- ``detour``: a harmless detour early on (a navigation tap such as "More options" or "About",
  then Back) and the rest of the ground truth;
- ``recover``: the wrong last action, Back, then the right one (only when the wrong action
  opened another activity or a dialog, so that Back really returns);
- ``wander``: the ground truth, then a navigation tap and Back after the task is done.

A detour returns with the Back key to the screen it left, as the device's back stack does. A
detour is only taken through a *navigation* tap (:data:`NAVIGATION_LABELS`) whose target is
another screen, so that it cannot change the app's data. Everything is deterministic (sorted
choices, no randomness). Which of these really complete the task is for a person to say:
the labels live in ``tests/evaluator/data/droidtask_labels.csv``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llamatouch.tasks import Task
from llamatouch.world import World, WorldTransition

NAVIGATION_LABELS = frozenset(
    {"more options", "about", "search", "sort by", "settings", "change view"}
)
FINISH: dict[str, Any] = {"action": "finish", "status": "success"}
BACK: dict[str, Any] = {"action": "key", "key": "back"}


@dataclass(slots=True)
class Variant:
    """A path: ``states[i]`` with ``actions[i]`` taken on it (the last one ``finish``)."""

    kind: str
    states: list[str]
    actions: list[dict[str, Any]]
    description: str


def _label(t: WorldTransition) -> str:
    el = t.element or {}
    return str(el.get("text") or el.get("content_desc") or el.get("resource_id") or "").strip()


def _outgoing(world: World, source: str) -> list[WorldTransition]:
    return sorted(
        (t for t in world.transitions if t.source == source),
        key=lambda t: (t.target, str(t.action)),
    )


def _describe(actions: list[dict[str, Any]], labels: list[str]) -> str:
    parts = []
    for a, lab in zip(actions, labels, strict=True):
        kind = a.get("action")
        if kind == "type":
            parts.append(f"type {a.get('text')!r}")
        elif kind == "key":
            parts.append(f"key {a.get('key')}")
        elif kind == "finish":
            parts.append("finish")
        else:
            parts.append(f"{kind} {lab!r}" if lab else str(kind))
    return " > ".join(parts)


def variants(world: World, task: Task) -> list[Variant]:
    """Every variant that the world's transitions allow for ``task`` (see module docstring)."""
    states = list(task.gt_states)
    actions = [dict(a) for a in task.gt_actions]
    if len(states) < 2 or len(actions) != len(states):
        return []
    labels = [_gt_label(world, states[i], actions[i]) for i in range(len(actions))]
    out = [Variant("gt", states, actions, "ground truth: " + _describe(actions, labels))]
    k = len(states) - 2  # step of the last real action
    out.append(
        Variant(
            "short",
            states[: k + 1],
            [*actions[:k], FINISH],
            "stops before its last action: " + _describe([*actions[:k], FINISH], [*labels[:k], ""]),
        )
    )
    if k >= 2:
        h = (k + 1) // 2
        out.append(
            Variant(
                "half",
                states[: h + 1],
                [*actions[:h], FINISH],
                "stops after half: " + _describe([*actions[:h], FINISH], [*labels[:h], ""]),
            )
        )
    gt_el = actions[k].get("element")
    alts = [
        t
        for t in _outgoing(world, states[k])
        if t.target not in (states[k + 1], states[k])
        and t.action.get("action") in ("tap", "type")
        and t.action.get("element") != gt_el  # the same element is not a wrong action
        and (not labels[k] or _label(t) != labels[k])
    ]
    if alts:
        alt = alts[0]
        lab = _label(alt)
        out.append(
            Variant(
                "wrong",
                [*states[: k + 1], alt.target],
                [*actions[:k], alt.action, FINISH],
                f"last action replaced: {lab or alt.action.get('action')!r} instead of "
                f"{labels[k]!r}",
            )
        )
    if alts and _back_returns(world, states[k], alts[0].target):
        alt = alts[0]
        lab = _label(alt)
        out.append(
            Variant(
                "recover",
                [*states[: k + 1], alt.target, states[k], states[k + 1]],
                [*actions[:k], alt.action, BACK, actions[k], FINISH],
                f"wrong {lab or alt.action.get('action')!r} first, Back, then {labels[k]!r}",
            )
        )
    nav = _navigation(world, states[0], exclude=states[1])
    if nav is not None:
        lab = _label(nav)
        out.append(
            Variant(
                "detour",
                [states[0], nav.target, *states],
                [nav.action, BACK, *actions],
                f"detour {lab!r} then Back at the start, then the ground truth",
            )
        )
    nav_end = _navigation(world, states[-1], exclude=None)
    if nav_end is not None:
        lab = _label(nav_end)
        out.append(
            Variant(
                "wander",
                [*states, nav_end.target, states[-1]],
                [*actions[:-1], nav_end.action, BACK, FINISH],
                f"ground truth, then {lab!r} and Back after the task was done",
            )
        )
    return out


def _back_returns(world: World, source: str, target: str) -> bool:
    """Whether Back on ``target`` plausibly returns to ``source``: ``target`` is another
    activity, or a dialog / popup (its root is smaller than the screen)."""
    if world.states[source].activity != world.states[target].activity:
        return True
    scr = world.screen(target)
    roots = scr.roots()
    if not roots or scr.width <= 0 or scr.height <= 0:
        return False
    return roots[0].bounds.area < 0.9 * scr.width * scr.height


def _gt_label(world: World, state: str, action: dict[str, Any]) -> str:
    for t in _outgoing(world, state):
        if t.action == action and _label(t):
            return _label(t)
    key = action.get("element")
    if not key:
        return ""
    scr = world.screen(state)
    node = scr.node_by_key(str(key))
    if node is None:
        return ""
    for n in [node, *scr.descendants(node)]:
        if n.text or n.content_desc:
            return (n.text or n.content_desc).strip()
    return node.resource_id.rsplit("/", 1)[-1]


def _navigation(world: World, source: str, exclude: str | None) -> WorldTransition | None:
    for t in _outgoing(world, source):
        if t.action.get("action") != "tap" or t.target in (source, exclude):
            continue
        if _label(t).lower() in NAVIGATION_LABELS:
            return t
    return None


def write_variants(
    world: World, task: Task, out_dir: str | Path, *, suite: str = "droidtask"
) -> list[tuple[str, Variant, Path]]:
    """Write every variant of ``task`` as a trace ``out_dir/<task>__<kind>``."""
    from llamatouch.datasets.gt_trace import write_path_trace

    written = []
    for v in variants(world, task):
        eid = f"{task.id}__{v.kind}"
        path = write_path_trace(
            world,
            task,
            v.states,
            v.actions,
            Path(out_dir) / eid,
            episode_id=eid,
            agent={"name": f"pathgen:{v.kind}"},
            suite=suite,
            render=_no_screenshot,
            extra={"variant": v.kind},
        )
        written.append((eid, v, path))
    return written


def _no_screenshot(screen: Any) -> bytes:
    """A 1x1 PNG: variant traces are scored from their hierarchies (no image primitive)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, format="PNG")
    return buf.getvalue()
