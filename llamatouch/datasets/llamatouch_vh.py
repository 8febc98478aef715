"""LlamaTouch dataset files: the ``<i>.vh`` view hierarchy and the ``<i>.json`` component list.

``<i>.vh`` (format as published in the LlamaTouch Evaluator's test fixtures, e.g.
``tests/test_case/trace_18/0.vh``) is a JSON array of DroidBot-style view dicts: ``temp_id``,
``parent`` (``-1`` for the root), ``children`` (temp ids), ``class``, ``resource_id``, ``text``,
``content_description``, ``package``, ``bounds`` ``[[l, t], [r, b]]``, the boolean flags
(``clickable``, ``checkable``, ``checked``, ``editable``, ``enabled``, ``focusable``, ``focused``,
``scrollable``, ``selected``, ``visible``, ``long_clickable``, ``is_password``), plus ``size``
and ``child_count``. Missing strings are ``null``.

``<i>.json`` is the simplified, indexed component list the ``.ess`` annotations point at:
a JSON array of ``{"id", "class", "text", "resource-id", "content-desc", "bounds": "[l,t][r,b]",
"enabled", "checked", "checkable", "visible", "selected", "focused", "focusable",
"clickable", "long-clickable", "password", "scrollable"}``. It is a flat list, so it reads
into a screen of sibling nodes under one synthetic root (see :func:`read_component_list`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from llamatouch.errors import JsonFormatError
from llamatouch.fsutil import load_json_file
from llamatouch.ui.droidbot import screen_from_droidbot
from llamatouch.ui.node import Bounds, UINode, UIScreen

#: ``<i>.json`` boolean keys → UINode fields.
COMPONENT_FLAGS: dict[str, str] = {
    "enabled": "enabled",
    "checked": "checked",
    "checkable": "checkable",
    "visible": "visible",
    "selected": "selected",
    "focused": "focused",
    "focusable": "focusable",
    "clickable": "clickable",
    "long-clickable": "long_clickable",
    "password": "password",
    "scrollable": "scrollable",
}

#: Class name of the synthetic root that holds the components of an ``<i>.json`` list.
COMPONENT_ROOT_CLASS = "llamatouch.ComponentList"


def screen_from_vh(
    views: Sequence[Any],
    source: str | Path = "<vh>",
    *,
    width: int = 0,
    height: int = 0,
    activity: str = "",
) -> UIScreen:
    """Convert the parsed content of a ``.vh`` file (a list of view dicts)."""
    if not isinstance(views, Sequence) or isinstance(views, str | bytes):
        raise JsonFormatError(source, "a .vh file must hold a JSON array of views")
    if not views:
        raise JsonFormatError(source, "the view hierarchy is empty")
    state: dict[str, Any] = {
        "views": list(views),
        "width": width,
        "height": height,
        "foreground_activity": activity,
    }
    return screen_from_droidbot(state, source)


def read_vh_file(
    path: str | Path, *, width: int = 0, height: int = 0, activity: str = ""
) -> UIScreen:
    """Read ``<i>.vh``; the activity defaults to the sibling ``<i>.activity`` file if present."""
    p = Path(path)
    data = load_json_file(p)
    if not activity:
        act = p.with_suffix(".activity")
        if act.is_file():
            try:
                activity = act.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise JsonFormatError(act, f"cannot read activity: {exc}") from exc
    return screen_from_vh(data, p, width=width, height=height, activity=activity)


def _str(entry: Mapping[str, Any], key: str, source: str, pos: int) -> str:
    value = entry.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise JsonFormatError(source, f"component {pos}: {key!r} is not a string")
    return value


def screen_from_component_list(
    components: Sequence[Any],
    source: str | Path = "<components>",
    *,
    width: int = 0,
    height: int = 0,
    activity: str = "",
) -> UIScreen:
    """Convert a parsed ``<i>.json`` component list.

    Node 0 is a synthetic root (class :data:`COMPONENT_ROOT_CLASS`) spanning every component;
    component ``k`` (in list order) becomes node ``k + 1`` and keeps its ``id`` in
    ``extra["component-id"]``.
    """
    src = str(source)
    if not isinstance(components, Sequence) or isinstance(components, str | bytes):
        raise JsonFormatError(src, "a component list must be a JSON array")
    nodes: list[UINode] = []
    for pos, entry in enumerate(components):
        if not isinstance(entry, Mapping):
            raise JsonFormatError(src, f"component {pos} is not an object")
        try:
            bounds = Bounds.parse(_str(entry, "bounds", src, pos) or "[0,0][0,0]")
        except ValueError as exc:
            raise JsonFormatError(src, f"component {pos}: {exc}") from exc
        cid = entry.get("id", pos)
        if not isinstance(cid, int):
            raise JsonFormatError(src, f"component {pos}: bad id {cid!r}")
        class_name = _str(entry, "class", src, pos)
        node = UINode(
            index=pos + 1,
            parent=0,
            sibling_index=pos,
            class_name=class_name,
            resource_id=_str(entry, "resource-id", src, pos),
            text=_str(entry, "text", src, pos),
            content_desc=_str(entry, "content-desc", src, pos),
            package=_str(entry, "package", src, pos),
            bounds=bounds,
            editable="EditText" in class_name,
            extra={"component-id": str(cid)},
        )
        for key, fname in COMPONENT_FLAGS.items():
            if key in entry:
                setattr(node, fname, bool(entry[key]))
        nodes.append(node)
    right = max((n.bounds.right for n in nodes), default=0)
    bottom = max((n.bounds.bottom for n in nodes), default=0)
    root = UINode(
        index=0,
        class_name=COMPONENT_ROOT_CLASS,
        bounds=Bounds(0, 0, width or right, height or bottom),
        children=[n.index for n in nodes],
        package=nodes[0].package if nodes else "",
    )
    return UIScreen(
        nodes=[root, *nodes], width=width, height=height, activity=activity, source=src
    )


def read_component_list(
    path: str | Path, *, width: int = 0, height: int = 0, activity: str = ""
) -> UIScreen:
    """Read ``<i>.json`` (see :func:`screen_from_component_list`)."""
    p = Path(path)
    return screen_from_component_list(
        load_json_file(p), p, width=width, height=height, activity=activity
    )
