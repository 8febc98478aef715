"""A *world*: the UI transition graph (UTG) of one or more recorded apps.

The virtual device replays a world; the DroidTask importer and the demo-world builder write
one. On disk a world is a folder::

    world.json              manifest: apps, home state, states (metadata), transitions
    states/<state_id>.xml   each state's hierarchy as a ``uiautomator dump``
    states/<state_id>.png   the recorded screenshot, where one exists (optional)

See ``docs/world-format.md``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from llamatouch.errors import JsonFormatError, SchemaError
from llamatouch.fsutil import atomic_write_bytes, atomic_write_json, load_json_file, safe_join
from llamatouch.ui.node import UIScreen
from llamatouch.ui.xmlio import read_uiautomator_file, write_uiautomator_xml

WORLD_SCHEMA = "llamatouch.world/1"
#: Entry-point group where packages register the worlds they ship: each entry point loads to
#: a function returning ``{name: world folder}`` (the virtual device package ships ``demo``).
WORLDS_GROUP = "llamatouch.worlds"


@dataclass(slots=True)
class WorldState:
    """One recorded screen.

    Attributes:
        id: unique id (for DroidTask, the recorded ``state_str`` content hash).
        activity: foreground activity, ``package/.Activity``.
        package: foreground package.
        width, height: screen size in pixels.
        screenshot: whether ``states/<id>.png`` exists.
        aliases: other recorded ids that were de-duplicated into this state.
    """

    id: str
    activity: str
    package: str
    width: int
    height: int
    screenshot: bool = False
    aliases: list[str] = field(default_factory=list)


@dataclass(slots=True)
class WorldTransition:
    """A recorded edge of the UTG.

    Attributes:
        source, target: state ids.
        action: the typed action JSON (see :mod:`llamatouch.actions`) that was recorded.
        element_key: stable key (``UIScreen.key``) of the element acted on, on ``source``.
        element: the element's own attributes (``resource_id``, ``text``, ``content_desc``,
            ``class_name``, ``bounds`` as ``[l, t, r, b]``) so that a replay can match it even
            when the key moved.
        event_type: the recorder's own event name (``click``, ``set_text``, ``key`` ...).
        effects: system-state changes the transition causes on a virtual device:
            ``{"uninstall": [package, ...], "install": [package, ...]}`` (empty: none).
        context: the recorded histories that led to this edge, each a list of state ids
            ending with ``source`` (oldest first): where one input was recorded leading to
            different targets, the virtual device follows the edge whose context shares the
            longest suffix with the states it has shown (see :func:`context_score`).
    """

    source: str
    target: str
    action: dict[str, Any]
    element_key: str | None = None
    element: dict[str, Any] | None = None
    event_type: str = ""
    effects: dict[str, Any] = field(default_factory=dict)
    context: list[list[str]] = field(default_factory=list)

    def add_context(self, path: list[str]) -> None:
        """Record one more history (ending with ``source``) that led to this edge."""
        if path and path[-1] == self.source and path not in self.context:
            self.context.append(list(path))


#: ``event_type`` of edges the importers add from a task's own recorded steps (a step on one
#: state, the task's next record on another) rather than from the recorder's events.
TASK_EDGE = "task_record"


def full_context_match(history: list[str], transition: WorldTransition) -> bool:
    """Whether one recorded context of ``transition`` is, whole, the end of ``history``: the
    device has shown exactly the recorded path that led to this edge (for an edge read from a
    task's records: the task's whole path from its start)."""
    return any(
        len(ctx) <= len(history) and history[len(history) - len(ctx) :] == ctx
        for ctx in transition.context
    )


def context_score(history: list[str], transition: WorldTransition) -> int:
    """How many states before the current one agree between ``history`` (the states shown,
    oldest first, ending with the current state) and the best of ``transition.context``
    (compared backwards from the current state); 0 when none does or there is no context."""
    best = 0
    if not history or history[-1] != transition.source:
        return 0
    for ctx in transition.context:
        n = 1
        while n < len(ctx) and n < len(history) and ctx[-1 - n] == history[-1 - n]:
            n += 1
        best = max(best, n - 1)
    return best


@dataclass(slots=True)
class WorldApp:
    """An app of the world.

    Attributes:
        package: Android package name.
        label: the name shown on the launcher.
        start_state: state shown when the app is launched fresh.
        launcher_activity: ``package/.Activity`` that ``am start`` / ``monkey`` starts.
        installed: whether the app is installed when a virtual device starts or resets
            (transitions' ``effects`` may install or uninstall it later).
    """

    package: str
    label: str
    start_state: str
    launcher_activity: str = ""
    installed: bool = True


@dataclass(slots=True)
class World:
    """A whole world.

    Attributes:
        name: world name (``demo``, ``droidtask-notes`` ...).
        home_state: the launcher screen shown after ``home`` (``""``: no launcher recorded,
            the virtual device renders one from ``apps``).
        apps: apps that can be opened.
        states: state id → metadata.
        transitions: recorded edges.
        root: folder the world was loaded from (``None`` for an in-memory world).
        screens: state id → hierarchy, for in-memory worlds or as a cache.
        screenshots: state id → recorded PNG bytes (in-memory worlds, or as a cache).
        rendered: state id → PNG rendered from the hierarchy of a state that has no recorded
            screenshot (a cache shared by every virtual device replaying this world; never
            written to disk, not compared).
    """

    name: str
    home_state: str
    apps: list[WorldApp]
    states: dict[str, WorldState]
    transitions: list[WorldTransition]
    root: Path | None = None
    screens: dict[str, UIScreen] = field(default_factory=dict, repr=False)
    screenshots: dict[str, bytes] = field(default_factory=dict, repr=False)
    rendered: dict[str, bytes] = field(default_factory=dict, repr=False, compare=False)

    def screen(self, state_id: str) -> UIScreen:
        """The hierarchy of ``state_id`` (read from disk once, then cached)."""
        cached = self.screens.get(state_id)
        if cached is not None:
            return cached
        meta = self.states.get(state_id)
        if meta is None:
            raise KeyError(f"world {self.name!r} has no state {state_id!r}")
        if self.root is None:
            raise KeyError(f"in-memory world {self.name!r} has no screen for {state_id!r}")
        path = safe_join(self.root, "states", f"{state_id}.xml")
        scr = read_uiautomator_file(
            path, width=meta.width, height=meta.height, activity=meta.activity
        )
        self.screens[state_id] = scr
        return scr

    def screenshot(self, state_id: str) -> bytes | None:
        """Recorded PNG bytes of ``state_id``, or ``None`` when none was recorded."""
        if state_id in self.screenshots:
            return self.screenshots[state_id]
        meta = self.states.get(state_id)
        if meta is None or not meta.screenshot or self.root is None:
            return None
        data = safe_join(self.root, "states", f"{state_id}.png").read_bytes()
        self.screenshots[state_id] = data
        return data

    def app(self, package: str) -> WorldApp | None:
        return next((a for a in self.apps if a.package == package), None)

    def outgoing(self, state_id: str) -> list[WorldTransition]:
        return [t for t in self.transitions if t.source == state_id]

    # -- persistence -----------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        return {
            "schema": WORLD_SCHEMA,
            "name": self.name,
            "home_state": self.home_state,
            "apps": [asdict(a) for a in self.apps],
            "states": [asdict(s) for s in self.states.values()],
            "transitions": [_transition_json(t) for t in self.transitions],
        }

    def save(self, folder: str | Path) -> Path:
        """Write the world (states first, the manifest last, each file atomically)."""
        out = Path(folder)
        (out / "states").mkdir(parents=True, exist_ok=True)
        for sid in self.states:
            atomic_write_bytes(
                out / "states" / f"{sid}.xml", write_uiautomator_xml(self.screen(sid))
            )
            png = self.screenshot(sid)
            if png is not None:
                atomic_write_bytes(out / "states" / f"{sid}.png", png)
        atomic_write_json(out / "world.json", self.manifest())
        return out


def _transition_json(t: WorldTransition) -> dict[str, Any]:
    """A transition as ``world.json`` stores it (``context`` only when there is one)."""
    out = asdict(t)
    if not out["context"]:
        del out["context"]
    return out


def _req(obj: dict[str, Any], key: str, typ: type, source: Path, where: str) -> Any:
    if key not in obj:
        raise SchemaError(source, f"{where}.{key}", "missing")
    value = obj[key]
    if not isinstance(value, typ):
        raise SchemaError(source, f"{where}.{key}", f"expected {typ.__name__}, got {value!r}")
    return value


def load_world(folder: str | Path) -> World:
    """Load and validate a world folder. Errors name the file and field."""
    root = Path(folder).resolve()
    mpath = root / "world.json"
    data = load_json_file(mpath)
    if not isinstance(data, dict):
        raise JsonFormatError(mpath, "top level is not an object")
    if data.get("schema") != WORLD_SCHEMA:
        raise SchemaError(mpath, "schema", f"expected {WORLD_SCHEMA!r}, got {data.get('schema')!r}")
    try:
        states: dict[str, WorldState] = {}
        for i, s in enumerate(_req(data, "states", list, mpath, "")):
            st = WorldState(**s)
            if st.id in states:
                raise SchemaError(mpath, f"states[{i}].id", f"duplicate id {st.id!r}")
            if not safe_name(st.id):
                raise SchemaError(mpath, f"states[{i}].id", f"unsafe id {st.id!r}")
            states[st.id] = st
        apps = [WorldApp(**a) for a in _req(data, "apps", list, mpath, "")]
        transitions = [WorldTransition(**t) for t in _req(data, "transitions", list, mpath, "")]
    except TypeError as exc:
        raise SchemaError(mpath, "states/apps/transitions", str(exc)) from exc
    home = data.get("home_state", "")
    for i, t in enumerate(transitions):
        for end in ("source", "target"):
            if getattr(t, end) not in states:
                raise SchemaError(
                    mpath, f"transitions[{i}].{end}", f"unknown state {getattr(t, end)!r}"
                )
        if not isinstance(t.context, list):
            raise SchemaError(mpath, f"transitions[{i}].context", "not a list")
        for j, path in enumerate(t.context):
            if (
                not isinstance(path, list)
                or not path
                or path[-1] != t.source
                or any(not isinstance(s, str) or s not in states for s in path)
            ):
                raise SchemaError(
                    mpath,
                    f"transitions[{i}].context[{j}]",
                    "must be a non-empty list of known state ids ending with the source",
                )
    for i, a in enumerate(apps):
        if a.start_state not in states:
            raise SchemaError(mpath, f"apps[{i}].start_state", f"unknown state {a.start_state!r}")
    if home and home not in states:
        raise SchemaError(mpath, "home_state", f"unknown state {home!r}")
    return World(
        name=str(data.get("name") or root.name),
        home_state=home,
        apps=apps,
        states=states,
        transitions=transitions,
        root=root,
    )


def safe_name(name: str) -> bool:
    """Ids used as file names: letters, digits, ``-``, ``_``, ``.`` (not leading)."""
    return bool(name) and name[0] != "." and all(c.isalnum() or c in "-_." for c in name)


def shipped_worlds() -> dict[str, Path]:
    """Every world a package registers (entry-point group :data:`WORLDS_GROUP`), by name."""
    found: dict[str, Path] = {}
    for ep in sorted(entry_points(group=WORLDS_GROUP), key=lambda e: e.name):
        for name, folder in ep.load()().items():
            found.setdefault(name, Path(folder))
    return found


def resolve_world(name: str | Path, base: Path | None = None) -> World:
    """A world by folder or by registered name (see :func:`shipped_worlds`).

    Tried in order: ``base/NAME`` and ``base/worlds/NAME`` (when ``base`` is given), ``NAME``
    as a folder holding ``world.json`` (or as the ``world.json`` file itself), then a
    registered name.

    Raises:
        SchemaError: ``name`` is none of these (the message lists the registered names).
    """
    text = str(name)
    path = Path(text).expanduser()
    candidates = [path]
    if base is not None:
        candidates[:0] = [base / text, base / "worlds" / text]
    for folder in candidates:
        if (folder / "world.json").is_file():
            return load_world(folder)
    if path.name == "world.json" and path.is_file():
        return load_world(path.parent)
    shipped = shipped_worlds()
    if text in shipped:
        return load_world(shipped[text])
    known = ", ".join(sorted(shipped)) or "none"
    raise SchemaError(
        text, "world", f"not a shipped world (known: {known}) nor a folder with world.json"
    )
