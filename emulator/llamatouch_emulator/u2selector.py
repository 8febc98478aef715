"""uiautomator2's element selectors, resolved against the served hierarchy.

The uiautomator2 Python client sends a selector as a JSON object (its ``Selector`` class, a
``dict``): the criteria it was given (``text``, ``resourceId``, ``className``, ...), a ``mask``
with one bit per criterion that is set (the bits of the on-device server's ``Selector``), and
two parallel lists, ``childOrSibling`` (``"child"`` / ``"sibling"``) and
``childOrSiblingSelector`` (nested selectors of the same shape) for ``d(...).child(...)`` and
``d(...).sibling(...)``. ``instance`` picks the n-th match (0-based), ``index`` matches a node's
position among its siblings.

Matching follows ``UiSelector``: ``text`` / ``description`` / ``className`` / ``packageName``
/ ``resourceId`` are exact; ``textContains``, ``textStartsWith``, ``descriptionContains`` and
``descriptionStartsWith`` ignore case (as UiSelector does); ``*Matches`` are whole-string
regular expressions; the boolean criteria compare the node's flags.

Chains are resolved stage by stage over *all* matches: stage 0 is every node matching the first
selector (document order), a ``child`` stage is every descendant of the previous stage's nodes
matching its selector, a ``sibling`` stage every other node under their parents (UiSelector's
``fromParent``); ``instance`` at a stage keeps only its n-th node. A single-object call uses the
first node of the last stage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from llamatouch.ui.node import Bounds, UINode, UIScreen

#: The criteria the client may send, with their ``mask`` bit (uiautomator2 ``Selector``).
MASK_BITS: dict[str, int] = {
    "text": 0x01,
    "textContains": 0x02,
    "textMatches": 0x04,
    "textStartsWith": 0x08,
    "className": 0x10,
    "classNameMatches": 0x20,
    "description": 0x40,
    "descriptionContains": 0x80,
    "descriptionMatches": 0x0100,
    "descriptionStartsWith": 0x0200,
    "checkable": 0x0400,
    "checked": 0x0800,
    "clickable": 0x1000,
    "longClickable": 0x2000,
    "scrollable": 0x4000,
    "enabled": 0x8000,
    "focusable": 0x010000,
    "focused": 0x020000,
    "selected": 0x040000,
    "packageName": 0x080000,
    "packageNameMatches": 0x100000,
    "resourceId": 0x200000,
    "resourceIdMatches": 0x400000,
    "index": 0x800000,
    "instance": 0x01000000,
}
_BOOL_FIELDS: dict[str, str] = {
    "checkable": "checkable",
    "checked": "checked",
    "clickable": "clickable",
    "longClickable": "long_clickable",
    "scrollable": "scrollable",
    "enabled": "enabled",
    "focusable": "focusable",
    "focused": "focused",
    "selected": "selected",
}
#: Longest regular expression accepted in a ``*Matches`` criterion.
MAX_PATTERN_CHARS = 1000
#: Deepest ``child``/``sibling`` chain accepted (the client builds one level per call).
MAX_CHAIN = 32


class SelectorError(ValueError):
    """A selector the client could not have built (unknown key, bad type, bad regex)."""


@dataclass(frozen=True, slots=True)
class Criteria:
    """One level of a selector: the criteria whose mask bit is set.

    Attributes:
        strings: string criteria by client name (``text``, ``resourceIdMatches`` ...).
        patterns: compiled ``*Matches`` criteria by client name.
        flags: boolean criteria by client name (``clickable`` ...).
        index: required position among siblings, if set.
        instance: which match to keep (0-based), if set.
    """

    strings: dict[str, str] = field(default_factory=dict)
    patterns: dict[str, re.Pattern[str]] = field(default_factory=dict)
    flags: dict[str, bool] = field(default_factory=dict)
    index: int | None = None
    instance: int | None = None


@dataclass(frozen=True, slots=True)
class U2Selector:
    """A parsed selector: the first level plus ``(relation, criteria)`` stages."""

    first: Criteria
    chain: tuple[tuple[str, Criteria], ...] = ()

    def describe(self) -> str:
        """``UiSelector[TEXT=OK, CHILD=UiSelector[...]]``-like text for error messages."""
        parts = [_describe(self.first)]
        parts += [f"{rel.upper()}={_describe(c)}" for rel, c in self.chain]
        return "UiSelector[" + ", ".join(parts) + "]"


def _describe(c: Criteria) -> str:
    items = [f"{k}={v!r}" for k, v in c.strings.items()]
    items += [f"{k}={p.pattern!r}" for k, p in c.patterns.items()]
    items += [f"{k}={v}" for k, v in c.flags.items()]
    if c.index is not None:
        items.append(f"index={c.index}")
    if c.instance is not None:
        items.append(f"instance={c.instance}")
    return "[" + ", ".join(items) + "]"


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SelectorError(f"selector field {name!r} must be an integer, got {value!r}")
    if value < 0:
        raise SelectorError(f"selector field {name!r} must be >= 0, got {value}")
    return value


def _criteria(raw: dict[str, Any]) -> Criteria:
    mask = raw.get("mask", 0)
    if isinstance(mask, bool) or not isinstance(mask, int):
        raise SelectorError(f"selector 'mask' must be an integer, got {mask!r}")
    for key in raw:
        if key not in MASK_BITS and key not in ("mask", "childOrSibling",
                                                "childOrSiblingSelector"):
            raise SelectorError(f"unknown selector field {key!r}")
    strings: dict[str, str] = {}
    patterns: dict[str, re.Pattern[str]] = {}
    flags: dict[str, bool] = {}
    index: int | None = None
    instance: int | None = None
    for name, bit in MASK_BITS.items():
        if not mask & bit:
            continue
        if name not in raw:
            raise SelectorError(f"selector mask names {name!r} but the field is missing")
        value = raw[name]
        if name in _BOOL_FIELDS:
            if not isinstance(value, bool):
                raise SelectorError(f"selector field {name!r} must be true or false")
            flags[name] = value
        elif name == "index":
            index = _int(value, name)
        elif name == "instance":
            instance = _int(value, name)
        else:
            if not isinstance(value, str):
                raise SelectorError(f"selector field {name!r} must be a string")
            if name.endswith("Matches"):
                if len(value) > MAX_PATTERN_CHARS:
                    raise SelectorError(f"selector field {name!r} is longer than "
                                        f"{MAX_PATTERN_CHARS} characters")
                try:
                    patterns[name] = re.compile(value)
                except re.error as exc:
                    raise SelectorError(f"selector field {name!r}: bad pattern: {exc}") from exc
            else:
                strings[name] = value
    return Criteria(strings, patterns, flags, index, instance)


def parse_selector(raw: Any) -> U2Selector:
    """Parse the client's selector object; :class:`SelectorError` on anything malformed."""
    if not isinstance(raw, dict):
        raise SelectorError(f"a selector must be an object, got {type(raw).__name__}")
    rels = raw.get("childOrSibling") or []
    subs = raw.get("childOrSiblingSelector") or []
    if not isinstance(rels, list) or not isinstance(subs, list) or len(rels) != len(subs):
        raise SelectorError("selector 'childOrSibling' and 'childOrSiblingSelector' must be "
                            "lists of the same length")
    if len(rels) > MAX_CHAIN:
        raise SelectorError(f"selector chain longer than {MAX_CHAIN}")
    chain: list[tuple[str, Criteria]] = []
    for rel, sub in zip(rels, subs, strict=True):
        if not isinstance(rel, str) or rel.lower() not in ("child", "sibling"):
            raise SelectorError(f"childOrSibling must be 'child' or 'sibling', got {rel!r}")
        if not isinstance(sub, dict):
            raise SelectorError("childOrSiblingSelector entries must be objects")
        if sub.get("childOrSibling"):
            raise SelectorError("nested childOrSibling inside childOrSiblingSelector")
        chain.append((rel.lower(), _criteria(sub)))
    return U2Selector(_criteria(raw), tuple(chain))


