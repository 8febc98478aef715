"""Functionality-aware HTML rendering of a screen for LLM agents.

The idea comes from AutoDroid (Wen et al., MobiCom'24): describe the screen as a short list of
HTML-like elements whose tag says what the agent can do with it (``input`` to type,
``checkbox`` to toggle, ``button`` to tap, ``p`` for plain text) and merge the texts of a
clickable group into the clickable element. This module is a clean-room implementation tuned
against the ``State`` strings recorded in the DroidTask task files (see ``docs/ui-model.md`` for
the measured agreement); it shares no code with AutoDroid.

Element syntax (one per line)::

    <p id=0>Calendar</p>
    <button id=1 text='Search'></button>          # content-desc goes in the text attribute
    <button id=4>Theme<br>Dark</button>            # texts of a clickable group, <br>-joined
    <input id=3 >Title</input>
    <checkbox id=6 checked=False>All-day OFF</checkbox>
    <button id=15>go back</button>                 # pseudo element: press Back
    <checkbox id=16 checked=False>CalDAV sync OFF</checkbox>   # scrolled out of view

Elements scrolled out of view come after ``go back`` (``offscreen=True``: acting on one needs
a scroll first; ``include_offscreen=False`` leaves them out). :class:`HtmlStyle` selects
between the two dialects of the recorded views. No ``scroll`` elements are emitted (the
recorded views have none); agents add their own scroll choices.
"""

from __future__ import annotations

from dataclasses import dataclass

from llamatouch.ui.node import UINode, UIScreen

#: Resource ids of system decoration views that never become elements.
_SYSTEM_BARS = frozenset({"android:id/statusBarBackground", "android:id/navigationBarBackground"})

#: Separator between the texts merged into one clickable element.
MERGE_SEPARATOR = "<br>"


@dataclass(frozen=True, slots=True)
class HtmlStyle:
    """Details of the output that differ between the two dialects found in DroidTask.

    The recorded ``State`` strings come in two dialects (told apart by their line separator);
    they list the same elements in the same order and differ only in these details.

    Attributes:
        separator: text between two elements.
        checkbox_text_limit: checkbox labels are cut to this many characters (``None``: never).
        desc_equal_to_text: whether a content-desc equal to the body is still shown.
        dedupe: whether an element identical to an earlier one (same tag, desc and body) is
            left out.
    """

    separator: str = "\n"
    checkbox_text_limit: int | None = 50
    desc_equal_to_text: bool = False
    dedupe: bool = True


#: The default dialect: one element per line, compact (used by about half of the records).
COMPACT_STYLE = HtmlStyle()
#: The other dialect: ``"\n "`` between elements, nothing cut or left out.
SPACED_STYLE = HtmlStyle(
    separator="\n ", checkbox_text_limit=None, desc_equal_to_text=True, dedupe=False
)


@dataclass(slots=True)
class HtmlElement:
    """One element of the HTML view.

    Attributes:
        id: position in the view (the number an agent answers with).
        tag: ``p``, ``button``, ``input`` or ``checkbox``.
        text: the element's body: the node's own text, else the texts of its clickable group
            joined by ``<br>``; ``"go back"`` for the Back pseudo element.
        node: the screen node the element stands for; ``None`` for the Back pseudo element.
        checked: checkbox state (``None`` for other tags).
        kind: what acting on it means: ``click``, ``type``, ``check``, ``scroll`` or ``back``.
        desc: the node's content-desc as shown in the ``text='...'`` attribute (``""``: none).
        offscreen: the node is scrolled out of view (listed after ``go back``); acting on it
            needs a scroll first.
    """

    id: int
    tag: str
    text: str
    node: UINode | None
    checked: bool | None = None
    kind: str = "click"
    desc: str = ""
    offscreen: bool = False

    def label(self) -> str:
        """A human-readable label: the body text, else the content-desc."""
        return self.text or self.desc

    def to_html(self) -> str:
        attrs = f"id={self.id}"
        if self.desc:
            attrs += f" text='{self.desc}'"
        if self.checked is not None:
            attrs += f" checked={self.checked}"
        if self.tag == "input":
            attrs += " "
        return f"<{self.tag} {attrs}>{self.text}</{self.tag}>"


