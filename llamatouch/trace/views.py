"""JSON views of trace steps shared by the annotation app and the HTML report.

Everything here turns a :class:`~llamatouch.trace.format.TraceStep` into plain data that a page
can draw: the components with their boxes and attributes, the action as a shape to overlay,
and the screen image (the recorded screenshot, else a rendering of the hierarchy).
"""

from __future__ import annotations

import logging
from typing import Any

from llamatouch.errors import LlamaTouchError
from llamatouch.trace.format import TraceStep
from llamatouch.trace.records import action_to_json
from llamatouch.ui.node import FLAG_NAMES, UINode, UIScreen
from llamatouch.ui.render import render_screenshot

log = logging.getLogger(__name__)


def component_dict(screen: UIScreen, node: UINode) -> dict[str, Any]:
    """One component as the pages show it (index, stable key, box, attributes, flags)."""
    b = node.bounds
    return {
        "index": node.index,
        "key": screen.key(node),
        "bounds": [b.left, b.top, b.right, b.bottom],
        "class_name": node.class_name,
        "resource_id": node.resource_id,
        "text": node.text,
        "content_desc": node.content_desc,
        "hint": node.hint,
        "package": node.package,
        "depth": sum(1 for _ in screen.ancestors(node)),
        "interactive": node.interactive,
        "flags": [f for f in FLAG_NAMES if getattr(node, f) and f not in ("enabled", "visible")],
    }


def component_dicts(screen: UIScreen) -> list[dict[str, Any]]:
    """Every visible component with a non-empty box, in pre-order."""
    return [
        component_dict(screen, n)
        for n in screen.nodes
        if n.visible and n.bounds.area > 0
    ]


def _element_box(screen: UIScreen | None, key: str | None) -> list[int] | None:
    if screen is None or not key:
        return None
    node = screen.node_by_key(key)
    if node is None:
        return None
    b = node.bounds
    return [b.left, b.top, b.right, b.bottom]


def _scroll_vector(direction: str, cx: int, cy: int, w: int, h: int) -> list[int]:
    # The finger moves against the content direction (see llamatouch.actions.Scroll).
    dy = h // 4
    dx = w // 4
    if direction == "down":
        return [cx, cy + dy // 2, cx, cy - dy // 2]
    if direction == "up":
        return [cx, cy - dy // 2, cx, cy + dy // 2]
    if direction == "right":
        return [cx + dx // 2, cy, cx - dx // 2, cy]
    return [cx - dx // 2, cy, cx + dx // 2, cy]


def action_overlay(
    action: dict[str, Any] | None, screen: UIScreen | None, width: int, height: int
) -> dict[str, Any] | None:
    """The action of a step as a shape: ``point`` (tap/long-press/type), ``arrow`` (swipe,
    scroll) or ``badge`` (keys, finish, open-app: no position), plus a short ``label``."""
    if not action:
        return None
    kind = str(action.get("action", "?"))
    box = _element_box(screen, action.get("element"))
    out: dict[str, Any] = {"kind": kind, "label": describe_action(action), "box": box}
    x, y = action.get("x"), action.get("y")
    if kind in ("tap", "long_press", "type"):
        if isinstance(x, int) and isinstance(y, int):
            out.update(shape="point", x=x, y=y)
        elif box is not None:
            out.update(shape="point", x=(box[0] + box[2]) // 2, y=(box[1] + box[3]) // 2)
        else:
            out.update(shape="badge")
    elif kind == "swipe":
        out.update(shape="arrow", line=[action.get(k, 0) for k in ("x1", "y1", "x2", "y2")])
    elif kind == "scroll":
        if box is not None:
            cx, cy = (box[0] + box[2]) // 2, (box[1] + box[3]) // 2
        elif isinstance(x, int) and isinstance(y, int):
            cx, cy = x, y
        else:
            cx, cy = width // 2, height // 2
        out.update(shape="arrow", line=_scroll_vector(str(action.get("direction")), cx, cy,
                                                      width or 1080, height or 1920))
    else:
        out.update(shape="badge")
    return out


def describe_action(action: dict[str, Any] | None) -> str:
    """A short human-readable form of an action JSON (``tap (540, 1200)``)."""
    if not action:
        return "no action"
    kind = str(action.get("action", "?"))
    if kind in ("tap", "long_press"):
        return f"{kind.replace('_', ' ')} ({action.get('x')}, {action.get('y')})"
    if kind == "type":
        return f"type “{action.get('text', '')}”"
    if kind == "swipe":
        return "swipe ({}, {}) → ({}, {})".format(
            *(action.get(k) for k in ("x1", "y1", "x2", "y2"))
        )
    if kind == "scroll":
        return f"scroll {action.get('direction', '')}"
    if kind == "key":
        return f"key {action.get('key', '')}"
    if kind == "open_app":
        return f"open {action.get('package', '')}"
    if kind == "finish":
        ans = action.get("answer")
        return f"finish: {action.get('status', '')}" + (f" ({ans})" if ans else "")
    if kind == "wait":
        return f"wait {action.get('seconds', '')} s"
    return kind


def step_screen(step: TraceStep) -> UIScreen | None:
    """The step's hierarchy, or ``None`` when the step has none or it cannot be read."""
    if not step.record.has_hierarchy:
        return None
    try:
        return step.screen()
    except LlamaTouchError as exc:
        log.warning("step %d: %s", step.index, exc)
        return None


def step_png(step: TraceStep, screen: UIScreen | None = None) -> bytes | None:
    """PNG bytes of the step: its screenshot, else a rendering of its hierarchy, else ``None``.

    The rendering comes from :func:`llamatouch.ui.render.render_screenshot`.
    """
    if step.record.has_screenshot:
        try:
            return step.screenshot_png()
        except LlamaTouchError as exc:
            log.warning("step %d: %s", step.index, exc)
    scr = screen if screen is not None else step_screen(step)
    if scr is None:
        return None
    return render_screenshot(scr)


def step_view(step: TraceStep) -> dict[str, Any]:
    """Everything a page needs to draw one step (without the image bytes)."""
    rec = step.record
    action = action_to_json(rec.action)
    screen = step_screen(step)
    width = rec.width or (screen.width if screen else 0)
    height = rec.height or (screen.height if screen else 0)
    return {
        "index": rec.index,
        "activity": rec.activity,
        "package": rec.package,
        "width": width,
        "height": height,
        "action": action,
        "action_text": describe_action(action),
        "overlay": action_overlay(action, screen, width, height),
        "reasoning": rec.reasoning,
        "error": rec.error,
        "installed_packages": rec.installed_packages,
        "has_screenshot": rec.has_screenshot,
        "components": component_dicts(screen) if screen is not None else [],
    }
