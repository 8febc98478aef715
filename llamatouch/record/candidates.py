"""The actions a screen offers to the explorer, and the avoid list.

For one screen, in this order: tap every clickable, checkable or long-clickable view (at a
point where the view itself receives the touch), long-press every long-clickable view, type
each input of the dictionary into every editable view, scroll every scrollable view in each
direction, tap the leaf views no clickable view handles (DroidBot does the same: some apps
react to them), and press back. Views whose own label, or the label of a non-interactive view
inside them (a touch on it reaches the view), matches the avoid list are never tapped or
long-pressed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from llamatouch.actions import Action, Direction, Key, LongPress, Scroll, Tap, Type
from llamatouch.datasets.droidbot_common import element_attrs
from llamatouch.ui.node import UINode, UIScreen

#: Texts never tapped or long-pressed unless the user gives their own list (whole words,
#: case-insensitive).
DEFAULT_AVOID: tuple[str, ...] = (
    "Delete",
    "Uninstall",
    "Remove",
    "Erase",
    "Factory reset",
    "Format",
    "Sign out",
    "Log out",
    "Clear data",
    "Clear storage",
)
#: Texts typed into editable views when the user gives no input dictionary.
DEFAULT_INPUTS: tuple[str, ...] = ("hello",)
#: Scroll directions tried on every scrollable view (DroidBot tries all four).
DEFAULT_SCROLLS: tuple[Direction, ...] = ("down", "up", "left", "right")


@dataclass(frozen=True, slots=True)
class CandidateOptions:
    """What the explorer tries on a screen.

    Attributes:
        inputs: texts typed into each editable view (each one is an action).
        avoid: texts (whole words, case-insensitive) whose views are never tapped or
            long-pressed.
        scroll_directions: directions tried on each scrollable view.
        tap_leaves: also tap leaf views that no clickable view handles.
        long_press: long-press long-clickable views.
    """

    inputs: tuple[str, ...] = DEFAULT_INPUTS
    avoid: tuple[str, ...] = DEFAULT_AVOID
    scroll_directions: tuple[Direction, ...] = DEFAULT_SCROLLS
    tap_leaves: bool = True
    long_press: bool = True


@dataclass(frozen=True, slots=True)
class Candidate:
    """One action the explorer can take on a screen.

    Attributes:
        action: the typed action (recorded as the transition's action).
        event_type: the recorder's event name: ``touch``, ``long_touch``, ``set_text``,
            ``scroll``, ``key``.
        element_key: stable key (``UIScreen.key``) of the view acted on (``None`` for back).
        element: the view's attributes (``resource_id``, ``text``, ``content_desc``,
            ``class_name``, ``bounds``), ``None`` for back.
    """

    action: Action
    event_type: str
    element_key: str | None = None
    element: dict[str, Any] | None = None


def avoid_pattern(avoid: Iterable[str]) -> re.Pattern[str] | None:
    """A regex matching any avoid text as whole words, case-insensitively (``None``: empty)."""
    words = [w.strip() for w in avoid if w.strip()]
    if not words:
        return None
    alts = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alts})(?!\w)", re.IGNORECASE)


def _interactive(n: UINode) -> bool:
    return n.clickable or n.long_clickable or n.checkable or n.editable or n.scrollable


def touch_labels(screen: UIScreen, node: UINode) -> list[str]:
    """The labels a touch on ``node`` stands for: its own text / description and those of the
    non-interactive views inside it (interactive ones are candidates of their own)."""
    out = [node.text, node.content_desc]
    stack = list(reversed(node.children))  # pre-order: labels in reading order
    while stack:
        child = screen.nodes[stack.pop()]
        if _interactive(child):
            continue
        out += [child.text, child.content_desc]
        stack.extend(reversed(child.children))
    return [t for t in out if t]


def is_avoided(screen: UIScreen, node: UINode, pattern: re.Pattern[str] | None) -> bool:
    """Whether touching ``node`` would act on something the avoid list names."""
    return pattern is not None and any(pattern.search(t) for t in touch_labels(screen, node))


def _on_screen(screen: UIScreen, x: int, y: int) -> bool:
    return 0 <= x < screen.width and 0 <= y < screen.height


def touch_point(screen: UIScreen, node: UINode) -> tuple[int, int] | None:
    """A point on ``node`` where a touch reaches ``node`` itself (the hit test answers it):
    its centre, else the centre of one of the nine cells of a 3×3 grid over it; ``None`` when
    views inside it cover all of them."""
    b = node.bounds
    if b.width <= 0 or b.height <= 0:
        return None
    points = [b.center] + [
        (b.left + (2 * i + 1) * b.width // 6, b.top + (2 * j + 1) * b.height // 6)
        for j in range(3)
        for i in range(3)
    ]
    for x, y in points:
        if _on_screen(screen, x, y) and screen.hit_test(x, y) is node:
            return x, y
    return None


def candidates(screen: UIScreen, options: CandidateOptions) -> list[Candidate]:
    """Every action the explorer tries on ``screen``, in a fixed order (see the module doc).

    The list depends only on the screen's content, so an exploration can be resumed by index.
    """
    pattern = avoid_pattern(options.avoid)
    taps: list[Candidate] = []
    longs: list[Candidate] = []
    types: list[Candidate] = []
    scrolls: list[Candidate] = []
    leaves: list[Candidate] = []
    for node in screen.nodes:
        if not node.visible or not node.enabled:
            continue
        b = node.bounds
        if b.width <= 0 or b.height <= 0:
            continue
        key = screen.key(node)
        attrs = element_attrs(node)
        touchable = node.clickable or node.checkable or node.long_clickable or node.editable
        if node.clickable or node.checkable or node.long_clickable:
            # long-clickable views too: many apps also answer a plain touch on them
            point = touch_point(screen, node)
            if point is not None and not is_avoided(screen, node, pattern):
                taps.append(Candidate(Tap(x=point[0], y=point[1], element=key), "touch",
                                      key, attrs))
        if options.long_press and node.long_clickable:
            point = touch_point(screen, node)
            if point is not None and not is_avoided(screen, node, pattern):
                longs.append(Candidate(LongPress(x=point[0], y=point[1], element=key),
                                       "long_touch", key, attrs))
        if node.editable:
            cx, cy = b.center
            if _on_screen(screen, cx, cy):
                for text in options.inputs:
                    types.append(Candidate(Type(text=text, element=key, x=cx, y=cy),
                                           "set_text", key, attrs))
        if node.scrollable:
            cx, cy = b.center
            if _on_screen(screen, cx, cy):
                for direction in options.scroll_directions:
                    scrolls.append(Candidate(Scroll(direction=direction, element=key, x=cx, y=cy),
                                             "scroll", key, attrs))
        if options.tap_leaves and not node.children and not touchable:
            cx, cy = b.center
            if (_on_screen(screen, cx, cy) and screen.hit_test(cx, cy) is None
                    and not is_avoided(screen, node, pattern)):
                leaves.append(Candidate(Tap(x=cx, y=cy, element=key), "touch", key, attrs))
    back = Candidate(Key(key="back"), "key")
    return [*taps, *longs, *types, *scrolls, *leaves, back]