@dataclass(slots=True)
class HtmlView:
    """The rendered screen: elements in id order.

    Attributes:
        elements: the elements; ``elements[i].id == i``.
        separator: text between two elements in :meth:`text`.
    """

    elements: list[HtmlElement]
    separator: str = "\n"

    def text(self) -> str:
        """The HTML, one element per line."""
        return self.separator.join(e.to_html() for e in self.elements)

    def element(self, id: int) -> HtmlElement:
        """The element with this id; raises ``KeyError`` when there is none."""
        if 0 <= id < len(self.elements) and self.elements[id].id == id:
            return self.elements[id]
        for e in self.elements:
            if e.id == id:
                return e
        raise KeyError(id)

    def element_for(self, node: UINode, screen: UIScreen | None = None) -> HtmlElement | None:
        """The element that stands for ``node``; with ``screen``, also the element of the
        nearest ancestor (the clickable group ``node``'s text was merged into)."""
        by_index = {e.node.index: e for e in self.elements if e.node is not None}
        found = by_index.get(node.index)
        if found is None and screen is not None:
            for anc in screen.ancestors(node):
                found = by_index.get(anc.index)
                if found is not None:
                    break
        return found

    def __len__(self) -> int:
        return len(self.elements)


def _one_line(text: str) -> str:
    return text.strip()


def _acts(node: UINode) -> bool:
    """Whether ``node`` is an element of its own (typed into, checked or tapped)."""
    return node.editable or node.checkable or node.clickable


def _group(
    screen: UIScreen, node: UINode, wanted: list[bool], box: UINode | None = None
) -> tuple[list[str], list[int]]:
    """The texts of ``node``'s clickable group and the indexes of the nodes merged into it.

    The group is the node plus its descendants that are not elements of their own (nor
    inside one), except ``box``, the checkable descendant that makes the group a checkbox;
    texts come in pre-order, the node's own text first.
    """
    nodes = screen.nodes
    texts: list[str] = []
    if node.text.strip():
        texts.append(node.text.strip())
    merged: list[int] = []
    stack = list(reversed(node.children))
    while stack:
        d = nodes[stack.pop()]
        if not wanted[d.index] or (_acts(d) and d is not box):
            continue
        merged.append(d.index)
        if d.text.strip():
            texts.append(d.text.strip())
        stack.extend(reversed(d.children))
    return texts, merged


def _checkbox_of(screen: UIScreen, node: UINode) -> UINode | None:
    """The node that carries the checked state of ``node``'s group, if it is a checkbox.

    A checkable node without a content-desc is a checkbox; so is a clickable row whose first
    checkable descendant (a Switch beside its label) has a text and no content-desc. A bare
    check mark without text inside a clickable row (an alarm's on/off box) leaves the row a
    button, as in the recorded views.
    """
    if node.checkable:
        return None if node.content_desc.strip() else node
    for d in screen.descendants(node):
        if d.checkable:
            return d if d.text.strip() and not d.content_desc.strip() else None
    return None


class _Builder:
    """Appends elements, applying the style's cut / dedupe / desc rules."""

    def __init__(self, style: HtmlStyle) -> None:
        self.style = style
        self.elements: list[HtmlElement] = []
        self._seen: set[tuple[str, str, str]] = set()

    def add(
        self,
        tag: str,
        text: str,
        node: UINode | None,
        *,
        kind: str = "click",
        checked: bool | None = None,
        offscreen: bool = False,
    ) -> None:
        style = self.style
        desc = ""
        if node is not None and tag in ("button", "p"):
            desc = _one_line(node.content_desc)
            if desc == text and not style.desc_equal_to_text:
                desc = ""
        if tag == "checkbox" and style.checkbox_text_limit is not None:
            text = text[: style.checkbox_text_limit]
        if style.dedupe and node is not None:
            key = (tag, desc, text)
            if key in self._seen:
                return
            self._seen.add(key)
        self.elements.append(
            HtmlElement(
                len(self.elements),
                tag,
                text,
                node,
                checked=checked,
                kind=kind,
                desc=desc,
                offscreen=offscreen,
            )
        )


