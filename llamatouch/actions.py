"""The one typed action schema shared by agents, devices, traces and the evaluator.

Actions are JSON objects with an ``"action"`` discriminator; coordinates are explicit pixels.
Parsing is strict: unknown actions, unknown fields, wrong types raise :class:`ActionError`.
No string is ever evaluated.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Literal

from llamatouch.errors import ActionError

KEYS: tuple[str, ...] = (
    "back",
    "home",
    "enter",
    "app_switch",
    "delete",
    "tab",
    "search",
    "menu",
    "volume_up",
    "volume_down",
    "power",
    "dpad_up",
    "dpad_down",
    "dpad_left",
    "dpad_right",
    "dpad_center",
)
#: Android key codes for :data:`KEYS` (android.view.KeyEvent).
KEYCODES: dict[str, int] = {
    "back": 4,
    "home": 3,
    "enter": 66,
    "app_switch": 187,
    "delete": 67,
    "tab": 61,
    "search": 84,
    "menu": 82,
    "volume_up": 24,
    "volume_down": 25,
    "power": 26,
    "dpad_up": 19,
    "dpad_down": 20,
    "dpad_left": 21,
    "dpad_right": 22,
    "dpad_center": 23,
}
#: Where a scroll brings content from (:class:`Scroll`).
Direction = Literal["up", "down", "left", "right"]
DIRECTIONS: tuple[Direction, ...] = ("up", "down", "left", "right")
#: How an agent ends an episode (:class:`Finish`).
FinishStatus = Literal["success", "infeasible", "fail"]
FINISH_STATUSES: tuple[FinishStatus, ...] = ("success", "infeasible", "fail")


def as_direction(text: str) -> Direction:
    """``text`` as a scroll direction (for values computed at run time); else
    :class:`ActionError` naming the four."""
    for d in DIRECTIONS:
        if text == d:
            return d
    raise ActionError(f"scroll direction must be one of {', '.join(DIRECTIONS)}, got {text!r}")


def as_finish_status(text: str) -> FinishStatus:
    """``text`` as a finish status; else :class:`ActionError` naming the three."""
    for s in FINISH_STATUSES:
        if text == s:
            return s
    raise ActionError(f"finish.status must be one of {', '.join(FINISH_STATUSES)}, got {text!r}")


@dataclass(frozen=True, slots=True)
class Action:
    """Base of every action. ``kind`` is the JSON ``"action"`` value."""

    kind: ClassVar[str] = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.kind}
        for k, v in asdict(self).items():
            if v is not None:
                out[k] = v
        return out


@dataclass(frozen=True, slots=True)
class Tap(Action):
    """Tap at (x, y) pixels; ``element`` optionally names the target's stable key."""

    kind: ClassVar[str] = "tap"
    x: int
    y: int
    element: str | None = None


@dataclass(frozen=True, slots=True)
class LongPress(Action):
    """Press (x, y) for ``duration_ms`` milliseconds."""

    kind: ClassVar[str] = "long_press"
    x: int
    y: int
    duration_ms: int = 1000
    element: str | None = None


@dataclass(frozen=True, slots=True)
class Swipe(Action):
    """Drag from (x1, y1) to (x2, y2) in ``duration_ms``."""

    kind: ClassVar[str] = "swipe"
    x1: int
    y1: int
    x2: int
    y2: int
    duration_ms: int = 300


@dataclass(frozen=True, slots=True)
class Scroll(Action):
    """Scroll the content ``direction`` (content moves so that what is further
    ``direction`` comes into view: ``down`` reveals what is below, i.e. the finger moves up).
    ``element`` optionally names the scrollable container's stable key; ``x``/``y`` optionally
    give a point inside it."""

    kind: ClassVar[str] = "scroll"
    direction: Direction
    element: str | None = None
    x: int | None = None
    y: int | None = None


@dataclass(frozen=True, slots=True)
class Type(Action):
    """Type ``text`` into the focused field, or into ``element`` (tapped first).

    ``clear=True`` (default) replaces the field's content; ``clear=False`` appends.
    """

    kind: ClassVar[str] = "type"
    text: str
    element: str | None = None
    x: int | None = None
    y: int | None = None
    clear: bool = True