def _fold(s: str) -> str:
    return s.lower()


def matches(c: Criteria, node: UINode) -> bool:
    """Whether ``node`` meets every criterion of ``c`` (``instance`` aside)."""
    values = {
        "text": node.text,
        "description": node.content_desc,
        "className": node.class_name,
        "packageName": node.package,
        "resourceId": node.resource_id,
    }
    for name, want in c.strings.items():
        if name in values:
            if values[name] != want:
                return False
        elif name == "textContains":
            if _fold(want) not in _fold(node.text):
                return False
        elif name == "textStartsWith":
            if not _fold(node.text).startswith(_fold(want)):
                return False
        elif name == "descriptionContains":
            if _fold(want) not in _fold(node.content_desc):
                return False
        elif name == "descriptionStartsWith" and not _fold(node.content_desc).startswith(
            _fold(want)
        ):
            return False
    for name, pattern in c.patterns.items():
        if pattern.fullmatch(values[name.removesuffix("Matches")]) is None:
            return False
    for name, want_flag in c.flags.items():
        if bool(getattr(node, _BOOL_FIELDS[name])) != want_flag:
            return False
    return c.index is None or node.sibling_index == c.index


def _pick(c: Criteria, nodes: list[UINode]) -> list[UINode]:
    if c.instance is None:
        return nodes
    return nodes[c.instance : c.instance + 1]


