"""One step of an agent's trace as the primitives see it: lazy, cached, typed failures.

Nothing is read from disk until a primitive needs it (an ``activity`` primitive never parses
the hierarchy; only ``image`` opens the screenshot). Every read that fails raises
:class:`EvaluationError` naming the step and file, so the verdict can say why it is ``error``.

What is derived from a hierarchy document (its validity, the text the pre-check searches, the
screen model and its indexes) depends only on the document's bytes and the step's recorded
size and activity, so it is kept per distinct document in a bounded, process-wide
:class:`HierarchyCache` (``hierarchy_cache()``): traces of the same app repeat screens (a
virtual device serves recorded states; trials and variants of a task revisit them), and each
distinct screen is then checked, searched and modelled once. The cache changes no answer
(a test scores every DroidTask variant with it cold, warm and disabled).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from llamatouch.actions import Action
from llamatouch.errors import EvaluationError, LlamaTouchError, XmlFormatError
from llamatouch.essential.schema import normalise_text
from llamatouch.evaluator.treeview import HitScreen, TreeScreen, tree_bounds
from llamatouch.trace.format import StepRecord, TraceStep
from llamatouch.ui.node import UINode, UIScreen
from llamatouch.ui.xmlio import parse_xml_bytes, read_uiautomator_xml


@dataclass(slots=True)
class IndexedNode:
    node: UINode
    text: str  # normalised
    desc: str  # normalised


class ScreenIndex:
    """A screen model with the lookups the primitives use (built once, then only read).

    Attributes:
        screen: the screen model.
    """

    __slots__ = ("_by_desc", "_by_rid", "_by_text", "_index", "_labels", "_text", "screen")

    def __init__(self, screen: UIScreen) -> None:
        self.screen = screen
        self._index: list[IndexedNode] | None = None
        self._by_text: dict[str, list[IndexedNode]] = {}
        self._by_desc: dict[str, list[IndexedNode]] = {}
        self._by_rid: dict[str, list[IndexedNode]] = {}
        self._labels: list[tuple[str, IndexedNode]] | None = None
        self._text: str | None = None

    def nodes(self) -> list[IndexedNode]:
        """The visible nodes with their normalised text and content-desc."""
        if self._index is None:
            idx: list[IndexedNode] = []
            by_text, by_desc, by_rid = self._by_text, self._by_desc, self._by_rid
            for n in self.screen.nodes:
                if not n.visible:
                    continue
                item = IndexedNode(n, _norm(n.text), _norm(n.content_desc))
                idx.append(item)
                by_text.setdefault(item.text, []).append(item)
                by_desc.setdefault(item.desc, []).append(item)
                by_rid.setdefault(n.resource_id, []).append(item)
            self._index = idx
        return self._index

    def by_text(self, norm: str) -> list[IndexedNode]:
        self.nodes()
        return self._by_text.get(norm, [])

    def by_desc(self, norm: str) -> list[IndexedNode]:
        self.nodes()
        return self._by_desc.get(norm, [])

    def by_rid(self, rid: str) -> list[IndexedNode]:
        self.nodes()
        return self._by_rid.get(rid, [])

    def labels(self) -> list[tuple[str, IndexedNode]]:
        """Every non-empty normalised text and content-desc, with its node."""
        if self._labels is None:
            out: list[tuple[str, IndexedNode]] = []
            for item in self.nodes():
                if item.text:
                    out.append((item.text, item))
                if item.desc and item.desc != item.text:
                    out.append((item.desc, item))
            self._labels = out
        return self._labels

    def screen_text(self) -> str:
        """See :meth:`StepView.screen_text`."""
        if self._text is None:
            from llamatouch.ui.html import MERGE_SEPARATOR, render_html

            parts: list[str] = []
            for el in render_html(self.screen, include_back=False).elements:
                if el.text:
                    parts.append(el.text.replace(MERGE_SEPARATOR, " "))
                if el.desc:
                    parts.append(el.desc)
                if el.checked is not None:
                    parts.append("checked" if el.checked else "unchecked")
            self._text = normalise_text(" ".join(parts))
        return self._text


def _read_tree(raw: bytes) -> tuple[str | None, TreeScreen | None]:
    """``(problem, tree)``: why ``raw`` cannot be read as a screen (``None``: it can) and,
    when it can, its :class:`TreeScreen` (``None`` when it has elements other than
    ``<node>`` below the root, which the model's reader skips); the model is not built.

    The same safe parser and the same rejections as
    :func:`llamatouch.ui.xmlio.read_uiautomator_xml` (size, DOCTYPE/ENTITY declarations,
    malformed or too deeply nested XML, root element, rotation, no node, bad bounds or index),
    on libxml2's C tree: about a third of the cost of building the Python model.
    """
    try:
        root = parse_xml_bytes(raw, "<hierarchy>")
    except XmlFormatError as exc:
        return exc.message, None
    if root.tag != "hierarchy":
        return f"root element is <{root.tag}>, expected <hierarchy>", None
    try:
        int(root.get("rotation", "0"))
    except ValueError:
        return f"bad rotation {root.get('rotation')!r}", None
    elements: list[Any] = []
    parents: list[int | None] = []
    only_nodes = True
    stack: list[tuple[Any, int | None]] = [(c, None) for c in reversed(root)]
    while stack:
        el, parent = stack.pop()
        if el.tag != "node":
            only_nodes = False  # skipped with its subtree, as the model's reader does
            continue
        idx = len(elements)
        try:
            tree_bounds(el.get("bounds", "[0,0][0,0]"))
        except ValueError as exc:
            return f"node {idx}: {exc}", None
        raw_index = el.get("index", "0")
        try:
            int(raw_index)
        except ValueError:
            return f"node {idx}: bad index {raw_index!r}", None
        elements.append(el)
        parents.append(parent)
        stack.extend((c, idx) for c in reversed(el))
    if not elements:
        return "no <node> in the hierarchy (null root node?)", None
    return None, TreeScreen(elements, parents) if only_nodes else None


class Hierarchy:
    """What is derived from one hierarchy document; shared by every step that recorded it.

    Attributes:
        raw: the document's bytes.
    """

    __slots__ = (
        "_checked",
        "_model_problem",
        "_models",
        "_problem",
        "_search",
        "_tree",
        "raw",
    )

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self._checked = False
        self._problem: str | None = None
        self._tree: TreeScreen | None = None
        self._search: str | None = None
        self._models: dict[tuple[int, int, str], ScreenIndex] = {}
        self._model_problem: str | None = None

    def check(self, path: Path) -> None:
        """Raise :class:`XmlFormatError` naming ``path`` unless the document reads."""
        self.tree(path)

    def tree(self, path: Path) -> TreeScreen | None:
        """The document read through lxml's tree (:class:`TreeScreen`; ``None`` when it has
        elements the model's reader skips). Raises :class:`XmlFormatError` naming ``path``
        when the document does not read as a screen."""
        if not self._checked:
            self._problem, self._tree = _read_tree(self.raw)
            self._checked = True
        if self._problem is not None:
            raise XmlFormatError(path, self._problem)
        return self._tree

    def searchable(self) -> str:
        """The NFKC-normalised, case-folded document for the pre-check (``""``: do not
        pre-check, the document uses character references). Says nothing about validity:
        a pre-check may only answer "absent" after :meth:`check`."""
        if self._search is None:
            import unicodedata

            text = self.raw.decode("utf-8", errors="replace")
            self._search = "" if "&#" in text else unicodedata.normalize("NFKC", text).casefold()
        return self._search

    def model(self, path: Path, width: int, height: int, activity: str) -> ScreenIndex:
        """The screen model (built on first use; its ``source`` names the first step's file)."""
        key = (width, height, activity)
        idx = self._models.get(key)
        if idx is None:
            if self._model_problem is not None:
                raise XmlFormatError(path, self._model_problem)
            try:
                screen = read_uiautomator_xml(
                    self.raw, path, width=width, height=height, activity=activity
                )
            except XmlFormatError as exc:
                self._model_problem = exc.message
                raise
            idx = self._models[key] = ScreenIndex(screen)
        return idx


class HierarchyCache:
    """Bounded, process-wide map from a document's bytes to its :class:`Hierarchy`.

    Least recently used documents go first once there are more than ``max_entries`` of them
    or their bytes add up to more than ``max_bytes``; parsed, an entry takes about ten times
    its document's size (the 279 distinct DroidTask hierarchies, 6 MiB of XML, add about
    70 MiB to the process). ``max_entries = 0`` disables caching.

    Attributes:
        max_entries: most documents kept.
        max_bytes: most document bytes kept.
        hits, misses: lookups answered from the cache / not.
    """

    def __init__(self, max_entries: int = 512, max_bytes: int = 8 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[bytes, Hierarchy] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, raw: bytes) -> Hierarchy:
        found = self._items.get(raw)
        if found is not None:
            self.hits += 1
            self._items.move_to_end(raw)
            return found
        self.misses += 1
        h = Hierarchy(raw)
        if self.max_entries <= 0 or len(raw) > self.max_bytes:
            return h
        self._items[raw] = h
        self._bytes += len(raw)
        while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
            old, _ = self._items.popitem(last=False)
            self._bytes -= len(old)
        return h

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0
        self.hits = self.misses = 0

    def resize(self, max_entries: int) -> None:
        """Change the entry bound (``0`` disables the cache) and empty it."""
        self.max_entries = max_entries
        self.clear()


_CACHE = HierarchyCache()


def hierarchy_cache() -> HierarchyCache:
    """The process's :class:`HierarchyCache` (for benchmarks and tests: ``clear``, ``resize``)."""
    return _CACHE


class StepView:
    """Lazy view of a :class:`TraceStep` (or of an in-memory screen, for tests and tools)."""

    def __init__(
        self,
        step: TraceStep | None,
        *,
        screen: UIScreen | None = None,
        record: StepRecord | None = None,
        screenshot: Any = None,
    ) -> None:
        self.step = step
        self.record: StepRecord = record if record is not None else _record_of(step)
        self._idx: ScreenIndex | None = None if screen is None else ScreenIndex(screen)
        self._hier: Hierarchy | None = None
        self._xml_path: Path | None = None
        self._image = screenshot
        self._action_done = False
        self._action: Action | None = None

    @property
    def index(self) -> int:
        return self.record.index

    def where(self) -> str:
        return f"step {self.index}" + (f" ({self.step.folder})" if self.step is not None else "")

    # -- raw material --------------------------------------------------------------------
    def _hierarchy(self) -> tuple[Hierarchy, Path]:
        """The step's document (shared through the cache) and its path."""
        if self.step is None:
            raise EvaluationError(f"{self.where()}: no hierarchy")
        if self._xml_path is None:
            self._xml_path = self.step.folder / "screen.xml"
        path = self._xml_path
        if self._hier is None:
            if not self.record.has_hierarchy:
                raise EvaluationError(f"{self.where()}: the step recorded no hierarchy")
            try:
                raw = self.step.hierarchy_xml()
            except LlamaTouchError as exc:
                raise EvaluationError(f"{self.where()}: hierarchy unusable: {exc}") from exc
            self._hier = _CACHE.get(raw)
        return self._hier, path

    def _index(self) -> ScreenIndex:
        if self._idx is None:
            hier, path = self._hierarchy()
            rec = self.record
            try:
                self._idx = hier.model(path, rec.width, rec.height, rec.activity)
            except LlamaTouchError as exc:
                raise EvaluationError(f"{self.where()}: hierarchy unusable: {exc}") from exc
        return self._idx

    def screen(self) -> UIScreen:
        """The screen model (built on first use, shared by steps with the same document)."""
        return self._index().screen

    def _tree(self) -> TreeScreen | None:
        """The step's :class:`TreeScreen` (``None``: use the model: an in-memory screen, or a
        document with elements the model's reader skips)."""
        if self.step is None or (self._idx is not None and self._hier is None):
            return None
        hier, path = self._hierarchy()
        try:
            return hier.tree(path)
        except LlamaTouchError as exc:
            raise EvaluationError(f"{self.where()}: hierarchy unusable: {exc}") from exc

    def hit_screen(self) -> HitScreen:
        """What hit-tests this step's taps: the tree screen when there is one, else the model."""
        tree = self._tree()
        return tree if tree is not None else self.screen()

    def may_contain(self, needles: list[str]) -> bool:
        """A cheap, sound pre-check before building the screen model: ``False`` only when some
        needle (already NFKC + case-folded) cannot occur in any attribute of the hierarchy.

        The raw document is NFKC-normalised and case-folded; needles are runs of letters and
        digits (or resource-ids), which XML escaping never touches. Documents that use
        character references (``&#...;``) are not pre-checked (always ``True``), nor
        in-memory screens. Before answering ``False`` the document is checked to
        read as a screen (:func:`_read_tree`, on libxml2's C tree); when it does not, this
        raises :class:`EvaluationError` with the reason, so an unreadable step is never a
        pre-checked fail.
        """
        if self._idx is not None or self.step is None:
            return True
        hier, path = self._hierarchy()
        doc = hier.searchable()
        if not doc or all(n in doc for n in needles):
            return True
        try:
            hier.check(path)
        except LlamaTouchError as exc:
            raise EvaluationError(f"{self.where()}: hierarchy unusable: {exc}") from exc
        return False

    def action(self) -> Action | None:
        if not self._action_done:
            try:
                self._action = self.record.parsed_action()
            except LlamaTouchError as exc:
                raise EvaluationError(f"{self.where()}: action unusable: {exc}") from exc
            self._action_done = True
        return self._action

    def image(self) -> Any:
        """The screenshot as a Pillow image (RGB)."""
        if self._image is None:
            from llamatouch.ui.image import decode_image

            if self.step is None:
                raise EvaluationError(f"{self.where()}: no screenshot")
            if not self.record.has_screenshot:
                raise EvaluationError(f"{self.where()}: the step recorded no screenshot")
            try:
                data = self.step.screenshot_png()
                # size checked from the header first: a decompression bomb is this step's error
                img = decode_image(data, self.step.folder / "screen.png")
            except LlamaTouchError as exc:
                raise EvaluationError(f"{self.where()}: screenshot unusable: {exc}") from exc
            self._image = img.convert("RGB")
        return self._image

    def screen_size(self) -> tuple[int, int]:
        tree = self._tree()
        if tree is not None:
            w, h = tree.size(self.record.width, self.record.height)
        else:
            scr = self.screen()
            w, h = scr.width, scr.height
        w = w or self.record.width
        h = h or self.record.height
        if w <= 0 or h <= 0:
            raise EvaluationError(f"{self.where()}: unknown screen size")
        return w, h

    # -- indexes -------------------------------------------------------------------------
    # Lookups come from the tree screen when there is one (the same nodes, values and
    # indexes as the model's), so locating a component never builds the model.
    def nodes(self) -> list[IndexedNode]:
        """Every visible node, with its normalised text and content-desc."""
        tree = self._tree()
        if tree is None:
            return self._index().nodes()
        return [IndexedNode(tree.node(i), t, d) for i, t, d in tree.visible()]

    def _lookup(self, kind: str, key: str) -> list[IndexedNode]:
        tree = self._tree()
        if tree is None:
            idx = self._index()
            return {"text": idx.by_text, "desc": idx.by_desc, "rid": idx.by_rid}[kind](key)
        return [IndexedNode(tree.node(i), t, d) for i, t, d in tree.lookup(kind, key)]

    def by_text(self, norm: str) -> list[IndexedNode]:
        return self._lookup("text", norm)

    def by_desc(self, norm: str) -> list[IndexedNode]:
        return self._lookup("desc", norm)

    def by_rid(self, rid: str) -> list[IndexedNode]:
        return self._lookup("rid", rid)

    def labels(self) -> list[tuple[str, IndexedNode]]:
        """Every non-empty normalised text and content-desc, with its node."""
        return self._index().labels()

    def screen_text(self) -> str:
        """The screen's text as rendered to HTML (:func:`llamatouch.ui.html.render_html`).

        One entry per HTML element: its body text, its ``text='...'`` (content-desc) attribute
        and, for checkboxes, ``checked``/``unchecked``; normalised, space-joined. Markup
        (tags, ids) is left out so that tokens compare content only.
        """
        return self._index().screen_text()


_norm = lru_cache(maxsize=65536)(normalise_text)


def _record_of(step: TraceStep | None) -> StepRecord:
    if step is None:
        raise ValueError("a StepView needs a step or a record")
    return step.record
