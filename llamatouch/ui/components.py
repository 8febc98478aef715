"""The simplified, indexed component list of a screen (LlamaTouch's ``<i>.json`` idea).

Essential-state annotations (``click<3>``, ``exact<28>`` ...) point at components by index, so
the list must be reproducible from the hierarchy alone and its order stable. The selection rule
was read off the published LlamaTouch fixtures (all 100 views of ``trace_18/0.vh`` against the
30 entries of ``trace_18/0.json`` in the LlamaTouch Evaluator repository): walk the hierarchy
in pre-order and keep every visible node that carries a text or a content-desc, or is a leaf
widget (an ImageView, TextView, Button ... but not an empty layout container such as a
divider ``FrameLayout``). Containers that are only clickable (a list row without a label of its
own) are left out; their leaves stand for them.

:func:`match_components` goes the other way: given a component list (ours, or an ``<i>.json``
read from disk) it finds each component's node on a screen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llamatouch.ui.node import Bounds, UINode, UIScreen


@dataclass(frozen=True, slots=True)
class Component:
    """One entry of the component list.

    Attributes:
        index: the component's position in the list (what ``.ess`` indices refer to).
        node: the screen node it stands for.
    """

    index: int
    node: UINode

    def to_json(self) -> dict[str, Any]:
        """The entry in the LlamaTouch ``<i>.json`` shape (same keys, same order)."""
        n = self.node
        return {
            "id": self.index,
            "class": n.class_name,
            "text": n.text,
            "resource-id": n.resource_id,
            "content-desc": n.content_desc,
            "bounds": n.bounds.to_uiautomator(),
            "enabled": n.enabled,
            "checked": n.checked,
            "checkable": n.checkable,
            "visible": n.visible,
            "selected": n.selected,
            "focused": n.focused,
            "focusable": n.focusable,
            "clickable": n.clickable,
            "long-clickable": n.long_clickable,
            "password": n.password,
            "scrollable": n.scrollable,
        }


#: Short class names (suffixes) of layout containers: an empty one is no component.
CONTAINER_SUFFIXES: tuple[str, ...] = (
    "Layout",
    "LayoutCompat",
    "ViewGroup",
    "RecyclerView",
    "ListView",
    "GridView",
    "ScrollView",
    "ViewPager",
    "ViewPager2",
    "ViewAnimator",
    "ViewFlipper",
    "ViewSwitcher",
    "Toolbar",
)


def is_component(node: UINode) -> bool:
    """Whether ``node`` belongs in the component list (visible; labelled or a leaf widget)."""
    if not node.visible:
        return False
    if node.text.strip() or node.content_desc.strip():
        return True
    return not node.children and not node.short_class.endswith(CONTAINER_SUFFIXES)


def component_list(screen: UIScreen) -> list[Component]:
    """The screen's components, in pre-order."""
    out: list[Component] = []
    for node in screen.nodes:
        if is_component(node):
            out.append(Component(len(out), node))
    return out


def components_json(screen: UIScreen) -> list[dict[str, Any]]:
    """The component list as LlamaTouch writes it to ``<i>.json``."""
    return [c.to_json() for c in component_list(screen)]


def _fields(entry: Component | Mapping[str, Any]) -> tuple[str, str, str, str, Bounds | None]:
    if isinstance(entry, Component):
        n = entry.node
        return n.class_name, n.resource_id, n.text, n.content_desc, n.bounds
    raw_bounds = entry.get("bounds")
    bounds: Bounds | None
    try:
        bounds = Bounds.parse(raw_bounds) if isinstance(raw_bounds, str) else None
    except ValueError:
        bounds = None
    return (
        str(entry.get("class") or ""),
        str(entry.get("resource-id") or ""),
        str(entry.get("text") or ""),
        str(entry.get("content-desc") or ""),
        bounds,
    )


def _distance(a: Bounds, b: Bounds) -> int:
    dx = abs(a.left - b.left) + abs(a.right - b.right)
    return dx + abs(a.top - b.top) + abs(a.bottom - b.bottom)


def match_components(
    screen: UIScreen, components: Iterable[Component | Mapping[str, Any]]
) -> list[UINode | None]:
    """The node of ``screen`` each component stands for (``None`` when none fits).

    A component matches a node with the same class, resource-id, text and content-desc;
    among several, the one with the closest bounds wins (an exact bounds match first). Each
    node is used at most once, so repeated rows map to distinct nodes in order.
    """
    by_sig: dict[tuple[str, str, str, str], list[UINode]] = {}
    for node in screen.nodes:
        sig = (node.class_name, node.resource_id, node.text, node.content_desc)
        by_sig.setdefault(sig, []).append(node)
    used: set[int] = set()
    out: list[UINode | None] = []
    for entry in components:
        cls, rid, text, desc, bounds = _fields(entry)
        candidates = [n for n in by_sig.get((cls, rid, text, desc), []) if n.index not in used]
        if not candidates:
            out.append(None)
            continue
        if bounds is not None:
            best = min(candidates, key=lambda n: _distance(n.bounds, bounds))
        else:
            best = candidates[0]
        used.add(best.index)
        out.append(best)
    return out


def component_at(components: Sequence[Component], x: float, y: float) -> Component | None:
    """The smallest component whose bounds contain ``(x, y)`` (later ones win ties)."""
    best: Component | None = None
    for c in components:
        if c.node.bounds.contains(x, y) and (
            best is None or c.node.bounds.area <= best.node.bounds.area
        ):
            best = c
    return best
