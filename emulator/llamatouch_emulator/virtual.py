"""The in-process virtual device: replays a :class:`~llamatouch.world.World` (a UI transition
graph) as if it were a phone.

The ADB wire-protocol server (``llamatouch_emulator.adbd``) serves one of these to the
real ``adb`` binary; tests and benchmarks also use it directly. Behaviour (see
``docs/virtual-device.md``):

* the device starts on the home screen (the world's recorded ``home_state``, else a launcher
  rendered from ``world.apps``); ``reset(package)`` starts at that app's start state;
* a tap is hit-tested against the served hierarchy and follows the recorded transition of the
  element hit (matched by stable key, then by the element's own attributes and bounds, then by
  recorded bounds alone); long presses, scrolls, swipes and keys likewise follow recorded
  transitions of their kind;
* ``back`` follows a recorded back transition, else the device's own back stack, else home;
  ``home`` shows the launcher; ``open_app`` / ``am start`` / ``monkey`` start an app;
* text typed into an editable element changes its text in the served hierarchy (and follows a
  recorded ``type`` transition for that element and text when the world has one);
* a tap on a switch or check box (or a row holding one) with no recorded transition flips it
  in the served hierarchy (``checked``, and a trailing ``ON``/``OFF`` in its text), as the
  app would; the flip is dropped when the screen changes (a recorded world has no state to
  keep it in);
* any other input with no recorded transition leaves the screen unchanged and is recorded as
  ``no_effect`` in :attr:`VirtualDevice.events`;
* where one input was recorded leading to different screens, the recorded context decides:
  of the transitions whose element is the one hit (or handles the hit), the one whose
  recorded history (``WorldTransition.context``: the states shown before it, from the
  recorder's event order or a task's recorded path) shares the longest suffix with the states
  this device has shown since its last reset is followed, and an edge read from a task's own
  records wins a tie with one read from the recorder's events; so replaying a recorded path
  is deterministic;
* where several recorded transitions still match equally well, one is chosen with a
  :class:`random.Random` seeded with ``seed`` (re-seeded on every :meth:`reset`), over the
  candidates sorted by target id, so a run is reproducible for a seed.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from llamatouch.actions import (
    KEYCODES,
    Action,
    Finish,
    Key,
    LongPress,
    OpenApp,
    Scroll,
    Swipe,
    Tap,
    Type,
    Wait,
    check_on_screen,
)
from llamatouch.device.base import ActResult, Device, Effect, Observation
from llamatouch.errors import ActionError, DeviceGoneError, DumpError
from llamatouch.ui.node import Bounds, UINode, UIScreen
from llamatouch.ui.xmlio import read_uiautomator_xml, write_uiautomator_xml
from llamatouch.world import (
    TASK_EDGE,
    World,
    WorldState,
    WorldTransition,
    context_score,
    full_context_match,
)

log = logging.getLogger(__name__)

#: What ``uiautomator dump`` prints when the accessibility bridge returns no window (the
#: real message of Android's ``DumpCommand``; AOSP frameworks/base uiautomator cmds).
NULL_ROOT_ERROR = "ERROR: null root node returned by UiTestAutomationBridge."

#: Id of the launcher state rendered when the world records no home screen.
LAUNCHER_STATE = "_launcher"
#: Package and activity of that rendered launcher (the AOSP emulator image's Launcher3).
LAUNCHER_PACKAGE = "com.android.launcher3"
LAUNCHER_ACTIVITY = "com.android.launcher3/.uioverrides.QuickstepLauncher"

#: Packages present on a stock AOSP emulator image besides the world's own apps.
SYSTEM_PACKAGES: tuple[str, ...] = (
    "android",
    "com.android.bluetooth",
    "com.android.camera2",
    "com.android.certinstaller",
    "com.android.chrome",
    "com.android.contacts",
    "com.android.documentsui",
    "com.android.inputmethod.latin",
    "com.android.launcher3",
    "com.android.packageinstaller",
    "com.android.phone",
    "com.android.providers.contacts",
    "com.android.providers.downloads",
    "com.android.providers.media",
    "com.android.providers.settings",
    "com.android.providers.telephony",
    "com.android.settings",
    "com.android.shell",
    "com.android.systemui",
    "com.android.vending",
    "com.google.android.gms",
    "com.google.android.webview",
)

#: ``observe()`` retries a failing dump this many times in all, like the ADB controller.
DUMP_ATTEMPTS = 3
#: A swipe shorter than this (pixels) is a tap (or a long press when it lasts long enough),
#: which is how ``input swipe x y x y 1000`` long-presses on a phone.
TAP_SLOP_PX = 12
LONG_PRESS_MS = 500
#: Rendered screenshots of edited screens (typed text) kept per device (least recently used
#: dropped first). Screens as recorded are cached on the world (``World.rendered``).
RENDER_CACHE_SIZE = 64

_T = TypeVar("_T")


@dataclass(slots=True)
class FaultConfig:
    """Faults a test can inject into a :class:`VirtualDevice`. Everything is off by default.

    Attributes:
        drop_after_calls: after this many device calls (observe, act, dump, screenshot, input,
            open/stop app, packages, reset) the device "vanishes": that call and every later
            one raise :class:`~llamatouch.errors.DeviceGoneError` and :meth:`~VirtualDevice.
            health` returns ``False``. ``None``: never.
        delay_s: latency added to every device call, in seconds.
        dump_failures: the next N hierarchy dumps fail with uiautomator's real error text
            (:data:`NULL_ROOT_ERROR`) as a :class:`~llamatouch.errors.DumpError`; each failure
            uses one up.
        corrupt_dump: serve a truncated (malformed) ``uiautomator dump`` document.
    """

    drop_after_calls: int | None = None
    delay_s: float = 0.0
    dump_failures: int = 0
    corrupt_dump: bool = False


@dataclass(slots=True)
class _Match:
    rank: int
    transition: WorldTransition


_KIND_BY_EVENT: dict[str, str] = {
    "click": "tap",
    "touch": "tap",
    "tap": "tap",
    "long_click": "long_press",
    "long_touch": "long_press",
    "long_press": "long_press",
    "set_text": "type",
    "type": "type",
    "scroll": "scroll",
    "swipe": "scroll",
    "key": "key",
    "intent": "open_app",
}


def transition_kind(t: WorldTransition) -> str:
    """The input kind a recorded transition answers to (``swipe`` counts as ``scroll``)."""
    kind = str(t.action.get("action") or "")
    if not kind:
        kind = _KIND_BY_EVENT.get(t.event_type, t.event_type)
    return "scroll" if kind == "swipe" else kind


def swipe_direction(x1: int, y1: int, x2: int, y2: int) -> str:
    """The scroll direction of a finger swipe: content moves against the finger, so a finger
    moving up scrolls ``down`` (reveals what is below)."""
    dx, dy = x2 - x1, y2 - y1
    if abs(dy) >= abs(dx):
        return "down" if dy < 0 else "up"
    return "right" if dx < 0 else "left"


def _transition_direction(t: WorldTransition) -> str:
    a = t.action
    if a.get("action") == "swipe":
        try:
            return swipe_direction(int(a["x1"]), int(a["y1"]), int(a["x2"]), int(a["y2"]))
        except (KeyError, TypeError, ValueError):
            return ""
    return str(a.get("direction") or "")


def typed_text_key(text: str) -> str:
    """How typed text is compared with a recorded ``type`` transition: case-folded, keeping
    only letters and digits (so ``VisitParents``, ``visit parents`` and ``visit-parents`` are
    the same text; DroidTask's task records and its recorded events differ this way)."""
    return "".join(c for c in text.casefold() if c.isalnum())


def _element_bounds(element: dict[str, Any] | None) -> Bounds | None:
    if not element:
        return None
    b = element.get("bounds")
    if isinstance(b, list | tuple) and len(b) == 4:
        try:
            return Bounds(int(b[0]), int(b[1]), int(b[2]), int(b[3]))
        except (TypeError, ValueError):
            return None
    return None


_ATTRS = ("resource_id", "text", "content_desc", "class_name")


def _attrs_match(element: dict[str, Any], node: UINode) -> bool:
    """The element's non-empty attributes all equal the node's (at least one must be given)."""
    given = [a for a in _ATTRS if element.get(a)]
    return bool(given) and all(getattr(node, a) == element[a] for a in given)


#: Android's own key names that differ from ours (``KEYCODE_DEL`` is code 67, backspace).
_KEY_ALIASES: dict[str, str] = {"del": "delete"}


def _keycode_name(code_or_name: int | str) -> str:
    """``4``, ``"4"``, ``"KEYCODE_BACK"``, ``"back"`` → ``"back"``; unknown codes keep a
    ``keycode_<n>`` name (they reach the device and do nothing)."""
    if isinstance(code_or_name, bool):
        raise ActionError(f"bad key {code_or_name!r}")
    if isinstance(code_or_name, int):
        code: int | None = code_or_name
    else:
        s = code_or_name.strip()
        code = int(s) if s.isdigit() else None
        if code is None:
            name = s.lower().removeprefix("keycode_")
            name = _KEY_ALIASES.get(name, name)
            if name in KEYCODES:
                return name
            if not name.replace("_", "").isalnum():
                raise ActionError(f"bad key {code_or_name!r}")
            return f"keycode_{name}"
    for name, c in KEYCODES.items():
        if c == code:
            return name
    return f"keycode_{code}"


class VirtualDevice(Device):
    """A phone that replays a world in process (thread-safe: one lock per device).

    Args:
        world: the UI transition graph to replay (shared read-only between devices).
        seed: seeds the choice among equally good recorded transitions.
        faults: faults to inject (off by default); may be changed later via :attr:`faults`.
        serial: the device's serial, as ``adb devices`` would list it.
    """

    def __init__(
        self,
        world: World,
        *,
        seed: int = 0,
        faults: FaultConfig | None = None,
        serial: str = "virtual-0",
    ) -> None:
        self.world = world
        self.seed = seed
        self.faults = faults if faults is not None else FaultConfig()
        self.serial = serial
        self.typed_log: list[str] = []
        self.events: list[dict[str, Any]] = []
        self.calls = 0
        self._gone = False
        self._lock = threading.RLock()
        self._rng = random.Random(seed)
        self._local_states: dict[str, WorldState] = {}
        self._local_screens: dict[str, UIScreen] = {}
        self._outgoing: dict[str, list[WorldTransition]] = {}
        for t in world.transitions:
            self._outgoing.setdefault(t.source, []).append(t)
        self._home = world.home_state or self._build_launcher()
        self._installed: dict[str, bool] = {}
        self._served_cache: dict[tuple[Any, ...], tuple[UIScreen, bytes]] = {}
        self._png_cache: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self.current_state = self._home
        self._back_stack: list[str] = []
        self._history: list[str] = []
        self._edits: dict[str, str] = {}
        self._toggled: dict[str, bool] = {}
        self._focus: str | None = None
        self._reset_session(None)

    # -- plumbing ---------------------------------------------------------------------------
    def _call(self, fn: Callable[[], _T]) -> _T:
        """Run one device call: faults (gone / delay) first, under the device lock."""
        with self._lock:
            if self._gone:
                raise DeviceGoneError(f"device {self.serial!r} is offline")
            self.calls += 1
            limit = self.faults.drop_after_calls
            if limit is not None and self.calls > limit:
                self._gone = True
                raise DeviceGoneError(
                    f"device {self.serial!r} vanished after {limit} calls (fault injection)"
                )
            if self.faults.delay_s > 0:
                time.sleep(self.faults.delay_s)
            return fn()

    def _build_launcher(self) -> str:
        sid = LAUNCHER_STATE
        while sid in self.world.states:
            sid += "_"
        width, height = 1080, 2400
        if self.world.states:
            first = next(iter(self.world.states.values()))
            width, height = first.width, first.height
        self._local_states[sid] = WorldState(
            id=sid, activity=LAUNCHER_ACTIVITY, package=LAUNCHER_PACKAGE, width=width, height=height
        )
        pkg = LAUNCHER_PACKAGE
        nodes = [
            UINode(
                index=0,
                class_name="android.widget.FrameLayout",
                package=pkg,
                bounds=Bounds(0, 0, width, height),
            ),
            UINode(
                index=1,
                parent=0,
                class_name="android.view.ViewGroup",
                resource_id=f"{pkg}:id/workspace",
                package=pkg,
                bounds=Bounds(0, height // 12, width, height),
                scrollable=True,
            ),
        ]
        nodes[0].children.append(1)
        cols = 4
        cell_w, cell_h = width // cols, height // 8
        top0 = height // 12
        for i, app in enumerate(self.world.apps):
            row, col = divmod(i, cols)
            left, top = col * cell_w, top0 + row * cell_h
            node = UINode(
                index=len(nodes),
                parent=1,
                sibling_index=i,
                class_name="android.widget.TextView",
                text=app.label or app.package,
                content_desc=app.label or app.package,
                package=pkg,
                bounds=Bounds(left, top, left + cell_w, top + cell_h),
                clickable=True,
                focusable=True,
                long_clickable=True,
            )
            nodes[1].children.append(node.index)
            nodes.append(node)
        screen = UIScreen(nodes=nodes, width=width, height=height, activity=LAUNCHER_ACTIVITY)
        self._local_screens[sid] = screen
        for i, app in enumerate(self.world.apps):
            icon = screen.nodes[2 + i]
            self._outgoing.setdefault(sid, []).append(
                WorldTransition(
                    source=sid,
                    target=app.start_state,
                    action={
                        "action": "tap",
                        "x": icon.bounds.center[0],
                        "y": icon.bounds.center[1],
                    },
                    element_key=screen.key(icon),
                    element={
                        "text": icon.text,
                        "content_desc": icon.content_desc,
                        "class_name": icon.class_name,
                        "bounds": [
                            icon.bounds.left,
                            icon.bounds.top,
                            icon.bounds.right,
                            icon.bounds.bottom,
                        ],
                    },
                    event_type="click",
                )
            )
        return sid

    def _meta(self, sid: str) -> WorldState:
        local = self._local_states.get(sid)
        return local if local is not None else self.world.states[sid]

    def _base_screen(self, sid: str) -> UIScreen:
        local = self._local_screens.get(sid)
        return local if local is not None else self.world.screen(sid)

    def _reset_session(self, package: str | None) -> None:
        self._rng = random.Random(self.seed)
        self._back_stack = []
        self._history = []
        self._installed = {a.package: a.installed for a in self.world.apps}
        if package is None:
            self._enter(self._home)
            return
        app = self.world.app(package)
        if app is None or not self._installed.get(package, False):
            raise ActionError(f"package {package!r} is not installed on {self.serial!r}")
        self._back_stack = [self._home]
        self._enter(app.start_state)

    def _enter(self, sid: str) -> None:
        """Show ``sid`` fresh: typed edits are dropped, focus goes to the recorded one."""
        self.current_state = sid
        self._toggled = {}
        if not self._history or self._history[-1] != sid:
            self._history.append(sid)
            if len(self._history) > 256:
                del self._history[0]
        self._edits = {}
        self._focus = None
        scr = self._base_screen(sid)
        for n in scr.nodes:
            if n.focused and n.editable:
                self._focus = scr.key(n)
                break

    def _go(self, sid: str) -> None:
        """A forward navigation: remember where we came from for ``back``."""
        if sid != self.current_state:
            self._back_stack.append(self.current_state)
            if len(self._back_stack) > 64:
                del self._back_stack[0]
        self._enter(sid)

    def _served(self) -> tuple[UIScreen, bytes]:
        """The hierarchy shown now (recorded state + typed text + focus) and its dump bytes."""
        sid = self.current_state
        key = (
            sid,
            tuple(sorted(self._edits.items())),
            self._focus,
            tuple(sorted(self._toggled.items())),
        )
        hit = self._served_cache.get(key)
        if hit is not None:
            return hit
        base = self._base_screen(sid)
        meta = self._meta(sid)
        if (
            not self._edits
            and not self._toggled
            and (self._focus is None or self._recorded_focus(base) == self._focus)
        ):
            screen = base
        else:
            nodes = list(base.nodes)
            for i, n in enumerate(nodes):
                k = base.key(n)
                changes: dict[str, Any] = {}
                if k in self._edits:
                    changes["text"] = self._edits[k]
                if k in self._toggled and n.checked != self._toggled[k]:
                    changes["checked"] = self._toggled[k]
                    changes["text"] = _on_off(n.text, self._toggled[k])
                want_focus = k == self._focus
                if n.focused != want_focus and (n.editable or want_focus):
                    changes["focused"] = want_focus
                if changes:
                    nodes[i] = dataclasses.replace(n, **changes)
            screen = UIScreen(
                nodes=nodes,
                width=meta.width,
                height=meta.height,
                activity=meta.activity,
                rotation=base.rotation,
                source=f"virtual:{sid}",
            )
        if screen.width <= 0 or screen.height <= 0:
            screen.width, screen.height = meta.width, meta.height
        if not screen.activity:
            screen.activity = meta.activity
        served = (screen, write_uiautomator_xml(screen))
        if len(self._served_cache) > 256:
            self._served_cache.clear()
        self._served_cache[key] = served
        return served

    @staticmethod
    def _recorded_focus(screen: UIScreen) -> str | None:
        for n in screen.nodes:
            if n.focused and n.editable:
                return screen.key(n)
        return None

    def _record(
        self, kind: str, args: dict[str, Any], source: str, effect: Effect, detail: str
    ) -> ActResult:
        self.events.append(
            {
                "i": len(self.events),
                "kind": kind,
                "args": args,
                "source": source,
                "target": self.current_state,
                "effect": effect,
                "detail": detail,
            }
        )
        return ActResult(ok=True, effect=effect, detail=detail)

    # -- raw device surface (what the ADB server maps shell commands onto) -------------------
    def dump_xml(self) -> bytes:
        """What ``uiautomator dump`` writes for the current screen (typed text included).

        Raises :class:`DumpError` with :data:`NULL_ROOT_ERROR` while ``faults.dump_failures``
        lasts; serves a truncated document when ``faults.corrupt_dump`` is set.
        """
        return self._call(self._dump)

    def _dump(self) -> bytes:
        if self.faults.dump_failures > 0:
            self.faults.dump_failures -= 1
            raise DumpError(NULL_ROOT_ERROR)
        data = self._served()[1]
        if self.faults.corrupt_dump:
            return data[: max(1, len(data) // 2)]
        return data

    def screenshot_png(self) -> bytes:
        """The recorded PNG of the current state when there is one and nothing was typed;
        else a rendering of the served hierarchy. Renderings of a state as recorded (nothing
        typed, recorded focus) are cached once per world and shared by every device replaying
        it; renderings with typed text are cached per device (least recently used dropped)."""
        return self._call(self._screenshot)

    def _screenshot(self) -> bytes:
        sid = self.current_state
        if not self._edits and sid in self.world.states:
            recorded = self.world.screenshot(sid)
            if recorded is not None:
                return recorded
        screen = self._served()[0]
        pristine = sid in self.world.states and screen is self._base_screen(sid)
        if pristine:
            shared = self.world.rendered
            png = shared.get(sid)
            if png is None:
                from llamatouch.ui.render import render_screenshot

                png = shared.setdefault(sid, render_screenshot(screen))
            return png
        key = (sid, tuple(sorted(self._edits.items())), self._focus)
        png = self._png_cache.get(key)
        if png is not None:
            self._png_cache.move_to_end(key)
            return png
        from llamatouch.ui.render import render_screenshot

        png = render_screenshot(screen)
        self._png_cache[key] = png
        if len(self._png_cache) > RENDER_CACHE_SIZE:
            self._png_cache.popitem(last=False)
        return png

    def foreground_activity(self) -> str:
        """``package/.Activity`` of the current state."""
        return self._call(lambda: self._meta(self.current_state).activity)

    def foreground_package(self) -> str:
        return self._call(lambda: self._meta(self.current_state).package)

    def tap(self, x: int, y: int) -> ActResult:
        return self._call(lambda: self._pointer("tap", x, y))

    def long_press(self, x: int, y: int, duration_ms: int = 1000) -> ActResult:
        return self._call(lambda: self._pointer("long_press", x, y, duration_ms=duration_ms))

    def swipe(self, x1: int, y1: int, x2: int, y2: int, duration_ms: int = 300) -> ActResult:
        return self._call(lambda: self._swipe(x1, y1, x2, y2, duration_ms))

    def input_text(self, text: str) -> ActResult:
        """Text arriving from the keyboard (``adb shell input text``): appended to the focused
        editable element. Every call is logged in :attr:`typed_log`."""
        return self._call(lambda: self._input_text(text))

    def keyevent(self, code_or_name: int | str) -> ActResult:
        """A key press by Android key code (``4``), ``KEYCODE_BACK`` or name (``back``)."""
        return self._call(lambda: self._key(_keycode_name(code_or_name)))

    def install(self, package: str) -> None:
        """Mark a world app installed (``pm install`` of one of the world's apps)."""
        self._call(lambda: self._set_installed(package, True))

    def uninstall(self, package: str) -> None:
        """Mark a world app uninstalled (``pm uninstall``); unknown packages: ActionError."""
        self._call(lambda: self._set_installed(package, False))

    def _set_installed(self, package: str, value: bool) -> None:
        if package not in self._installed:
            raise ActionError(f"package {package!r} is not an app of world {self.world.name!r}")
        self._installed[package] = value
        if not value and self._meta(self.current_state).package == package:
            self._back_stack = []
            self._enter(self._home)

    # -- Device API ---------------------------------------------------------------------------
    def observe(self, *, with_packages: bool = False) -> Observation:
        return self._call(lambda: self._observe(with_packages))

    def _observe(self, with_packages: bool) -> Observation:
        started = time.time()
        t0 = time.perf_counter()
        failure: DumpError | None = None
        xml = b""
        for _ in range(DUMP_ATTEMPTS):
            try:
                xml = self._dump()
                failure = None
                break
            except DumpError as exc:
                failure = exc
        if failure is not None:
            raise DumpError(
                f"{self.serial}: uiautomator dump failed {DUMP_ATTEMPTS} times: {failure}"
            )
        screen = self._served()[0]
        if self.faults.corrupt_dump:
            screen = read_uiautomator_xml(xml, f"{self.serial}:window_dump.xml")
        t1 = time.perf_counter()
        png = self._screenshot()
        t2 = time.perf_counter()
        meta = self._meta(self.current_state)
        packages = self._packages() if with_packages else None
        return Observation(
            screen=screen,
            screenshot_png=png,
            hierarchy_xml=xml,
            activity=meta.activity,
            package=meta.package,
            installed_packages=packages,
            started_at=started,
            finished_at=time.time(),
            timings={"dump": t1 - t0, "screenshot": t2 - t1},
        )

    def act(self, action: Action) -> ActResult:
        if not isinstance(action, Action) or type(action) is Action:
            raise ActionError(f"unknown action {action!r}")
        return self._call(lambda: self._act(action))

    def _act(self, action: Action) -> ActResult:
        started = time.time()
        t0 = time.perf_counter()
        meta = self._meta(self.current_state)
        check_on_screen(action, meta.width, meta.height)
        result: ActResult
        if isinstance(action, Tap):
            result = self._pointer("tap", action.x, action.y, element=action.element)
        elif isinstance(action, LongPress):
            result = self._pointer(
                "long_press",
                action.x,
                action.y,
                element=action.element,
                duration_ms=action.duration_ms,
            )
        elif isinstance(action, Swipe):
            result = self._swipe(action.x1, action.y1, action.x2, action.y2, action.duration_ms)
        elif isinstance(action, Scroll):
            result = self._scroll(action.direction, action.element, action.x, action.y)
        elif isinstance(action, Type):
            result = self._type(action)
        elif isinstance(action, Key):
            result = self._key(action.key)
        elif isinstance(action, OpenApp):
            result = self._open_app(action.package, action.activity)
        elif isinstance(action, Wait):
            # Nothing moves on its own in a replayed world: waiting is not slept through.
            result = self._record(
                "wait", {"seconds": action.seconds}, self.current_state, Effect.NO_EFFECT, "waited"
            )
        elif isinstance(action, Finish):
            result = self._record(
                "finish", {"status": action.status}, self.current_state, Effect.FINISHED,
                action.status,
            )
        else:
            raise ActionError(f"unknown action {action.kind!r}")
        result.started_at = started
        result.finished_at = time.time()
        result.timings = {"act": time.perf_counter() - t0}
        return result

    def open_app(self, package: str, activity: str | None = None) -> None:
        self._call(lambda: self._open_app(package, activity))

    def stop_app(self, package: str) -> None:
        self._call(lambda: self._stop_app(package))

    def _stop_app(self, package: str) -> None:
        src = self.current_state
        self._back_stack = [s for s in self._back_stack if self._meta(s).package != package]
        if self._meta(src).package == package:
            self._back_stack = []
            self._enter(self._home)
            self._record("stop_app", {"package": package}, src, Effect.CHANGED, "force-stopped")
        else:
            self._record("stop_app", {"package": package}, src, Effect.NO_EFFECT, "not in front")

    def press(self, key: str) -> None:
        self._call(lambda: self._key(_keycode_name(key)))

    def installed_packages(self) -> list[str]:
        return self._call(self._packages)

    def _packages(self) -> list[str]:
        world_apps = [p for p, on in self._installed.items() if on]
        return sorted(set(SYSTEM_PACKAGES) | set(world_apps))

    def reset(self, package: str | None = None) -> None:
        """Home screen (``package`` is ``None``) or ``package`` freshly launched; the back
        stack, typed text, install state and the seeded RNG start over. :attr:`events` and
        :attr:`typed_log` keep growing (they record the device's whole life)."""
        self._call(lambda: self._reset_session(package))

    def load_state(self, name: str) -> None:
        """:meth:`Device.load_state`: start an episode at world state ``name`` (see
        :meth:`reset_to_state`)."""
        self.reset_to_state(name)

    def reset_to_state(self, state_id: str) -> None:
        """Start an episode at a given world state (a task's ``start_state``)."""

        def run() -> None:
            if state_id not in self.world.states and state_id not in self._local_states:
                raise ActionError(f"world {self.world.name!r} has no state {state_id!r}")
            self._reset_session(None)
            if state_id != self._home:
                self._back_stack = [self._home]
            self._enter(state_id)
            self._history = [state_id]  # the episode starts here

        self._call(run)

    def health(self) -> bool:
        return not self._gone

    def screen_size(self) -> tuple[int, int]:
        meta = self._call(lambda: self._meta(self.current_state))
        return meta.width, meta.height

    # -- input semantics ------------------------------------------------------------------------
    def _candidates(self, kind: str) -> list[WorldTransition]:
        return [t for t in self._outgoing.get(self.current_state, ()) if transition_kind(t) == kind]

    def _follow(self, matches: list[_Match]) -> WorldTransition | None:
        """The best match, then the seeded RNG over sorted targets.

        Matches of rank 0 and 1 (the recorded element is the node hit, or handles it) are
        ordered by their recorded context first (:func:`context_score` against the states
        shown since the last reset: an edge one of whose recorded paths was shown whole first,
        then the longest common suffix, then edges read from a task's records), then by rank;
        higher ranks come after them, by rank.
        """
        usable = [m for m in matches if self._reachable(m.transition)]
        if not usable:
            return None

        def order(m: _Match) -> tuple[int, int, int, int, int]:
            t = m.transition
            if m.rank > 1:
                return (1, 0, 0, 0, m.rank)
            task = t.event_type == TASK_EDGE
            whole = full_context_match(self._history, t)
            return (0, -int(whole), -context_score(self._history, t), -int(task), m.rank)

        best = min(order(m) for m in usable)
        tied = sorted(
            (m.transition for m in usable if order(m) == best),
            key=lambda t: (t.target, t.element_key or ""),
        )
        targets = sorted({t.target for t in tied})
        if len(targets) == 1:
            return tied[0]
        chosen = self._rng.choice(targets)
        return next(t for t in tied if t.target == chosen)

    def _reachable(self, t: WorldTransition) -> bool:
        """Transitions into an app that is uninstalled now are not followed."""
        pkg = self._meta(t.target).package
        return self._installed.get(pkg, True)

    def _apply(self, t: WorldTransition, *, in_place: bool = False) -> None:
        """Follow ``t``: apply its effects, then navigate (``in_place``: the screen changes
        without a new entry on the back stack, as a toggle, a scroll or typing does)."""
        for pkg in _as_list(t.effects.get("uninstall")):
            if pkg in self._installed:
                self._installed[pkg] = False
        for pkg in _as_list(t.effects.get("install")):
            if pkg in self._installed:
                self._installed[pkg] = True
        if in_place:
            self._enter(t.target)
        else:
            self._go(t.target)

    def _point_matches(
        self,
        screen: UIScreen,
        x: int,
        y: int,
        cands: Iterable[WorldTransition],
    ) -> tuple[UINode | None, list[_Match]]:
        """Rank the recorded transitions a touch at (x, y) answers to (lower is better).

        0: the recorded element is the node hit; 1: the recorded element is handled by the node
        hit (it is that node, or a non-interactive view inside it, the way Android dispatches a
        touch on a label to its clickable row); 2: the recorded element contains the point;
        3: a view with the recorded element's attributes contains the point; 4: the recorded
        bounds (or, with no element, the recorded point) fall on the point / the node hit.
        """
        hit = screen.hit_test(x, y)
        containing = [n for n in screen.nodes if n.visible and n.bounds.contains(x, y)]
        containing_keys = {screen.key(n) for n in containing}
        hit_key = screen.key(hit) if hit is not None else None
        out: list[_Match] = []
        for t in cands:
            rank: int | None = None
            eb = _element_bounds(t.element)
            recorded = screen.node_by_key(t.element_key) if t.element_key else None
            if t.element_key is not None and t.element_key == hit_key:
                rank = 0
            elif recorded is not None and hit is not None and _handler(screen, recorded) is hit:
                rank = 1
            elif t.element_key is not None and t.element_key in containing_keys:
                rank = 2
            elif (
                t.element
                and (eb is None or eb.contains(x, y))
                and any(_attrs_match(t.element, n) for n in containing)
            ):
                rank = 3
            elif eb is not None and eb.contains(x, y):
                rank = 4
            elif t.element is None and t.element_key is None and hit is not None:
                ax, ay = t.action.get("x"), t.action.get("y")
                if isinstance(ax, int) and isinstance(ay, int) and hit.bounds.contains(ax, ay):
                    rank = 4
            if rank is not None:
                out.append(_Match(rank, t))
        return hit, out

    def _pointer(
        self, kind: str, x: int, y: int, *, element: str | None = None, duration_ms: int = 0
    ) -> ActResult:
        src = self.current_state
        meta = self._meta(src)
        args: dict[str, Any] = {"x": x, "y": y}
        if element:
            args["element"] = element
        if kind == "long_press":
            args["duration_ms"] = duration_ms
        if not (0 <= x < meta.width and 0 <= y < meta.height):
            raise ActionError(
                f"{kind}: point ({x}, {y}) is outside the {meta.width}x{meta.height} screen"
            )
        screen = self._served()[0]
        hit, matches = self._point_matches(screen, x, y, self._candidates(kind))
        t = self._follow(matches)
        label = _describe(screen, hit)
        if t is not None:
            self._apply(t, in_place=hit is not None and hit.checkable)
            return self._record(kind, args, src, Effect.CHANGED, f"{label} -> {t.target}")
        box = _toggle_of(screen, hit) if kind == "tap" and hit is not None else None
        if box is not None:
            k = screen.key(box)
            self._toggled[k] = not box.checked
            state = "on" if self._toggled[k] else "off"
            return self._record(kind, args, src, Effect.CHANGED, f"toggled {label} {state}")
        if kind == "tap" and hit is not None and hit.editable:
            k = screen.key(hit)
            if self._focus != k:
                self._focus = k
                return self._record(kind, args, src, Effect.CHANGED, f"focused {label}")
            return self._record(kind, args, src, Effect.NO_EFFECT, f"{label} already focused")
        return self._record(kind, args, src, Effect.NO_EFFECT, f"no recorded {kind} for {label}")

    def _swipe(self, x1: int, y1: int, x2: int, y2: int, duration_ms: int) -> ActResult:
        meta = self._meta(self.current_state)
        for x, y in ((x1, y1), (x2, y2)):
            if not (0 <= x < meta.width and 0 <= y < meta.height):
                raise ActionError(
                    f"swipe: point ({x}, {y}) is outside the {meta.width}x{meta.height} screen"
                )
        if abs(x2 - x1) <= TAP_SLOP_PX and abs(y2 - y1) <= TAP_SLOP_PX:
            if duration_ms >= LONG_PRESS_MS:
                return self._pointer("long_press", x1, y1, duration_ms=duration_ms)
            return self._pointer("tap", x1, y1)
        return self._scroll(
            swipe_direction(x1, y1, x2, y2), None, x1, y1, swipe=(x1, y1, x2, y2, duration_ms)
        )

    def _scroll(
        self,
        direction: str,
        element: str | None,
        x: int | None,
        y: int | None,
        swipe: tuple[int, int, int, int, int] | None = None,
    ) -> ActResult:
        src = self.current_state
        screen = self._served()[0]
        args: dict[str, Any] = {"direction": direction}
        if swipe is not None:
            args.update(zip(("x1", "y1", "x2", "y2", "duration_ms"), swipe, strict=True))
        else:
            args.update({k: v for k, v in (("element", element), ("x", x), ("y", y)) if v})
        cands = [t for t in self._candidates("scroll") if _transition_direction(t) == direction]
        point: tuple[int, int] | None = (x, y) if x is not None and y is not None else None
        if point is None and element:
            node = screen.node_by_key(element)
            if node is None:
                raise ActionError(f"scroll: no element {element!r} on this screen")
            point = node.bounds.center
        matches: list[_Match] = []
        for t in cands:
            eb = _element_bounds(t.element)
            node = screen.node_by_key(t.element_key) if t.element_key else None
            if point is None or (eb is None and node is None):
                matches.append(_Match(1, t))  # no place to compare: any scroll that way
            elif (element is not None and t.element_key == element) or (
                (eb is not None and eb.contains(*point))
                or (node is not None and node.bounds.contains(*point))
            ):
                matches.append(_Match(0, t))
        chosen = self._follow(matches)
        if chosen is not None:
            self._apply(chosen, in_place=True)
            return self._record(
                "scroll", args, src, Effect.CHANGED, f"scrolled {direction} -> {chosen.target}"
            )
        return self._record(
            "scroll", args, src, Effect.NO_EFFECT, f"no recorded scroll {direction}"
        )

    def _type(self, action: Type) -> ActResult:
        src = self.current_state
        screen = self._served()[0]
        target: UINode | None = None
        if action.element:
            target = screen.node_by_key(action.element)
        if target is None and action.x is not None and action.y is not None:
            target = screen.hit_test(action.x, action.y)
        if target is None and action.element:
            raise ActionError(f"type: no element {action.element!r} on this screen")
        if target is not None:
            if not target.editable:
                return self._record(
                    "type",
                    {"text": action.text},
                    src,
                    Effect.NO_EFFECT,
                    f"{_describe(screen, target)} is not editable",
                )
            self._focus = screen.key(target)
        if action.clear and self._focus is not None:
            self._edits[self._focus] = ""
        return self._input_text(action.text)

    def _input_text(self, text: str) -> ActResult:
        self.typed_log.append(text)
        src = self.current_state
        screen = self._served()[0]
        focus = screen.node_by_key(self._focus) if self._focus else None
        if focus is None or not focus.editable:
            return self._record(
                "type", {"text": text}, src, Effect.NO_EFFECT, "no focused text field"
            )
        key = screen.key(focus)
        new_text = (self._edits[key] if key in self._edits else _typed_base(focus)) + text
        matches: list[_Match] = []
        for t in self._candidates("type"):
            want = t.action.get("text")
            if isinstance(want, str) and typed_text_key(want) != typed_text_key(new_text):
                continue
            if t.element_key is not None and t.element_key != key:
                if not (t.element and _attrs_match(t.element, focus)):
                    continue
                matches.append(_Match(1, t))
            elif t.element_key is None and t.element and not _attrs_match(t.element, focus):
                continue
            else:
                matches.append(_Match(0, t))
        chosen = self._follow(matches)
        if chosen is not None:
            self._apply(chosen, in_place=True)
            return self._record(
                "type",
                {"text": text},
                src,
                Effect.CHANGED,
                f"typed into {_describe(screen, focus)} -> {chosen.target}",
            )
        self._edits[key] = new_text
        return self._record(
            "type", {"text": text}, src, Effect.CHANGED, f"typed into {_describe(screen, focus)}"
        )

    def _key(self, name: str) -> ActResult:
        src = self.current_state
        cands = [t for t in self._candidates("key") if t.action.get("key") == name]
        chosen = self._follow([_Match(0, t) for t in cands])
        if chosen is not None:
            if name == "back":
                # Unwind the back stack to the recorded target (or by one entry).
                if chosen.target in self._back_stack:
                    at = len(self._back_stack) - 1 - self._back_stack[::-1].index(chosen.target)
                    del self._back_stack[at:]
                elif self._back_stack:
                    self._back_stack.pop()
                self._apply(chosen, in_place=True)
            else:
                self._apply(chosen)
            return self._record(
                "key", {"key": name}, src, Effect.CHANGED, f"{name} -> {chosen.target}"
            )
        if name == "back":
            if self._back_stack:
                self._enter(self._back_stack.pop())
            elif src != self._home:
                self._enter(self._home)
            else:
                return self._record("key", {"key": name}, src, Effect.NO_EFFECT, "already home")
            return self._record(
                "key", {"key": name}, src, Effect.CHANGED, f"back -> {self.current_state}"
            )
        if name == "home":
            if src == self._home and not self._back_stack:
                return self._record("key", {"key": name}, src, Effect.NO_EFFECT, "already home")
            self._back_stack = []
            self._enter(self._home)
            return self._record("key", {"key": name}, src, Effect.CHANGED, "home")
        if name == "delete" and self._focus is not None:
            screen = self._served()[0]
            node = screen.node_by_key(self._focus)
            current = self._edits.get(self._focus, _typed_base(node) if node else "")
            if current:
                self._edits[self._focus] = current[:-1]
                return self._record(
                    "key", {"key": name}, src, Effect.CHANGED, "deleted a character"
                )
        return self._record("key", {"key": name}, src, Effect.NO_EFFECT, f"no recorded {name} key")

    def _open_app(self, package: str, activity: str | None) -> ActResult:
        src = self.current_state
        app = self.world.app(package)
        if app is None or not self._installed.get(package, False):
            raise ActionError(
                f"Error: Activity not started, unable to resolve Intent for package {package!r}"
            )
        target = app.start_state
        if activity and activity != app.launcher_activity:
            full = activity if "/" in activity else f"{package}/{activity}"
            same = [s.id for s in self.world.states.values() if s.activity == full]
            if not same:
                raise ActionError(f"Error: Activity class {{{full}}} does not exist.")
            target = same[0]
        self._back_stack = [self._home]
        self._enter(target)
        args: dict[str, Any] = {"package": package}
        if activity:
            args["activity"] = activity
        return self._record("open_app", args, src, Effect.CHANGED, f"started {package}")


_TOGGLE_CLASS = ("Switch", "CheckBox", "ToggleButton")


def _toggle_of(screen: UIScreen, node: UINode) -> UINode | None:
    """The two-state control a tap on ``node`` flips: ``node`` itself, or the one switch /
    check box inside the row it is (a radio button is not one: it is exclusive)."""
    boxes = [
        n
        for n in (node, *screen.descendants(node))
        if n.checkable and n.visible and any(c in (n.class_name or "") for c in _TOGGLE_CLASS)
    ]
    return boxes[0] if len(boxes) == 1 else None


def _on_off(text: str, checked: bool) -> str:
    """A switch's text with its trailing ``ON``/``OFF`` state word set to ``checked``."""
    for word in (" ON", " OFF"):
        if text.endswith(word):
            return text[: -len(word)] + (" ON" if checked else " OFF")
    return text


def _handler(screen: UIScreen, node: UINode) -> UINode:
    """The view that handles a touch on ``node``: itself when interactive, else its nearest
    interactive ancestor (else itself)."""
    cur: UINode | None = node
    while cur is not None:
        if cur.clickable or cur.long_clickable or cur.checkable or cur.editable:
            return cur
        cur = screen.parent_of(cur)
    return node


def _typed_base(node: UINode) -> str:
    """The text a field starts from when typing: its text, unless that is only its hint
    (a recorded empty field often shows the hint as its text)."""
    if node.hint and node.text == node.hint:
        return ""
    return node.text


def _describe(screen: UIScreen, node: UINode | None) -> str:
    if node is None:
        return "nothing"
    label = node.text or node.content_desc or node.short_id or node.short_class
    return f"{node.short_class} {label!r}"


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]
