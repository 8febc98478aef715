"""What the proposer knows beyond one trace: the kind of goal, and which texts of an app tell
screens apart.

- :func:`goal_is_page`: whether an instruction asks to *reach a page* ("open the clock page",
  "view favorite contacts") rather than to change a state or do an action ("turn on ...",
  "create ...", "call ..."). For a page goal the end screen itself must be the page (a trace
  that opened it and then left does not do the task).
- :class:`AppTexts`: over the app's world (its UTG), on what fraction of the app's screens each
  text is shown (a text on most screens — a tab bar, a section label — does not tell the
  goal screen apart), and which texts are only ever shown inside a pop-up (a toast, an error
  dialog: transient, never the goal).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from llamatouch.essential.schema import normalise_text
from llamatouch.ui.node import UINode, UIScreen
from llamatouch.world import World

#: Verbs that open an instruction whose goal is to reach a page.
PAGE_VERBS = re.compile(
    r"^\s*(open|go to|view|check|find|search|see|display|look at|navigate to|show me)\b", re.I
)
#: Words that make a goal a state change or an action even when it starts with a page verb.
STATE_WORDS = re.compile(
    r"\b(set|change|turn|enable|disable|switch|toggle|create|add|delete|remove|rename|sort|"
    r"select|make|use|hide|save|export|print|move|resize|rotate|call|text|send|type|mark|"
    r"adjust|record|take|play|mute|restore|modify|edit|clear|copy|share|install|uninstall)\b",
    re.I,
)
#: Resource-id entries of views that hold a pop-up's transient message (Android's own alert
#: message and toast ids, Material snackbars). A dialog's other content (a properties list)
#: can be a goal; its message line ("Failed to query ...") is not.
POPUP_IDS = frozenset({"message", "snackbar_text", "toast"})
_POPUP_CLASS = re.compile(r"(Toast|Snackbar)", re.I)


def goal_is_page(instruction: str) -> bool:
    """Whether ``instruction`` asks to reach a page (see the module docstring)."""
    return bool(PAGE_VERBS.search(instruction)) and not STATE_WORDS.search(instruction)


def in_popup(screen: UIScreen, node: UINode) -> bool:
    """Whether ``node`` is (inside) a pop-up's transient message: an alert's message line, a
    toast or a snackbar."""
    for n in (node, *screen.ancestors(node)):
        entry = n.resource_id.rsplit("/", 1)[-1] if n.resource_id else ""
        if entry in POPUP_IDS or _POPUP_CLASS.search(n.class_name or ""):
            return True
    return False


def _label(n: UINode) -> str:
    return normalise_text(n.text or n.content_desc)


@dataclass(slots=True)
class AppTexts:
    """Text statistics of one app's screens in a world.

    Attributes:
        screens: how many of the app's screens were counted.
        frequency: normalised text → fraction of the app's screens that show it (visible).
        popup_only: texts that, wherever shown, are inside a pop-up (:func:`in_popup`).
    """

    screens: int = 0
    frequency: dict[str, float] = field(default_factory=dict)
    popup_only: frozenset[str] = frozenset()

    @classmethod
    def of(cls, world: World, package: str) -> AppTexts:
        """Count the texts of every state of ``world`` whose package is ``package`` (all
        states when none is)."""
        ids = [s.id for s in world.states.values() if s.package == package] or list(world.states)
        counts: dict[str, int] = {}
        popup: dict[str, bool] = {}
        for sid in ids:
            screen = world.screen(sid)
            seen: set[str] = set()
            for n in screen.nodes:
                label = _label(n)
                if not n.visible or not label:
                    continue
                popup[label] = popup.get(label, True) and in_popup(screen, n)
                if label not in seen:
                    seen.add(label)
                    counts[label] = counts.get(label, 0) + 1
        total = len(ids)
        return cls(
            screens=total,
            frequency={k: v / total for k, v in counts.items()} if total else {},
            popup_only=frozenset(k for k, v in popup.items() if v),
        )

    def common(self, label: str, fraction: float) -> bool:
        """Whether ``label`` is shown on more than ``fraction`` of the app's screens."""
        return self.frequency.get(normalise_text(label), 0.0) > fraction

    def transient(self, label: str) -> bool:
        """Whether ``label`` is only ever shown inside a pop-up."""
        return normalise_text(label) in self.popup_only
