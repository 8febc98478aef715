"""The normalised model of one screen: a pre-order list of :class:`UINode`.

Every reader (uiautomator XML, DroidBot state JSON, LlamaTouch ``.vh``) produces a
:class:`UIScreen`; every derived view (component list, HTML, rendering, hit-testing) reads one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

_BOUNDS_RE = re.compile(r"^\[(-?\d+),(-?\d+)\]\[(-?\d+),(-?\d+)\]$")

#: The boolean flags of a node, in the order uiautomator writes them.
FLAG_NAMES: tuple[str, ...] = (
    "checkable",
    "checked",
    "clickable",
    "enabled",
    "focusable",
    "focused",
    "scrollable",
    "long_clickable",
    "password",
    "selected",
    "visible",
    "editable",
)


@dataclass(frozen=True, slots=True)
class Bounds:
    """A rectangle in screen pixels; ``right``/``bottom`` are exclusive, as on Android."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return max(0, self.right - self.left)

    @property
    def height(self) -> int:
        return max(0, self.bottom - self.top)

    @property
    def area(self) -> int:
        return self.width * self.height

    @property
    def center(self) -> tuple[int, int]:
        return ((self.left + self.right) // 2, (self.top + self.bottom) // 2)

    def contains(self, x: float, y: float) -> bool:
        return self.left <= x < self.right and self.top <= y < self.bottom

    def to_uiautomator(self) -> str:
        return f"[{self.left},{self.top}][{self.right},{self.bottom}]"

    @classmethod
    def parse(cls, text: str) -> Bounds:
        """Parse uiautomator's ``[l,t][r,b]``; raises ``ValueError`` on anything else."""
        m = _BOUNDS_RE.match(text.strip())
        if m is None:
            raise ValueError(f"bad bounds {text!r}")
        left, top, right, bottom = (int(g) for g in m.groups())
        return cls(left, top, right, bottom)


@dataclass(slots=True, eq=False)
class UINode:
    """One view of the hierarchy.

    Attributes:
        index: position in the screen's pre-order node list (root = 0).
        parent: ``index`` of the parent node, ``None`` for a root.
        children: ``index`` of each child, in order.
        sibling_index: uiautomator's ``index`` attribute (position among its siblings).
        class_name: Android class, e.g. ``android.widget.Button``.
        resource_id: e.g. ``com.app:id/ok``; ``""`` when absent.
        text, content_desc, package, hint: strings, ``""`` when absent.
        bounds: the node's rectangle.
        checkable ... editable: the boolean flags (see :data:`FLAG_NAMES`).
        extra: attributes a reader met but the model has no field for, kept verbatim so
            that writing the node back loses nothing.
    """

    index: int
    class_name: str = ""
    resource_id: str = ""
    text: str = ""
    content_desc: str = ""
    package: str = ""
    hint: str = ""
    bounds: Bounds = field(default_factory=lambda: Bounds(0, 0, 0, 0))
    parent: int | None = None
    children: list[int] = field(default_factory=list)
    sibling_index: int = 0
    checkable: bool = False
    checked: bool = False
    clickable: bool = False
    enabled: bool = True
    focusable: bool = False
    focused: bool = False
    scrollable: bool = False
    long_clickable: bool = False
    password: bool = False
    selected: bool = False
    visible: bool = True
    editable: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def short_class(self) -> str:
        """``Button`` for ``android.widget.Button``."""
        return self.class_name.rsplit(".", 1)[-1]

    @property
    def short_id(self) -> str:
        """``ok`` for ``com.app:id/ok``."""
        return self.resource_id.rsplit("/", 1)[-1] if self.resource_id else ""

    @property
    def interactive(self) -> bool:
        """Whether an agent can act on it (click, long-click, check, type or scroll)."""
        return (
            self.clickable
            or self.long_clickable
            or self.checkable
            or self.editable
            or self.scrollable
        )

    def label(self) -> str:
        """The node's own human-readable label: text, else content-desc, else hint."""
        return self.text or self.content_desc or self.hint

    def same_content(self, other: UINode) -> bool:
        """Field-by-field equality, ignoring nothing (used by round-trip checks)."""
        return all(getattr(self, f) == getattr(other, f) for f in _NODE_FIELDS)


_NODE_FIELDS: tuple[str, ...] = tuple(UINode.__dataclass_fields__)


@dataclass(slots=True, eq=False)
class UIScreen:
    """One screen: its nodes in pre-order plus the device context it was captured in.

    Attributes:
        nodes: every node, pre-order; ``nodes[i].index == i``.
        width, height: screen size in pixels (0 when unknown: derived from the roots).
        activity: foreground activity as ``package/.Activity`` (``""`` when unknown).
        rotation: uiautomator's ``rotation`` attribute.
        source: where the screen was read from (a path or a label), for error messages.
    """

    nodes: list[UINode]
    width: int = 0
    height: int = 0
    activity: str = ""
    rotation: int = 0
    source: str = ""
    _keys: list[str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if (self.width <= 0 or self.height <= 0) and self.nodes:
            roots = self.roots()
            self.width = max((n.bounds.right for n in roots), default=0)
            self.height = max((n.bounds.bottom for n in roots), default=0)

    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self) -> Iterator[UINode]:
        return iter(self.nodes)

    def roots(self) -> list[UINode]:
        return [n for n in self.nodes if n.parent is None]

    @property
    def package(self) -> str:
        """The app package of the screen: from the activity, else the first root's package."""
        if self.activity and "/" in self.activity:
            return self.activity.split("/", 1)[0]
        roots = self.roots()
        return roots[0].package if roots else ""

    def parent_of(self, node: UINode) -> UINode | None:
        return None if node.parent is None else self.nodes[node.parent]

    def ancestors(self, node: UINode) -> Iterator[UINode]:
        cur = self.parent_of(node)
        while cur is not None:
            yield cur
            cur = self.parent_of(cur)

    def descendants(self, node: UINode) -> Iterator[UINode]:
        stack = list(reversed(node.children))
        while stack:
            child = self.nodes[stack.pop()]
            yield child
            stack.extend(reversed(child.children))

    # -- stable keys -----------------------------------------------------------------------
    def key(self, node: UINode) -> str:
        """A stable key for ``node``.

        A path from the root whose segments are ``ShortClass#short-id[k]``, where ``k`` counts
        only earlier siblings with the same class and resource-id. Adding, removing or
        reordering nodes of another class/id elsewhere on the screen leaves the key unchanged.
        """
        if self._keys is None:
            self._keys = self._compute_keys()
        return self._keys[node.index]

    def node_by_key(self, key: str) -> UINode | None:
        if self._keys is None:
            self._keys = self._compute_keys()
        try:
            return self.nodes[self._keys.index(key)]
        except ValueError:
            return None

    def _compute_keys(self) -> list[str]:
        keys = [""] * len(self.nodes)
        root_counts: dict[str, int] = {}
        for node in self.nodes:
            seg = node.short_class + (f"#{node.short_id}" if node.short_id else "")
            if node.parent is None:
                k = root_counts.get(seg, 0)
                root_counts[seg] = k + 1
                keys[node.index] = f"/{seg}[{k}]"
        for node in self.nodes:
            counts: dict[str, int] = {}
            for ci in node.children:
                child = self.nodes[ci]
                seg = child.short_class + (f"#{child.short_id}" if child.short_id else "")
                k = counts.get(seg, 0)
                counts[seg] = k + 1
                keys[ci] = f"{keys[node.index]}/{seg}[{k}]"
        return keys

    # -- hit testing -----------------------------------------------------------------------
    def hit_test(self, x: float, y: float, *, clickable_only: bool = True) -> UINode | None:
        """The smallest (clickable, visible, enabled) node whose bounds contain ``(x, y)``.

        Ties on area go to the node deepest in the tree (last in pre-order).
        """
        best: UINode | None = None
        for node in self.nodes:
            if not node.visible or not node.bounds.contains(x, y):
                continue
            if clickable_only and not (
                node.clickable or node.long_clickable or node.checkable or node.editable
            ):
                continue
            if best is None or node.bounds.area <= best.bounds.area:
                best = node
        return best

    def find(
        self,
        *,
        resource_id: str | None = None,
        text: str | None = None,
        content_desc: str | None = None,
        class_name: str | None = None,
    ) -> list[UINode]:
        """Nodes whose given attributes are all equal to the values asked for."""
        out = []
        for n in self.nodes:
            if resource_id is not None and n.resource_id != resource_id:
                continue
            if text is not None and n.text != text:
                continue
            if content_desc is not None and n.content_desc != content_desc:
                continue
            if class_name is not None and n.class_name != class_name:
                continue
            out.append(n)
        return out

    def same_content(self, other: UIScreen) -> bool:
        """Whether both screens hold the same nodes, size, activity and rotation."""
        return (
            len(self.nodes) == len(other.nodes)
            and self.width == other.width
            and self.height == other.height
            and self.activity == other.activity
            and self.rotation == other.rotation
            and all(a.same_content(b) for a, b in zip(self.nodes, other.nodes, strict=True))
        )


def build_screen(
    nodes: list[UINode],
    *,
    width: int = 0,
    height: int = 0,
    activity: str = "",
    rotation: int = 0,
    source: str = "",
) -> UIScreen:
    """Build a screen after checking that ``nodes`` is a consistent pre-order tree."""
    for i, n in enumerate(nodes):
        if n.index != i:
            raise ValueError(f"node at position {i} has index {n.index}")
        if n.parent is not None and not 0 <= n.parent < i:
            raise ValueError(f"node {i} has parent {n.parent} that does not precede it")
    return UIScreen(
        nodes=nodes,
        width=width,
        height=height,
        activity=activity,
        rotation=rotation,
        source=source,
    )
