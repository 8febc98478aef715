"""The screen as AutoDroid offers it to the model: HTML elements plus explicit scroll actions.

Elements come from :func:`llamatouch.ui.html.render_html` (functionality-aware HTML). Every
scrollable container on screen adds two pseudo elements, ``scroll up`` and ``scroll down``,
so that scrolling is an explicit choice (the AutoDroid paper exposes scrolling as actions the
model can pick rather than something it must guess). Each choice knows how to become a typed
:class:`~llamatouch.actions.Action`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from llamatouch.actions import Action, Key, Scroll, Tap, Type, as_direction
from llamatouch.ui.html import COMPACT_STYLE, HtmlStyle, render_html
from llamatouch.ui.node import UINode, UIScreen

#: Choice kinds: what acting on the element means.
KINDS = ("click", "type", "check", "back", "scroll_up", "scroll_down")


@dataclass(frozen=True, slots=True)
class Choice:
    """One element the model may pick.

    Attributes:
        id: the number the model answers with.
        tag: HTML tag shown (``button``, ``input``, ``checkbox``, ``p``, ``scroller``).
        text: the element's text as shown.
        html: the element's line in the prompt.
        kind: see :data:`KINDS`; ``p`` elements are ``click`` (tapping text is allowed).
        node: the screen node (``None`` for ``go back``).
        key: the node's stable key on the screen (``""`` for ``go back``).
    """

    id: int
    tag: str
    text: str
    html: str
    kind: str
    node: UINode | None
    key: str

    @property
    def label(self) -> str:
        """A normalised label used to match memory entries: text, else desc, else id."""
        if self.kind == "back":
            return "go back"
        n = self.node
        raw = self.text or (n.content_desc if n else "") or (n.short_id if n else "")
        return normalise_label(raw)


def normalise_label(text: str) -> str:
    """Lower-case, ``<br>`` and runs of whitespace folded to one space."""
    return re.sub(r"\s+", " ", text.replace("<br>", " ")).strip().lower()


@dataclass(slots=True)
class ScreenView:
    """The choices of one screen and its prompt text."""

    choices: list[Choice]
    signature: str

    def text(self) -> str:
        return "\n".join(c.html for c in self.choices)

    def get(self, id: int) -> Choice | None:
        return self.choices[id] if 0 <= id < len(self.choices) else None


def screen_signature(screen: UIScreen) -> str:
    """A content-light fingerprint of a screen: its activity and the classes/ids of its
    interactive nodes (not their texts, so typing into a field keeps the signature)."""
    parts = [screen.activity]
    for n in screen.nodes:
        if n.interactive and n.visible:
            parts.append(f"{n.short_class}#{n.short_id}")
    return hashlib.sha1("|".join(parts).encode(), usedforsecurity=False).hexdigest()[:16]


def build_view(
    screen: UIScreen, *, include_offscreen: bool = False, style: HtmlStyle = COMPACT_STYLE
) -> ScreenView:
    """Render ``screen`` into choices: the HTML elements, then scroll pseudo elements; the
    ``go back`` element stays last (with ``include_offscreen``: where the rendering puts it).
    Elements scrolled out of view are not offered by default:
    their bounds are clipped, so a tap on them would land elsewhere; the scroll choices reach
    them. ``include_offscreen=True`` lists every element as the recorded DroidTask views do
    (offline evaluation on recorded screens, where nothing is tapped or scrolled): the
    elements out of view are offered and the scroll choices are not. ``style`` is the HTML
    dialect (:class:`~llamatouch.ui.html.HtmlStyle`)."""
    view = render_html(screen, include_offscreen=include_offscreen, style=style)
    choices: list[Choice] = []
    back = None
    for el in view.elements:
        if (el.kind == "back" or el.node is None) and include_offscreen:
            cid = len(choices)  # in place, as recorded: the elements out of view follow it
            html = f"<button id={cid}>go back</button>"
            choices.append(Choice(cid, "button", "go back", html, "back", None, ""))
            continue
        if el.kind == "back" or el.node is None:
            back = el
            continue
        kind = el.kind if el.kind in ("click", "type", "check") else "click"
        cid = len(choices)
        html = _retag(el.to_html(), el.id, cid)
        choices.append(Choice(cid, el.tag, el.text, html, kind, el.node, screen.key(el.node)))
    for n in [] if include_offscreen else screen.nodes:
        if not (n.scrollable and n.visible and n.bounds.area > 0):
            continue
        name = n.short_id or n.short_class
        for direction in ("up", "down"):
            cid = len(choices)
            text = f"scroll {direction}"
            html = f"<scroller id={cid} of='{name}'>{text}</scroller>"
            choices.append(
                Choice(cid, "scroller", text, html, f"scroll_{direction}", n, screen.key(n))
            )
    if back is not None:
        cid = len(choices)
        choices.append(
            Choice(cid, "button", "go back", f"<button id={cid}>go back</button>", "back", None, "")
        )
    return ScreenView(choices, screen_signature(screen))


def _retag(html: str, old: int, new: int) -> str:
    return html.replace(f" id={old}", f" id={new}", 1)


def choice_action(choice: Choice, text: str = "") -> Action:
    """The typed action for picking ``choice`` (``text`` for inputs)."""
    if choice.kind == "back" or choice.node is None:
        return Key("back")
    x, y = choice.node.bounds.center
    if choice.kind == "type":
        return Type(text=text, element=choice.key, x=x, y=y)
    if choice.kind in ("scroll_up", "scroll_down"):
        direction = as_direction(choice.kind.split("_", 1)[1])
        return Scroll(direction=direction, element=choice.key, x=x, y=y)
    return Tap(x=x, y=y, element=choice.key)


def describe_choice(choice: Choice, text: str = "") -> str:
    """A short description for the history (``tap 'Save'``, ``type 'milk' into 'Title'``)."""
    label = (choice.text or choice.label).replace("<br>", " ")[:60]
    if choice.kind == "back":
        return "press back"
    if choice.kind == "type":
        return f"type {text!r} into {label!r}"
    if choice.kind.startswith("scroll_"):
        where = choice.node.short_id or choice.node.short_class if choice.node else "screen"
        return f"{choice.kind.replace('_', ' ')} in {where!r}"
    return f"tap {label!r}"
