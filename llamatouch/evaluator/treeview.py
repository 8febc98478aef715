"""Answer ``exact``/``absent``/``click`` lookups from libxml2's tree, without the screen model.

Building the Python screen model (:func:`llamatouch.ui.xmlio.read_uiautomator_xml`: one
:class:`UINode` of 24 fields per view, through parser callbacks) costs about three times
parsing the document into lxml's C tree. The checks that locate a component or hit-test a tap
need only a few attributes of a few nodes, so :class:`TreeScreen` reads them from the tree and
makes a :class:`UINode` only for the nodes a check returns or walks (the hit node, its
subtree, the matches), with the same values and pre-order indexes the model would give them.
Hit-testing, stable keys, ancestors and descendants follow :class:`UIScreen`'s definitions.

Only documents whose elements below the root are all ``<node>`` get a tree screen (the model's
reader skips other elements with their subtrees; such documents use the model). Tree screens
are made by :func:`llamatouch.evaluator.stepview._read_tree` while it checks the document.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any, Protocol

from llamatouch.essential.schema import normalise_text
from llamatouch.ui.node import UINode
from llamatouch.ui.xmlio import is_editable, node_from_attributes, parse_bounds


class HitScreen(Protocol):
    """What hit-testing a tap needs of a screen (:class:`UIScreen` or :class:`TreeScreen`)."""

    def node_by_key(self, key: str) -> UINode | None: ...

    def hit_test(self, x: float, y: float) -> UINode | None: ...

    def ancestors(self, node: UINode) -> Iterator[UINode]: ...

    def descendants(self, node: UINode) -> Iterator[UINode]: ...


_norm = lru_cache(maxsize=65536)(normalise_text)
#: ``Bounds.parse`` with the model reader's cache (bounds strings repeat across the screens
#: of an app).
tree_bounds = _bounds = parse_bounds


def _segment(a: Any) -> str:
    """The element's segment of a stable key (``ShortClass#short-id``)."""
    short_class = a.get("class", "").rsplit(".", 1)[-1]
    rid = a.get("resource-id", "")
    return short_class + (f"#{rid.rsplit('/', 1)[-1]}" if rid else "")