@dataclass(frozen=True, slots=True)
class Key(Action):
    """Press a named key (one of :data:`KEYS`)."""

    kind: ClassVar[str] = "key"
    key: str


@dataclass(frozen=True, slots=True)
class OpenApp(Action):
    """Launch ``package`` (its launcher activity), or ``activity`` when given."""

    kind: ClassVar[str] = "open_app"
    package: str
    activity: str | None = None


@dataclass(frozen=True, slots=True)
class Wait(Action):
    """Do nothing for ``seconds``."""

    kind: ClassVar[str] = "wait"
    seconds: float = 1.0


@dataclass(frozen=True, slots=True)
class Finish(Action):
    """The agent declares the episode over: ``status`` is ``success`` or ``infeasible``."""

    kind: ClassVar[str] = "finish"
    status: FinishStatus = "success"
    answer: str | None = None


ACTION_TYPES: dict[str, type[Action]] = {
    cls.kind: cls for cls in (Tap, LongPress, Swipe, Scroll, Type, Key, OpenApp, Wait, Finish)
}
_INT_FIELDS = {"x", "y", "x1", "y1", "x2", "y2", "duration_ms"}
MAX_TEXT = 4096


def _check_field(kind: str, name: str, value: Any) -> Any:
    if name in _INT_FIELDS:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ActionError(f"{kind}.{name} must be a number of pixels, got {value!r}")
        if isinstance(value, float) and not value.is_integer():
            value = round(value)
        return int(value)
    if name == "seconds":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 60:
            raise ActionError(f"wait.seconds must be a number in [0, 60], got {value!r}")
        return float(value)
    if name == "clear":
        if not isinstance(value, bool):
            raise ActionError(f"type.clear must be true or false, got {value!r}")
        return value
    if value is not None and not isinstance(value, str):
        raise ActionError(f"{kind}.{name} must be a string, got {value!r}")
    return value


def action_from_json(obj: Any) -> Action:
    """Validate a JSON object and build the matching :class:`Action`."""
    if not isinstance(obj, dict):
        raise ActionError(f"an action must be a JSON object, got {type(obj).__name__}")
    kind = obj.get("action")
    cls = ACTION_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None or not isinstance(kind, str):
        raise ActionError(f"unknown action {kind!r}; known: {', '.join(ACTION_TYPES)}")
    allowed = {f.name for f in fields(cls)}
    unknown = set(obj) - allowed - {"action"}
    if unknown:
        raise ActionError(f"{kind}: unknown field(s) {sorted(unknown)}")
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name in obj:
            kwargs[f.name] = _check_field(kind, f.name, obj[f.name])
    try:
        action = cls(**kwargs)
    except TypeError as exc:
        raise ActionError(f"{kind}: {exc}") from exc
    _validate(action)
    return action


def _validate(action: Action) -> None:
    if isinstance(action, Key) and action.key not in KEYS:
        raise ActionError(f"unknown key {action.key!r}; known: {', '.join(KEYS)}")
    if isinstance(action, Scroll):
        as_direction(action.direction)
    if isinstance(action, Type) and len(action.text) > MAX_TEXT:
        raise ActionError(f"type.text longer than {MAX_TEXT} characters")
    if isinstance(action, Finish):
        as_finish_status(action.status)
    if isinstance(action, OpenApp) and not action.package:
        raise ActionError("open_app.package must not be empty")
    if isinstance(action, (LongPress, Swipe)) and not 0 <= action.duration_ms <= 60_000:
        raise ActionError("duration_ms must be in [0, 60000]")


def check_on_screen(action: Action, width: int, height: int) -> None:
    """Raise :class:`ActionError` if a coordinate of ``action`` lies outside the screen."""
    points: list[tuple[int | None, int | None]] = []
    if isinstance(action, (Tap, LongPress)):
        points.append((action.x, action.y))
    elif isinstance(action, Swipe):
        points += [(action.x1, action.y1), (action.x2, action.y2)]
    elif isinstance(action, (Scroll, Type)):
        points.append((action.x, action.y))
    for x, y in points:
        if x is None or y is None:
            continue
        if not (0 <= x < width and 0 <= y < height):
            raise ActionError(
                f"{action.kind}: point ({x}, {y}) is outside the {width}x{height} screen"
            )
