"""What an exploration has found so far, and its resumable state file.

:class:`ExplorationState` holds the states found (keyed by content), the breadth-first
frontier, how far each state's actions have been tried, and every transition observed. It is
saved as ``record-state.json`` beside the world (atomically), so ``--resume`` continues where
an interrupted or budget-limited run stopped.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llamatouch.errors import JsonFormatError, SchemaError
from llamatouch.fsutil import atomic_write_json, load_json_file
from llamatouch.world import WorldTransition

STATE_SCHEMA = "llamatouch.record-state/1"
STATE_FILE = "record-state.json"


@dataclass(slots=True)
class StateRecord:
    """One recorded screen and how far its exploration got.

    Attributes:
        id: the state id (``s`` + a prefix of the content key).
        key: the full content key (:func:`llamatouch.record.keys.content_key`).
        activity: foreground activity, ``package/.Activity``.
        package: foreground package.
        width, height: screen size in pixels.
        depth: actions from the app's launch screen when first found.
        expand: whether its actions are explored (screens of the app and of system dialogs;
            the launcher and other apps are recorded but not explored).
        next_action: index of the next candidate action to try (see
            :func:`llamatouch.record.candidates.candidates`).
        n_actions: how many candidate actions it offers (``-1``: not counted yet).
        unreachable: the explorer could not get back to it (its remaining actions are skipped).
        no_effect: indexes of the candidate actions that left it unchanged on their first try
            (not repeated, see ``RecordConfig.repeats``).
    """

    id: str
    key: str
    activity: str
    package: str
    width: int
    height: int
    depth: int = 0
    expand: bool = True
    next_action: int = 0
    n_actions: int = -1
    unreachable: bool = False
    no_effect: list[int] = field(default_factory=list)


@dataclass(slots=True)
class RecordedTransition:
    """An observed transition.

    Attributes:
        transition: the world edge (source, target, action, element, event type).
        stack_back: a ``back`` that returned to the screen the source was entered from; a
            device's own back stack replays it, so it is kept for navigation but not written
            to the world.
    """

    transition: WorldTransition
    stack_back: bool = False


@dataclass(slots=True)
class ExplorationState:
    """The whole state of one exploration.

    Attributes:
        app: the package explored.
        launch_state: the state shown when the app was first launched.
        home_state: the launcher screen seen before launching (``""``: none).
        states: state id → record, in discovery order.
        queue: the breadth-first frontier (ids of states with actions left to try).
        transitions: every observed transition, in order.
        steps: device actions sent so far (exploration, navigation, restarts), all runs.
        edges: candidate actions tried so far, all runs.
        restarts: app restarts so far, all runs.
        elapsed_s: exploration time so far, all runs.
        options: the candidate options the exploration uses (a resume must use the same).
    """

    app: str
    launch_state: str = ""
    home_state: str = ""
    states: dict[str, StateRecord] = field(default_factory=dict)
    queue: deque[str] = field(default_factory=deque)
    transitions: list[RecordedTransition] = field(default_factory=list)
    steps: int = 0
    edges: int = 0
    restarts: int = 0
    elapsed_s: float = 0.0
    options: dict[str, Any] = field(default_factory=dict)
    _by_key: dict[str, str] = field(default_factory=dict, repr=False)
    _seen: set[tuple[str, str, str]] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self._by_key = {s.key: s.id for s in self.states.values()}
        self._seen = {_ident(t.transition) for t in self.transitions}

    def find(self, key: str) -> str | None:
        """The id of the state with content key ``key``, if found already."""
        return self._by_key.get(key)

    def add_state(self, record: StateRecord) -> None:
        self.states[record.id] = record
        self._by_key[record.key] = record.id
        if record.expand:
            self.queue.append(record.id)

    def add_transition(self, t: WorldTransition, *, stack_back: bool = False) -> bool:
        """Keep ``t`` unless the same edge (source, target, action) is known; ``True`` if new."""
        ident = _ident(t)
        if ident in self._seen:
            return False
        self._seen.add(ident)
        self.transitions.append(RecordedTransition(t, stack_back))
        return True

    @property
    def finished(self) -> bool:
        """Whether every explorable state's actions have been tried (or it is unreachable)."""
        return not self.queue

    def world_transitions(self) -> list[WorldTransition]:
        """The transitions written to the world (stack ``back`` edges left out)."""
        return [r.transition for r in self.transitions if not r.stack_back]

    # -- persistence -----------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "schema": STATE_SCHEMA,
            "app": self.app,
            "launch_state": self.launch_state,
            "home_state": self.home_state,
            "states": [asdict(s) for s in self.states.values()],
            "queue": list(self.queue),
            "transitions": [
                {**asdict(r.transition), "stack_back": r.stack_back} for r in self.transitions
            ],
            "steps": self.steps,
            "edges": self.edges,
            "restarts": self.restarts,
            "elapsed_s": round(self.elapsed_s, 3),
            "options": self.options,
        }

    def save(self, folder: Path) -> Path:
        path = folder / STATE_FILE
        atomic_write_json(path, self.to_json())
        return path

    @classmethod
    def load(cls, folder: Path) -> ExplorationState:
        """Read ``folder/record-state.json``; errors name the file and the field."""
        path = folder / STATE_FILE
        data = load_json_file(path)
        if not isinstance(data, dict):
            raise JsonFormatError(path, "top level is not an object")
        if data.get("schema") != STATE_SCHEMA:
            raise SchemaError(path, "schema",
                              f"expected {STATE_SCHEMA!r}, got {data.get('schema')!r}")
        try:
            states = {s["id"]: StateRecord(**s) for s in data["states"]}
            transitions = []
            for t in data["transitions"]:
                t = dict(t)
                stack_back = bool(t.pop("stack_back", False))
                transitions.append(RecordedTransition(WorldTransition(**t), stack_back))
            state = cls(
                app=str(data["app"]),
                launch_state=str(data.get("launch_state", "")),
                home_state=str(data.get("home_state", "")),
                states=states,
                queue=deque(str(q) for q in data["queue"]),
                transitions=transitions,
                steps=int(data.get("steps", 0)),
                edges=int(data.get("edges", 0)),
                restarts=int(data.get("restarts", 0)),
                elapsed_s=float(data.get("elapsed_s", 0.0)),
                options=dict(data.get("options") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SchemaError(path, "states/queue/transitions", str(exc)) from exc
        for i, sid in enumerate(state.queue):
            if sid not in states:
                raise SchemaError(path, f"queue[{i}]", f"unknown state {sid!r}")
        for i, r in enumerate(state.transitions):
            for end in ("source", "target"):
                if getattr(r.transition, end) not in states:
                    raise SchemaError(path, f"transitions[{i}].{end}",
                                      f"unknown state {getattr(r.transition, end)!r}")
        return state


def _ident(t: WorldTransition) -> tuple[str, str, str]:
    return (t.source, t.target, repr(sorted(t.action.items())))
