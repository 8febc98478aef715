"""Reading DroidBot output folders: state files, event files, event → typed action.

DroidBot (and DroidTask, recorded with it) writes ``states/state_<ts>.json`` (one screen,
with its ``state_str`` content hash) and ``events/event_<ts>.json`` (one input event with the
``start_state`` / ``stop_state`` hashes around it). Both importers read them through here.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llamatouch.actions import KEYS, Key, LongPress, OpenApp, Scroll, Tap, Type, as_direction
from llamatouch.datasets.problems import ImportProblem
from llamatouch.errors import ActionError, InputFormatError
from llamatouch.fsutil import load_json_file
from llamatouch.ui.droidbot import screen_from_droidbot
from llamatouch.ui.node import UINode, UIScreen
from llamatouch.ui.xmlio import write_uiautomator_xml

_TAG_RE = re.compile(r"^(?:state|event|screen)_(.+)\.(?:json|jpg|png)$")


def file_tag(path: Path) -> str:
    """``state_2023-07-03_215039.json`` → ``2023-07-03_215039`` (the recording time)."""
    m = _TAG_RE.match(path.name)
    return m.group(1) if m else path.stem


def rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


@dataclass(slots=True)
class StateFile:
    """One recorded state file.

    Attributes:
        path: the JSON file.
        tag: its recording time tag.
        state_str: DroidBot's content hash of the screen.
        screen: the hierarchy.
        content_hash: sha256 of our normalised hierarchy + activity (exact content identity).
    """

    path: Path
    tag: str
    state_str: str
    screen: UIScreen
    content_hash: str


@dataclass(slots=True)
class StateIndex:
    """States of one DroidBot folder, de-duplicated.

    Attributes:
        states: canonical id (a ``state_str``) → the representative file (the earliest).
        alias_of: every known ``state_str`` → its canonical id.
        aliases: canonical id → the other ``state_str`` hashes merged into it (same content).
        files: canonical id → tags of every state file recorded for it.
        all_files: every readable state file in time order (canonical id in ``state_str``
            resolves through :meth:`resolve`).
    """

    states: dict[str, StateFile] = field(default_factory=dict)
    alias_of: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, list[str]] = field(default_factory=dict)
    all_files: list[StateFile] = field(default_factory=list)

    def resolve(self, state_str: Any) -> str | None:
        """Canonical id of a recorded hash, or ``None`` when no state file has it."""
        if not isinstance(state_str, str):
            return None
        return self.alias_of.get(state_str)


def load_states(
    folder: Path, root: Path, problems: list[ImportProblem], app: str = ""
) -> tuple[StateIndex, int]:
    """Read every ``state_*.json`` under ``folder``; malformed files are skipped and reported.

    States are de-duplicated twice: files with the same ``state_str`` are one state (the
    earliest file represents it), and different ``state_str`` hashes whose hierarchy and
    activity are identical are merged (the later hash becomes an alias). Returns the index and
    the number of files read.
    """
    index = StateIndex()
    by_content: dict[str, str] = {}
    count = 0
    for path in sorted(folder.glob("state_*.json")):
        count += 1
        try:
            data = load_json_file(path)
            if not isinstance(data, Mapping):
                raise InputFormatError(path, "top level is not an object")
            state_str = data.get("state_str")
            if not isinstance(state_str, str) or not state_str:
                raise InputFormatError(path, "missing 'state_str'")
            screen = screen_from_droidbot(data, rel(path, root))
        except InputFormatError as exc:
            problems.append(ImportProblem("malformed_state", rel(path, root), exc.message, app))
            continue
        tag = file_tag(path)
        known = index.alias_of.get(state_str)
        if known is not None:
            index.files[known].append(tag)
            index.all_files.append(StateFile(path, tag, state_str, screen, ""))
            continue
        digest = hashlib.sha256(
            write_uiautomator_xml(screen) + b"\0" + screen.activity.encode()
        ).hexdigest()
        state_file = StateFile(path, tag, state_str, screen, digest)
        index.all_files.append(state_file)
        same = by_content.get(digest)
        if same is not None:
            index.alias_of[state_str] = same
            index.aliases[same].append(state_str)
            index.files[same].append(tag)
            continue
        by_content[digest] = state_str
        index.states[state_str] = state_file
        index.alias_of[state_str] = state_str
        index.aliases[state_str] = []
        index.files[state_str] = [tag]
    return index, count


@dataclass(frozen=True, slots=True)
class EventFile:
    """One recorded event file: its path, time tag and JSON object."""

    path: Path
    tag: str
    data: Mapping[str, Any]

    @property
    def event(self) -> Mapping[str, Any]:
        ev = self.data.get("event")
        return ev if isinstance(ev, Mapping) else {}

    @property
    def event_type(self) -> str:
        return str(self.event.get("event_type") or "")


def load_events(
    folder: Path, root: Path, problems: list[ImportProblem], app: str = ""
) -> list[EventFile]:
    """Read every ``event_*.json`` in time order; malformed files are skipped and reported."""
    out: list[EventFile] = []
    for path in sorted(folder.glob("event_*.json")):
        try:
            data = load_json_file(path)
        except InputFormatError as exc:
            problems.append(ImportProblem("malformed_json", rel(path, root), exc.message, app))
            continue
        if not isinstance(data, Mapping) or not isinstance(data.get("event"), Mapping):
            problems.append(
                ImportProblem("malformed_event", rel(path, root), "no 'event' object", app)
            )
            continue
        out.append(EventFile(path, file_tag(path), data))
    return out


def parse_am_start(intent: str) -> tuple[str, str] | None:
    """``am start pkg/cls`` → ``(pkg, "pkg/.rel")`` (activity shortened as Android prints it)."""
    parts = intent.split()
    if len(parts) < 3 or parts[0] != "am" or parts[1] != "start":
        return None
    comp = next((p for p in parts[2:] if "/" in p and not p.startswith("-")), None)
    if comp is None:
        return None
    pkg, cls = comp.split("/", 1)
    if cls.startswith(pkg + "."):
        cls = cls[len(pkg) :]
    return pkg, f"{pkg}/{cls}"


def _view_bounds(view: Mapping[str, Any]) -> tuple[int, int, int, int] | None:
    try:
        (left, top), (right, bottom) = view["bounds"]
        return int(left), int(top), int(right), int(bottom)
    except (KeyError, TypeError, ValueError):
        return None


def find_event_node(screen: UIScreen, view: Mapping[str, Any]) -> UINode | None:
    """The node of ``screen`` the recorded event ``view`` denotes.

    Matched on bounds + class + resource-id + text first, then bounds + class, then bounds
    alone, then resource-id + text (the view moved).
    """
    b = _view_bounds(view)
    cls = view.get("class") or ""
    rid = view.get("resource_id") or ""
    text = view.get("text") or ""

    def same_bounds(n: UINode) -> bool:
        return (
            b is not None
            and (
                n.bounds.left,
                n.bounds.top,
                n.bounds.right,
                n.bounds.bottom,
            )
            == b
        )

    tiers = (
        lambda n: (
            same_bounds(n) and n.class_name == cls and n.resource_id == rid and n.text == text
        ),
        lambda n: same_bounds(n) and n.class_name == cls,
        same_bounds,
        lambda n: (
            bool(rid or text) and n.resource_id == rid and n.text == text and n.class_name == cls
        ),
    )
    for test in tiers:
        hits = [n for n in screen.nodes if test(n)]
        if hits:
            return hits[-1]
    return None


def element_attrs(node: UINode) -> dict[str, Any]:
    """The attributes kept with a transition so a replay can match the element again."""
    b = node.bounds
    return {
        "resource_id": node.resource_id,
        "text": node.text,
        "content_desc": node.content_desc,
        "class_name": node.class_name,
        "bounds": [b.left, b.top, b.right, b.bottom],
    }


def view_attrs(view: Mapping[str, Any]) -> dict[str, Any]:
    """Same as :func:`element_attrs` for a recorded DroidBot view (no node found)."""
    b = _view_bounds(view)
    return {
        "resource_id": view.get("resource_id") or "",
        "text": view.get("text") or "",
        "content_desc": view.get("content_description") or "",
        "class_name": view.get("class") or "",
        "bounds": list(b) if b else [0, 0, 0, 0],
    }


@dataclass(slots=True)
class ConvertedEvent:
    """A DroidBot event as a typed action.

    Attributes:
        action: the action JSON, or ``None`` when the event is not an action on the UI
            (``kill_app``, a force-stop intent) or could not be converted.
        element_key: ``UIScreen.key`` of the target on the source screen, when found.
        element: the target's attributes (from the node found, else from the recorded view).
        problem: why the event could not be converted (``None`` when it was, or when it is a
            deliberate non-action such as a stop).
        stop: the event stops an app (``kill_app`` / ``am force-stop``).
    """

    action: dict[str, Any] | None
    element_key: str | None = None
    element: dict[str, Any] | None = None
    problem: str | None = None
    stop: bool = False


_UI_TAP = {"touch", "click"}
_UI_LONG = {"long_touch", "long_click"}


def convert_event(event: Mapping[str, Any], screen: UIScreen | None) -> ConvertedEvent:
    """Convert one recorded event, looking its target up on the source ``screen``."""
    etype = str(event.get("event_type") or "")
    if etype == "kill_app":
        return ConvertedEvent(None, stop=True)
    if etype == "intent":
        intent = str(event.get("intent") or "")
        started = parse_am_start(intent)
        if started is not None:
            pkg, activity = started
            return ConvertedEvent(OpenApp(package=pkg, activity=activity).to_json())
        if intent.startswith("am force-stop"):
            return ConvertedEvent(None, stop=True)
        return ConvertedEvent(None, problem=f"intent not understood: {intent!r}")
    if etype == "key":
        name = str(event.get("name") or "").lower()
        if name not in KEYS:
            return ConvertedEvent(None, problem=f"unknown key {event.get('name')!r}")
        return ConvertedEvent(Key(key=name).to_json())
    view = event.get("view")
    if not isinstance(view, Mapping):
        x, y = event.get("x"), event.get("y")
        if etype in _UI_TAP and isinstance(x, (int, float)) and isinstance(y, (int, float)):
            return ConvertedEvent(Tap(x=int(x), y=int(y)).to_json())
        return ConvertedEvent(None, problem=f"{etype or 'event'} without a target view")
    node = find_event_node(screen, view) if screen is not None else None
    key = screen.key(node) if (screen is not None and node is not None) else None
    attrs = element_attrs(node) if node is not None else view_attrs(view)
    left, top, right, bottom = attrs["bounds"]
    cx, cy = (left + right) // 2, (top + bottom) // 2
    missing = None if node is not None else "target view not found on the source screen"
    if etype in _UI_TAP:
        action: dict[str, Any] = Tap(x=cx, y=cy, element=key).to_json()
    elif etype in _UI_LONG:
        action = LongPress(x=cx, y=cy, element=key).to_json()
    elif etype == "set_text":
        action = Type(text=str(event.get("text") or ""), element=key, x=cx, y=cy).to_json()
    elif etype == "scroll":
        raw = str(event.get("direction") or "").lower()
        try:
            direction = as_direction(raw)
        except ActionError:
            return ConvertedEvent(None, key, attrs, f"scroll direction {raw!r}")
        action = Scroll(direction=direction, element=key, x=cx, y=cy).to_json()
    else:
        return ConvertedEvent(None, key, attrs, f"event type {etype!r} not supported")
    return ConvertedEvent(action, key, attrs, missing)
