"""Small synthetic screens for the evaluator unit tests."""

from __future__ import annotations

from typing import Any

from llamatouch.ui.node import Bounds, UINode, UIScreen, build_screen

W, H = 1080, 2400


def node(
    i: int,
    parent: int | None,
    cls: str = "android.widget.TextView",
    *,
    bounds: tuple[int, int, int, int] = (0, 0, W, H),
    **kw: Any,
) -> UINode:
    return UINode(
        index=i, parent=parent, class_name=cls, package="com.app", bounds=Bounds(*bounds), **kw
    )


def screen(*items: dict[str, Any]) -> UIScreen:
    """A root FrameLayout with the given children (keyword dicts for :func:`node`)."""
    nodes = [node(0, None, "android.widget.FrameLayout")]
    for i, kw in enumerate(items, start=1):
        nodes.append(node(i, kw.pop("parent", 0), kw.pop("cls", "android.widget.TextView"), **kw))
    for n in nodes[1:]:
        assert n.parent is not None
        nodes[n.parent].children.append(n.index)
    return build_screen(nodes, width=W, height=H, activity="com.app/.Main")
