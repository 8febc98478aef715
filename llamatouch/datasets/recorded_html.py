"""The AutoDroid-style HTML recorded in DroidTask task records, and matching it to nodes.

A record's ``State`` is a list of elements such as ``<button id=3 text='Search'></button>``,
``<checkbox id=4 checked=False>Checklist</checkbox>`` or ``<button id=2>Theme<br>Dark</button>``
(texts of a clickable group joined with ``<br>``). ``Choice`` is an ``id`` value (ids are not
always in document order, and some are missing). The last element is the ``go back``
pseudo-button. The strings are not well-formed HTML/XML (unquoted attributes, unescaped
quotes); they are read by a small scanner and nothing in them is ever evaluated.

The recorders that write these strings differ in how they render a view; the scanner reads
all of these variants:

- the content-desc in a ``text='…'`` attribute, which may itself hold several texts merged
  with ``<br>`` (``<button id=5 text='Menu<br>Highlighted'>``);
- ``<br>``, ``<br/>`` or ``<br />`` as the separator, in the attribute and in the body;
- attribute values quoted with ``'`` or ``"`` or bare, in any order, holding a quote of the
  other kind or an unescaped one of the same kind (``text='Don't'``);
- HTML entities (``&amp;``, ``&#39;``, ``&quot;`` ...) and backslash-escaped quotes;
- a ``resource_id`` / ``resource-id`` attribute, or a text-less view shown by its resource-id
  name (``<button id=3>btn_menu</button>``);
- self-closing elements (``<input id=1 />``), upper-case tags and attribute names.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from llamatouch.ui.node import UINode, UIScreen

GO_BACK = "go back"

#: Separator of merged texts (AutoDroid writes ``<br>``; others ``<br/>`` / ``<br />``).
BR_RE = re.compile(r"<br\s*/?>", re.I)
#: Attribute names that carry the view's content-desc (AutoDroid: ``text``).
DESC_ATTRS = frozenset({"text", "content_desc", "content-desc", "desc", "description", "alt"})
#: Attribute names that carry the view's resource-id.
RID_ATTRS = frozenset({"resource_id", "resource-id", "rid", "resourceid"})
#: Tags of elements that are not acted on (a label); every other tag is a control.
TEXT_TAGS = frozenset({"p", "span", "div", "text", "label"})

_TAG_START = re.compile(r"<([a-zA-Z][\w-]*)(?=[\s/>])")
_ATTR_NAME = re.compile(r"\s*([a-zA-Z_][\w-]*)\s*")
_BARE_VALUE = re.compile(r"[^\s>]+")
_CLOSE_QUOTE = {
    q: re.compile(r"(?<!\\)" + q + r"(?=\s*/?>|\s+[a-zA-Z_][\w-]*\s*=|\s+checked\b)")
    for q in ("'", '"')
}


def norm_text(value: str | None) -> str:
    """A text as compared between a recording and a screen: HTML entities and backslash-escaped
    quotes decoded, whitespace collapsed (the recorders did the same when writing the HTML)."""
    if not value:
        return ""
    text = html.unescape(value).replace("\\'", "'").replace('\\"', '"')
    return " ".join(text.split())


def split_texts(value: str) -> list[str]:
    """The non-empty normalised texts of a ``<br>``-merged string."""
    return [t for t in (norm_text(x) for x in BR_RE.split(value)) if t]


@dataclass(frozen=True, slots=True)
class RecordedElement:
    """One element of a recorded ``State``.

    Attributes:
        id: the ``id`` attribute (what ``Choice`` refers to).
        position: 0-based position in document order.
        tag: ``button``, ``input``, ``checkbox`` or ``p`` (lower-cased as recorded).
        texts: the element's texts (the content-desc attribute's ``<br>``-separated texts, then
            the body's), normalised (:func:`norm_text`), empties dropped.
        checked: the ``checked`` attribute of a checkbox, else ``None``.
        resource_id: a recorded ``resource_id`` attribute (``""``: none).
    """

    id: int
    position: int
    tag: str
    texts: tuple[str, ...]
    checked: bool | None = None
    resource_id: str = ""

    @property
    def is_go_back(self) -> bool:
        return self.texts == (GO_BACK,)


def _read_attrs(text: str, pos: int) -> tuple[dict[str, str], int, bool] | None:
    """Attributes of an opening tag whose name ends at ``pos``: ``(attrs, end, self_closing)``
    with ``end`` just past ``>``; ``None`` when the tag is not closed."""
    attrs: dict[str, str] = {}
    n = len(text)
    while pos < n:
        while pos < n and text[pos].isspace():
            pos += 1
        if text.startswith("/>", pos):
            return attrs, pos + 2, True
        if pos < n and text[pos] == ">":
            return attrs, pos + 1, False
        m = _ATTR_NAME.match(text, pos)
        if m is None:
            return None
        name = m.group(1).lower()
        pos = m.end()
        if pos >= n or text[pos] != "=":
            attrs[name] = "true"  # a bare flag (``checked``)
            continue
        pos += 1
        while pos < n and text[pos].isspace():
            pos += 1
        if pos < n and text[pos] in "'\"":
            close = _CLOSE_QUOTE[text[pos]].search(text, pos + 1)
            if close is None:
                return None
            attrs[name] = text[pos + 1 : close.start()]
            pos = close.end()
        else:
            v = _BARE_VALUE.match(text, pos)
            if v is None:
                return None
            value = v.group(0)
            pos = v.end()
            if value.endswith("/") and text.startswith(">", pos):
                value, pos = value[:-1], pos - 1
            attrs[name] = value
    return None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _checked(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.strip().lower() in ("true", "1", "yes", "checked")


def parse_recorded_html(state_html: str) -> list[RecordedElement]:
    """Elements of a recorded ``State`` string, in document order.

    An element is an opening tag with an integer ``id`` attribute, its body up to the matching
    closing tag (or up to the next element when it is never closed) and its attributes (see the
    module docstring for the variants read). Anything else (stray text, ``<br>``) is skipped.
    """
    out: list[RecordedElement] = []
    pos = 0
    while True:
        m = _TAG_START.search(state_html, pos)
        if m is None:
            break
        tag = m.group(1).lower()
        parsed = _read_attrs(state_html, m.end()) if tag != "br" else None
        if parsed is None:
            pos = m.end()
            continue
        attrs, end, self_closing = parsed
        el_id = _int(attrs.get("id"))
        if el_id is None:
            pos = end
            continue
        body = ""
        pos = end
        if not self_closing:
            close = re.compile(rf"</{re.escape(tag)}\s*>", re.I).search(state_html, end)
            nxt = _next_element(state_html, end)
            if close is not None and (nxt is None or close.start() <= nxt):
                body, pos = state_html[end : close.start()], close.end()
            else:
                stop = nxt if nxt is not None else len(state_html)
                body, pos = state_html[end:stop], stop
        desc = next((attrs[k] for k in attrs if k in DESC_ATTRS), "")
        rid = next((attrs[k] for k in attrs if k in RID_ATTRS), "")
        out.append(
            RecordedElement(
                id=el_id,
                position=len(out),
                tag=tag,
                texts=tuple(split_texts(desc) + split_texts(body)),
                checked=_checked(attrs.get("checked")),
                resource_id=norm_text(rid),
            )
        )
    return out


def _next_element(text: str, pos: int) -> int | None:
    """Start of the next opening tag with an ``id`` attribute at or after ``pos``."""
    for m in _TAG_START.finditer(text, pos):
        if m.group(1).lower() == "br":
            continue
        parsed = _read_attrs(text, m.end())
        if parsed is not None and "id" in parsed[0]:
            return m.start()
    return None


# -- matching --------------------------------------------------------------------------------


def _interactive(node: UINode) -> bool:
    return node.clickable or node.long_clickable or node.checkable or node.editable


def node_labels(node: UINode) -> set[str]:
    """The texts a recorder may have shown for ``node``: its text and content-desc (whole, and
    line by line, for recorders that turned newlines into ``<br>``), normalised."""
    out: set[str] = set()
    for raw in (node.text, node.content_desc):
        if not raw:
            continue
        whole = norm_text(raw)
        if whole:
            out.add(whole)
        lines = [x for x in (norm_text(line) for line in raw.splitlines()) if x]
        if len(lines) > 1:
            out.update(lines)
    return out


def resource_labels(node: UINode) -> set[str]:
    """Names a text-less view may be shown by: its resource-id, the entry name after
    ``:id/`` and that name with ``_`` as spaces."""
    rid = node.resource_id or ""
    if not rid:
        return set()
    entry = rid.rsplit("/", 1)[-1]
    return {x for x in (rid, entry, entry.replace("_", " ")) if x}


def _subtree_labels(screen: UIScreen, node: UINode, with_ids: bool) -> set[str]:
    out = node_labels(node) | (resource_labels(node) if with_ids else set())
    for d in screen.descendants(node):
        out |= node_labels(d)
        if with_ids:
            out |= resource_labels(d)
    return out


def match_element(
    screen: UIScreen, element: RecordedElement, elements: list[RecordedElement]
) -> UINode | None:
    """The node of ``screen`` that ``element`` was rendered from, by its texts.

    Candidates are nodes that carry the element's first text, lifted to their nearest
    ancestor-or-self that fits the tag: an editable node for ``input``; a clickable / checkable
    (not editable) node whose subtree holds all the texts for ``button`` / ``checkbox`` (and
    other control tags); the text's own node (or the nearest ancestor holding all the texts)
    for ``p``. Texts are matched against texts and content-descs first; only when nothing
    matches are resource-id names tried too (a recorder that shows a text-less view by its
    id), and a recorded ``resource_id`` attribute must agree with the node's.
    When several nodes qualify, the element's occurrence among the recorded elements with
    the same texts picks among them (both are in screen order).
    Returns ``None`` for text-less elements or when nothing matches.
    """
    if not element.texts:
        return None
    found = _candidates(screen, element, with_ids=False) or _candidates(
        screen, element, with_ids=True
    )
    if not found:
        return None
    found.sort(key=lambda n: n.index)
    same = [e for e in elements if e.texts == element.texts and e.tag == element.tag]
    occurrence = next((i for i, e in enumerate(same) if e.position == element.position), 0)
    return found[min(occurrence, len(found) - 1)]


def _rid_agrees(screen: UIScreen, element: RecordedElement, node: UINode) -> bool:
    if not element.resource_id:
        return True
    want = element.resource_id.rsplit("/", 1)[-1]
    return any(
        n.resource_id and n.resource_id.rsplit("/", 1)[-1] == want
        for n in (node, *screen.descendants(node))
    )


def _candidates(screen: UIScreen, element: RecordedElement, *, with_ids: bool) -> list[UINode]:
    wanted = set(element.texts)
    first = element.texts[0]
    found: list[UINode] = []
    for node in screen.nodes:
        if not node.visible:
            continue
        labels = node_labels(node) | (resource_labels(node) if with_ids else set())
        if first not in labels:
            continue
        target: UINode | None = None
        for cand in (node, *screen.ancestors(node)):
            if element.tag in TEXT_TAGS:
                ok = wanted <= _subtree_labels(screen, cand, with_ids)
            elif element.tag == "input":
                ok = cand.editable
            else:
                ok = (
                    _interactive(cand)
                    and not cand.editable
                    and wanted <= _subtree_labels(screen, cand, with_ids)
                )
            if ok:
                target = cand
                break
        if target is not None and target not in found and _rid_agrees(screen, element, target):
            found.append(target)
    return found