def find_all(screen: UIScreen, sel: U2Selector) -> list[UINode]:
    """Every node the selector designates, in document order (see the module docstring)."""
    found = _pick(sel.first, [n for n in screen.nodes if matches(sel.first, n)])
    for rel, crit in sel.chain:
        seen: set[int] = set()
        nxt: list[UINode] = []
        for node in found:
            if rel == "child":
                pool = list(screen.descendants(node))
            else:
                parent = screen.parent_of(node)
                pool = ([] if parent is None else
                        [n for n in screen.descendants(parent) if n.index != node.index])
            for cand in pool:
                if cand.index not in seen and matches(crit, cand):
                    seen.add(cand.index)
                    nxt.append(cand)
        nxt.sort(key=lambda n: n.index)
        found = _pick(crit, nxt)
    return found


def visible_bounds(screen: UIScreen, node: UINode) -> Bounds:
    """The node's bounds clipped to its ancestors' and to the screen (``visibleBounds``)."""
    b = node.bounds
    left, top, right, bottom = b.left, b.top, b.right, b.bottom
    clips = [Bounds(0, 0, screen.width, screen.height)] if screen.width and screen.height else []
    clips += [a.bounds for a in screen.ancestors(node)]
    for c in clips:
        left, top = max(left, c.left), max(top, c.top)
        right, bottom = min(right, c.right), min(bottom, c.bottom)
    return Bounds(left, top, max(left, right), max(top, bottom))


def _rect(b: Bounds) -> dict[str, int]:
    return {"bottom": b.bottom, "left": b.left, "right": b.right, "top": b.top}


def obj_info(screen: UIScreen, node: UINode) -> dict[str, Any]:
    """The object the on-device server's ``objInfo`` answers for one node."""
    return {
        "bounds": _rect(node.bounds),
        "childCount": len(node.children),
        "className": node.class_name,
        "contentDescription": node.content_desc or None,
        "packageName": node.package,
        "resourceName": node.resource_id or None,
        "text": node.text,
        "visibleBounds": _rect(visible_bounds(screen, node)),
        "checkable": node.checkable,
        "checked": node.checked,
        "clickable": node.clickable,
        "enabled": node.enabled,
        "focusable": node.focusable,
        "focused": node.focused,
        "longClickable": node.long_clickable,
        "scrollable": node.scrollable,
        "selected": node.selected,
    }