def _render_pass(
    screen: UIScreen, out: _Builder, wanted: list[bool], offscreen: bool
) -> list[int]:
    """Append the elements of the nodes flagged in ``wanted`` (pre-order).

    Returns the clickable / checkable nodes left out for want of a label among the wanted
    nodes (a row whose texts are all scrolled out of view).
    """
    nodes = screen.nodes
    done = [False] * len(nodes)
    unlabelled: list[int] = []
    for node in nodes:
        if done[node.index] or not wanted[node.index]:
            continue
        if node.editable:
            out.add(
                "input", _one_line(node.text or node.hint), node, kind="type", offscreen=offscreen
            )
            for d in screen.descendants(node):
                done[d.index] = True
        elif node.checkable or node.clickable:
            box = _checkbox_of(screen, node)
            texts, merged = _group(screen, node, wanted, box)
            if not texts and not node.content_desc.strip():
                unlabelled.append(node.index)
                continue
            if box is not None and texts:
                for d in screen.descendants(node):
                    done[d.index] = True
                out.add(
                    "checkbox",
                    MERGE_SEPARATOR.join(texts),
                    node,
                    checked=box.checked,
                    kind="check",
                    offscreen=offscreen,
                )
                continue
            for i in merged:
                done[i] = True
            out.add("button", MERGE_SEPARATOR.join(texts), node, offscreen=offscreen)
        elif (
            node.long_clickable
            and not node.selected
            and (node.text.strip() or node.content_desc.strip())
        ):
            # long-clickable only: a button of its own label; its children are not merged.
            # (A selected one, e.g. a marquee title, stays text in the recorded views.)
            out.add("button", _one_line(node.text), node, offscreen=offscreen)
        elif node.text.strip() or node.content_desc.strip():
            out.add("p", _one_line(node.text), node, offscreen=offscreen)
    return unlabelled


def _offscreen_flags(screen: UIScreen) -> list[bool]:
    """Which nodes are invisible but a vertical scroll can bring into view.

    DroidBot clips the bounds of invisible nodes to the screen. Pages hidden sideways (other
    pages of a pager, a fast-scroll handle) collapse to no width (``right <= left``); they and
    everything inside them stay out of the view, as do nodes lying wholly left or right of
    the screen. Nodes below or above the viewport keep their width: they are listed after
    ``go back``, as in the recorded views.
    """
    width = screen.width
    sideways = [False] * len(screen.nodes)
    out = [False] * len(screen.nodes)
    for node in screen.nodes:
        b = node.bounds
        hidden = not node.visible and (
            b.right <= b.left or b.right <= 0 or (width > 0 and b.left >= width)
        )
        if hidden or (node.parent is not None and sideways[node.parent]):
            sideways[node.index] = True
            continue
        out[node.index] = not node.visible and node.resource_id not in _SYSTEM_BARS
    return out


def render_html(
    screen: UIScreen,
    *,
    include_back: bool = True,
    include_offscreen: bool = True,
    style: HtmlStyle = COMPACT_STYLE,
) -> HtmlView:
    """Render ``screen`` as an :class:`HtmlView` (see the module docstring for the syntax).

    Visible nodes come first, then the ``go back`` pseudo element, then (when
    ``include_offscreen``) the elements scrolled out of view, as the recorded DroidTask views
    list them.
    """
    out = _Builder(style)
    visible = [n.visible and n.resource_id not in _SYSTEM_BARS for n in screen.nodes]
    unlabelled = _render_pass(screen, out, visible, False)
    if include_back:
        out.elements.append(HtmlElement(len(out.elements), "button", "go back", None, kind="back"))
    if include_offscreen:
        # a visible row whose labels are all scrolled out of view is listed with them
        wanted = _offscreen_flags(screen)
        for i in unlabelled:
            wanted[i] = True
        _render_pass(screen, out, wanted, True)
    return HtmlView(out.elements, style.separator)
