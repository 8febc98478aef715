"""The AutoDroid-style HTML recorded in DroidTask task records, and matching it to nodes.

A record's ``State`` is a list of elements such as ``<button id=3 text='Search'></button>``,
``<checkbox id=4 checked=False>Checklist</checkbox>`` or ``<button id=2>Theme<br>Dark</button>``
(texts of a clickable group joined with ``<br>``). ``Choice`` is an ``id`` value (ids are not
always in document order, and some are missing). The last element is the ``go back``
pseudo-button. The strings are not well-formed HTML/XML (unquoted attributes); they are
tokenised with a regular expression and nothing in them is ever evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass

from llamatouch.ui.html_agreement import parse_state_html
from llamatouch.ui.node import UINode, UIScreen

GO_BACK = "go back"


def norm_text(value: str | None) -> str:
    """Collapse whitespace (the recorder did the same when writing the HTML)."""
    return " ".join((value or "").split())


@dataclass(frozen=True, slots=True)
class RecordedElement:
    """One element of a recorded ``State``.

    Attributes:
        id: the ``id`` attribute (what ``Choice`` refers to).
        position: 0-based position in document order.
        tag: ``button``, ``input``, ``checkbox`` or ``p``.
        texts: the element's texts (``text=`` attribute and the ``<br>``-separated content),
            whitespace-normalised, empties dropped.
        checked: the ``checked`` attribute of a checkbox, else ``None``.
    """

    id: int
    position: int
    tag: str
    texts: tuple[str, ...]
    checked: bool | None = None

    @property
    def is_go_back(self) -> bool:
        return self.texts == (GO_BACK,)


def parse_recorded_html(state_html: str) -> list[RecordedElement]:
    """Elements of a recorded ``State`` string, in document order (parsed by
    :func:`llamatouch.ui.html_agreement.parse_state_html`)."""
    out: list[RecordedElement] = []
    for pos, el in enumerate(parse_state_html(state_html, document_order=True)):
        texts = [el.desc, *el.body.split("<br>")]
        out.append(
            RecordedElement(
                id=el.id,
                position=pos,
                tag=el.tag,
                texts=tuple(x for x in (norm_text(t) for t in texts) if x),
                checked=el.checked,
            )
        )
    return out


def _interactive(node: UINode) -> bool:
    return node.clickable or node.long_clickable or node.checkable or node.editable


def _labels(node: UINode) -> set[str]:
    return {x for x in (norm_text(node.text), norm_text(node.content_desc)) if x}


def _subtree_labels(screen: UIScreen, node: UINode) -> set[str]:
    out = _labels(node)
    for d in screen.descendants(node):
        out |= _labels(d)
    return out


def match_element(
    screen: UIScreen, element: RecordedElement, elements: list[RecordedElement]
) -> UINode | None:
    """The node of ``screen`` that ``element`` was rendered from, by its texts.

    Candidates are nodes that carry the element's first text, lifted to their nearest
    ancestor-or-self that fits the tag: an editable node for ``input``; a clickable / checkable
    (not editable) node whose subtree holds all the texts for ``button`` / ``checkbox``; the
    text's own node (or the nearest ancestor holding all the texts) for ``p``.
    When several nodes qualify, the element's occurrence among the recorded elements with
    the same texts picks among them (both are in screen order).
    Returns ``None`` for text-less elements or when nothing matches.
    """
    if not element.texts:
        return None
    wanted = set(element.texts)
    found: list[UINode] = []
    for node in screen.nodes:
        if not node.visible or element.texts[0] not in _labels(node):
            continue
        target: UINode | None = None
        for cand in (node, *screen.ancestors(node)):
            if element.tag == "p":
                ok = wanted <= _subtree_labels(screen, cand)
            elif element.tag == "input":
                ok = cand.editable
            else:
                ok = (
                    _interactive(cand)
                    and not cand.editable
                    and wanted <= _subtree_labels(screen, cand)
                )
            if ok:
                target = cand
                break
        if target is not None and target not in found:
            found.append(target)
    if not found:
        return None
    found.sort(key=lambda n: n.index)
    same = [e for e in elements if e.texts == element.texts and e.tag == element.tag]
    occurrence = next((i for i, e in enumerate(same) if e.position == element.position), 0)
    return found[min(occurrence, len(found) - 1)]
