"""DroidBot state JSON (``states/state_<ts>.json``) → :class:`UIScreen`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from llamatouch.errors import JsonFormatError
from llamatouch.fsutil import load_json_file
from llamatouch.ui.node import Bounds, UINode, UIScreen

_FLAG_MAP: dict[str, str] = {
    "checkable": "checkable",
    "checked": "checked",
    "clickable": "clickable",
    "enabled": "enabled",
    "focusable": "focusable",
    "focused": "focused",
    "scrollable": "scrollable",
    "long_clickable": "long_clickable",
    "is_password": "password",
    "selected": "selected",
    "visible": "visible",
    "editable": "editable",
}


def _bounds(value: Any, source: str, idx: int) -> Bounds:
    try:
        (left, top), (right, bottom) = value
        return Bounds(int(left), int(top), int(right), int(bottom))
    except (TypeError, ValueError) as exc:
        raise JsonFormatError(source, f"view {idx}: bad bounds {value!r}") from exc


def screen_from_droidbot(state: Mapping[str, Any], source: str | Path = "<droidbot>") -> UIScreen:
    """Convert one DroidBot state dict. Views are re-ordered into pre-order if needed."""
    src = str(source)
    views = state.get("views")
    if not isinstance(views, list):
        raise JsonFormatError(src, "no 'views' list")
    by_id: dict[int, Mapping[str, Any]] = {}
    for pos, v in enumerate(views):
        if not isinstance(v, Mapping):
            raise JsonFormatError(src, f"view {pos} is not an object")
        tid = v.get("temp_id", pos)
        if not isinstance(tid, int):
            raise JsonFormatError(src, f"view {pos}: bad temp_id {tid!r}")
        by_id[tid] = v
    roots = [tid for tid, v in by_id.items() if v.get("parent", -1) in (-1, None)]
    order: list[tuple[int, int | None, int]] = []  # (temp_id, new parent index, sibling idx)
    stack: list[tuple[int, int | None, int]] = [
        (r, None, i) for i, r in reversed(list(enumerate(roots)))
    ]
    seen: set[int] = set()
    while stack:
        tid, parent, sib = stack.pop()
        if tid in seen or tid not in by_id:
            continue
        seen.add(tid)
        new_idx = len(order)
        order.append((tid, parent, sib))
        kids = by_id[tid].get("children") or []
        stack.extend((c, new_idx, i) for i, c in reversed(list(enumerate(kids))))
    nodes: list[UINode] = []
    for new_idx, (tid, parent, sib) in enumerate(order):
        v = by_id[tid]
        node = UINode(
            index=new_idx,
            parent=parent,
            sibling_index=sib,
            class_name=v.get("class") or "",
            resource_id=v.get("resource_id") or "",
            text=v.get("text") or "",
            content_desc=v.get("content_description") or "",
            package=v.get("package") or "",
            bounds=_bounds(v.get("bounds"), src, tid),
        )
        for key, fname in _FLAG_MAP.items():
            if key in v:
                setattr(node, fname, bool(v[key]))
        nodes.append(node)
        if parent is not None:
            nodes[parent].children.append(new_idx)
    return UIScreen(
        nodes=nodes,
        width=int(state.get("width") or 0),
        height=int(state.get("height") or 0),
        activity=str(state.get("foreground_activity") or ""),
        source=src,
    )


def read_droidbot_state(path: str | Path) -> UIScreen:
    """Read ``state_<ts>.json`` from disk."""
    data = load_json_file(path)
    if not isinstance(data, Mapping):
        raise JsonFormatError(path, "top level is not an object")
    return screen_from_droidbot(data, path)
