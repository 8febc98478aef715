"""Making a task's ground-truth path follow real edges of its world.

Two repairs the DroidTask importer applies to every fully resolved task:

- **Scroll steps.** A record may list several screens of one scrolled page (``state_str`` a
  list of hashes, the page top first). When the chosen element is only reachable on a later
  screen, the path gets one ``scroll`` step per screen in between (direction read from how a
  common view moved), and the world gets those scroll edges.
- **Task edges with context.** Every step of the path (state, action → next state) becomes an
  edge of the world, or adds the path so far as recorded *context* to the recorded edge that
  already does the same, so that the virtual device, replaying the path, resolves an input
  recorded with several outcomes the way this task saw it (``WorldTransition.context``).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from llamatouch.actions import Direction, Scroll, action_from_json
from llamatouch.datasets.droidbot_common import element_attrs
from llamatouch.ui.node import UINode, UIScreen
from llamatouch.world import TASK_EDGE, World, WorldTransition

#: Action kinds whose recorded edges are matched by element (the others by kind alone).
_POINTER_KINDS = frozenset({"tap", "long_press", "type", "scroll"})


def _scrollable(screen: UIScreen) -> UINode | None:
    """The largest visible scrollable container of ``screen``."""
    best: UINode | None = None
    for n in screen.nodes:
        if n.visible and n.scrollable and (best is None or n.bounds.area > best.bounds.area):
            best = n
    return best


def scroll_direction(before: UIScreen, after: UIScreen) -> Direction:
    """Which way the page was scrolled between two screens: a labelled view present on both
    that moved up means the content scrolled ``down`` (and the other way round); ``down``
    when nothing tells."""
    tops: dict[tuple[str, str, str], int] = {}
    for n in before.nodes:
        if n.visible and (n.text or n.content_desc):
            tops.setdefault((n.resource_id, n.text, n.content_desc), n.bounds.top)
    for n in after.nodes:
        key = (n.resource_id, n.text, n.content_desc)
        if n.visible and key in tops and tops[key] != n.bounds.top:
            return "down" if n.bounds.top < tops[key] else "up"
    return "down"


def scroll_steps(world: World, screens: list[str]) -> list[tuple[str, dict[str, Any]]] | None:
    """``(state, scroll action)`` for each screen of ``screens`` but the last (one scrolled
    page, in order), or ``None`` when they are not one scrollable page (another activity, or
    no scrollable container)."""
    out: list[tuple[str, dict[str, Any]]] = []
    for a, b in pairwise(screens):
        sa, sb = world.screen(a), world.screen(b)
        if world.states[a].activity != world.states[b].activity:
            return None
        box = _scrollable(sa)
        if box is None:
            return None
        cx, cy = box.bounds.center
        action = Scroll(
            direction=scroll_direction(sa, sb), element=sa.key(box), x=cx, y=cy
        ).to_json()
        out.append((a, action))
    return out


def _element_of(world: World, state: str, action: dict[str, Any]) -> UINode | None:
    key = action.get("element")
    if not isinstance(key, str):
        return None
    return world.screen(state).node_by_key(key)


def _same_input(t: WorldTransition, action: dict[str, Any]) -> bool:
    """Whether recorded edge ``t`` answers to ``action`` the same way (same kind, element,
    typed text, key or direction)."""
    kind = action.get("action")
    if t.action.get("action") != kind:
        return False
    if kind == "type" and t.action.get("text") != action.get("text"):
        return False
    if kind == "key" and t.action.get("key") != action.get("key"):
        return False
    if kind == "scroll" and t.action.get("direction") != action.get("direction"):
        return False
    if kind in _POINTER_KINDS and action.get("element") and t.element_key:
        return t.element_key == action.get("element")
    return True


def add_task_edges(world: World, gt_states: list[str], gt_actions: list[dict[str, Any]]) -> int:
    """Make every step of a ground-truth path an edge of ``world`` carrying the path so far as
    context (see the module docstring). Returns how many new edges were added.

    ``gt_states[i]`` is where ``gt_actions[i]`` was taken; the last action (``finish``) has no
    edge. A step whose state does not change is recorded only for non-typing inputs (typing
    into a field keeps the screen, and following an edge would drop the typed text).
    """
    added = 0
    history: list[str] = []
    for i, action in enumerate(gt_actions[:-1]):
        src, dst = gt_states[i], gt_states[i + 1]
        if not history or history[-1] != src:
            history.append(src)
        kind = action.get("action")
        if kind in ("finish", "wait") or (src == dst and kind == "type"):
            continue
        edge = next(
            (
                t
                for t in world.transitions
                if t.source == src and t.target == dst and _same_input(t, action)
            ),
            None,
        )
        if edge is None:
            node = _element_of(world, src, action)
            edge = WorldTransition(
                source=src,
                target=dst,
                action=_edge_action(action),
                element_key=action.get("element") if node is not None else None,
                element=element_attrs(node) if node is not None else None,
                event_type=TASK_EDGE,
            )
            world.transitions.append(edge)
            added += 1
        edge.add_context(list(history))
    return added


def _edge_action(action: dict[str, Any]) -> dict[str, Any]:
    """The action as a transition records it (validated through the typed action)."""
    return action_from_json(action).to_json()