class TreeScreen:
    """One parsed hierarchy, read through its lxml tree (see the module docstring).

    Attributes:
        elements: the ``<node>`` elements in pre-order (index = the model's node index).
        width, height: screen size as :class:`UIScreen` would set it (the recorded size, or
            when either is unknown the largest right/bottom edge of the roots).
    """

    def __init__(self, elements: list[Any], parents: list[int | None]) -> None:
        self.elements = elements
        self._parents = parents
        self._pos = {id(el): i for i, el in enumerate(elements)}
        self._made: dict[int, UINode] = {}
        self._texts: list[tuple[str, str]] | None = None
        self._by_text: dict[str, list[int]] = {}
        self._by_desc: dict[str, list[int]] = {}
        self._by_rid: dict[str, list[int]] = {}
        self._visible: list[int] = []

    def size(self, width: int, height: int) -> tuple[int, int]:
        """``(width, height)`` as :class:`UIScreen` computes them from the recorded size."""
        if width > 0 and height > 0:
            return width, height
        roots = [el for el, p in zip(self.elements, self._parents, strict=True) if p is None]
        w = max((_bounds(el.get("bounds", "[0,0][0,0]")).right for el in roots), default=0)
        h = max((_bounds(el.get("bounds", "[0,0][0,0]")).bottom for el in roots), default=0)
        return w, h

    # -- nodes ---------------------------------------------------------------------------
    def node(self, i: int) -> UINode:
        """The :class:`UINode` the model would hold at index ``i`` (made once)."""
        made = self._made.get(i)
        if made is not None:
            return made
        el = self.elements[i]
        children = [self._pos[id(c)] for c in el]
        node = node_from_attributes(el.attrib, i, self._parents[i], "<tree>", children)
        self._made[i] = node
        return node

    def _index(self) -> list[tuple[str, str]]:
        """Normalised (text, content-desc) of every element; the lookups of visible ones."""
        if self._texts is None:
            texts: list[tuple[str, str]] = []
            for i, el in enumerate(self.elements):
                get = el.get
                t, d = _norm(get("text", "")), _norm(get("content-desc", ""))
                texts.append((t, d))
                if get("visible-to-user", "true") != "true":
                    continue
                self._visible.append(i)
                self._by_text.setdefault(t, []).append(i)
                self._by_desc.setdefault(d, []).append(i)
                self._by_rid.setdefault(get("resource-id", ""), []).append(i)
            self._texts = texts
        return self._texts

    def visible(self) -> list[tuple[int, str, str]]:
        """``(index, normalised text, normalised content-desc)`` of every visible node."""
        texts = self._index()
        return [(i, *texts[i]) for i in self._visible]

    def lookup(self, kind: str, key: str) -> list[tuple[int, str, str]]:
        """Visible nodes whose normalised ``text`` / ``desc`` or ``rid`` equals ``key``."""
        texts = self._index()
        table = {"text": self._by_text, "desc": self._by_desc, "rid": self._by_rid}[kind]
        return [(i, *texts[i]) for i in table.get(key, ())]

    # -- the UIScreen operations the click check uses ---------------------------------------
    def ancestors(self, node: UINode) -> Iterator[UINode]:
        p = self._parents[node.index]
        while p is not None:
            yield self.node(p)
            p = self._parents[p]

    def descendants(self, node: UINode) -> Iterator[UINode]:
        el = self.elements[node.index]
        pos = self._pos
        for d in el.iterdescendants():
            yield self.node(pos[id(d)])

    def hit_test(self, x: float, y: float) -> UINode | None:
        """The smallest visible clickable node containing ``(x, y)`` (ties: the last in
        pre-order), as :meth:`UIScreen.hit_test`."""
        best: int | None = None
        best_area = 0
        for i, el in enumerate(self.elements):
            get = el.get
            if not (
                get("clickable") == "true"
                or get("long-clickable") == "true"
                or get("checkable") == "true"
                or is_editable(el.attrib)
            ):
                continue
            if get("visible-to-user", "true") != "true":
                continue
            b = _bounds(get("bounds", "[0,0][0,0]"))
            if not b.contains(x, y):
                continue
            if best is None or b.area <= best_area:
                best, best_area = i, b.area
        return None if best is None else self.node(best)

    def node_by_key(self, key: str) -> UINode | None:
        """The node with stable key ``key`` (:meth:`UIScreen.key`), or ``None``.

        Walks the key's segments down from the roots; a key it cannot walk (a class name
        with ``/`` or ``[`` in it) is looked up among every node's computed key instead.
        """
        found = self._walk_key(key)
        if found is not None:
            return found
        try:
            return self.node(self._keys().index(key))
        except ValueError:
            return None

    def _keys(self) -> list[str]:
        """Every node's stable key, computed as :meth:`UIScreen._compute_keys` does."""
        keys = [""] * len(self.elements)
        counts: dict[int | None, dict[str, int]] = {}
        for i, (el, p) in enumerate(zip(self.elements, self._parents, strict=True)):
            seg = _segment(el.attrib)
            seen = counts.setdefault(p, {})
            k = seen.get(seg, 0)
            seen[seg] = k + 1
            keys[i] = f"{'' if p is None else keys[p]}/{seg}[{k}]"
        return keys

    def _walk_key(self, key: str) -> UINode | None:
        if not key.startswith("/"):
            return None
        candidates: list[Any] = [el for el, p in zip(self.elements, self._parents, strict=True)
                                 if p is None]
        found: Any = None
        for part in key[1:].split("/"):
            seg, sep, rest = part.rpartition("[")
            if not sep or not rest.endswith("]") or not rest[:-1].isdigit():
                return None
            k = int(rest[:-1])
            found = None
            for el in candidates:
                if _segment(el.attrib) == seg:
                    if k == 0:
                        found = el
                        break
                    k -= 1
            if found is None:
                return None
            candidates = list(found)
        return None if found is None else self.node(self._pos[id(found)])
