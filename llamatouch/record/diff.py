"""Comparing two worlds by content: ``llamatouch world diff A B``.

States are matched by their content key (:func:`~llamatouch.record.keys.content_key`), never
by id, so a recording can be compared with the world it was recorded from, or two versions of
an app with each other. Transitions are matched by (source content, target content, what was
done): the kind of input, the view that handles it on the source screen (the recorded view,
or its nearest interactive ancestor: a tap on a label inside a clickable row is a tap on the
row), the scroll direction, the key, or the typed text (compared on letters and digits).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from llamatouch.record.keys import content_key
from llamatouch.ui.node import UINode, UIScreen
from llamatouch.world import World, WorldTransition

TransitionSig = tuple[str, str, str, str]


@dataclass(frozen=True, slots=True)
class StateSide:
    """States of one world in the comparison's scope.

    Attributes:
        ids: content key → state id (the first state with that content).
        reachable: content keys of the states reachable from the scope's app start states.
    """

    ids: dict[str, str]
    reachable: frozenset[str]


@dataclass(frozen=True, slots=True)
class WorldDiff:
    """The difference of two worlds A and B.

    Attributes:
        a, b: the worlds' names.
        app: the package the comparison is limited to (``""``: every state).
        only_a, only_b: state ids found in one world only.
        both: ``(id in A, id in B)`` of the states found in both.
        transitions_only_a, transitions_only_b, transitions_both: how many distinct
            transitions are in one world only / in both.
        coverage: share of B's states (in scope) that A has.
        reachable_b: B's states (in scope) reachable from B's start state(s).
        reachable_found: how many of those A has.
        reachable_coverage: ``reachable_found / reachable_b``.
    """

    a: str
    b: str
    app: str
    only_a: list[str]
    only_b: list[str]
    both: list[tuple[str, str]]
    transitions_only_a: int
    transitions_only_b: int
    transitions_both: int
    coverage: float
    reachable_b: int
    reachable_found: int
    reachable_coverage: float

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "app": self.app,
            "states": {
                "only_a": len(self.only_a),
                "only_b": len(self.only_b),
                "both": len(self.both),
                "only_a_ids": self.only_a,
                "only_b_ids": self.only_b,
                "both_ids": [list(p) for p in self.both],
            },
            "transitions": {
                "only_a": self.transitions_only_a,
                "only_b": self.transitions_only_b,
                "both": self.transitions_both,
            },
            "coverage": round(self.coverage, 4),
            "reachable": {
                "in_b": self.reachable_b,
                "found_in_a": self.reachable_found,
                "coverage": round(self.reachable_coverage, 4),
            },
        }


def state_keys(world: World) -> dict[str, str]:
    """State id → content key for every state of ``world`` (hierarchies are read)."""
    return {sid: content_key(world.screen(sid), meta.activity)
            for sid, meta in world.states.items()}


def _in_scope(world: World, sid: str, app: str) -> bool:
    return not app or world.states[sid].package == app


def reachable_states(world: World, app: str = "") -> set[str]:
    """Ids of the states reachable over recorded transitions from the start state of
    ``app`` (every app's start state when ``app`` is empty)."""
    starts = [a.start_state for a in world.apps if not app or a.package == app]
    out: dict[str, list[str]] = {}
    for t in world.transitions:
        out.setdefault(t.source, []).append(t.target)
    seen = set(starts)
    todo = deque(starts)
    while todo:
        for nxt in out.get(todo.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _handler(screen: UIScreen, node: UINode) -> UINode:
    cur: UINode | None = node
    while cur is not None:
        if cur.clickable or cur.long_clickable or cur.checkable or cur.editable or cur.scrollable:
            return cur
        cur = screen.parent_of(cur)
    return node


def _letters(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.casefold())


def transition_signature(world: World, t: WorldTransition, keys: dict[str, str]) -> TransitionSig:
    """(source key, target key, input kind, what was acted on) of a transition."""
    a = t.action
    kind = str(a.get("action", ""))
    what = ""
    if kind == "key":
        what = str(a.get("key", ""))
    elif kind == "open_app":
        what = str(a.get("package", ""))
    elif kind in ("tap", "long_press", "scroll", "type"):
        screen = world.screen(t.source)
        node = screen.node_by_key(t.element_key) if t.element_key else None
        x, y = a.get("x"), a.get("y")
        if node is None and isinstance(x, int) and isinstance(y, int):
            node = screen.hit_test(x, y)
        what = screen.key(_handler(screen, node)) if node is not None else f"{x},{y}"
        if kind == "scroll":
            what += "|" + str(a.get("direction", ""))
        elif kind == "type":
            what += "|" + _letters(str(a.get("text", "")))
    return (keys[t.source], keys[t.target], kind, what)


def _side(world: World, keys: dict[str, str], app: str) -> StateSide:
    ids: dict[str, str] = {}
    for sid in world.states:
        if _in_scope(world, sid, app):
            ids.setdefault(keys[sid], sid)
    reach = frozenset(keys[s] for s in reachable_states(world, app) if _in_scope(world, s, app))
    return StateSide(ids, reach)


def _sigs(world: World, keys: dict[str, str], app: str) -> set[TransitionSig]:
    return {transition_signature(world, t, keys) for t in world.transitions
            if _in_scope(world, t.source, app)}


def diff_worlds(a: World, b: World, app: str = "") -> WorldDiff:
    """Compare ``a`` with ``b`` (``coverage``: how much of ``b`` ``a`` found)."""
    ka, kb = state_keys(a), state_keys(b)
    sa, sb = _side(a, ka, app), _side(b, kb, app)
    both = [(sa.ids[k], sb.ids[k]) for k in sb.ids if k in sa.ids]
    ta, tb = _sigs(a, ka, app), _sigs(b, kb, app)
    found = sum(1 for k in sb.reachable if k in sa.ids)
    return WorldDiff(
        a=a.name,
        b=b.name,
        app=app,
        only_a=sorted(sid for k, sid in sa.ids.items() if k not in sb.ids),
        only_b=sorted(sid for k, sid in sb.ids.items() if k not in sa.ids),
        both=sorted(both),
        transitions_only_a=len(ta - tb),
        transitions_only_b=len(tb - ta),
        transitions_both=len(ta & tb),
        coverage=len(both) / len(sb.ids) if sb.ids else 1.0,
        reachable_b=len(sb.reachable),
        reachable_found=found,
        reachable_coverage=found / len(sb.reachable) if sb.reachable else 1.0,
    )


def format_table(d: WorldDiff) -> str:
    """The diff as a small text table (what ``--format table`` prints)."""
    rows: Iterable[tuple[str, str, str, str]] = (
        ("", f"only in A ({d.a})", f"only in B ({d.b})", "in both"),
        ("states", str(len(d.only_a)), str(len(d.only_b)), str(len(d.both))),
        ("transitions", str(d.transitions_only_a), str(d.transitions_only_b),
         str(d.transitions_both)),
    )
    rows = list(rows)
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    scope = f" (app {d.app})" if d.app else ""
    lines.append(f"coverage{scope}: {d.coverage:.1%} of B's {len(d.both) + len(d.only_b)} "
                 f"states are in A")
    lines.append(f"reachable from B's start: {d.reachable_found}/{d.reachable_b} "
                 f"({d.reachable_coverage:.1%}) are in A")
    return "\n".join(lines)
