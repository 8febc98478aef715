"""``AdbDevice``: a real phone or emulator (or our virtual device behind its ADB server),
driven through an adb server with adbutils.

Plain adb path (always available):

* screenshot: ``exec:screencap -p`` (binary-safe, no pty);
* hierarchy: ``rm -f P; uiautomator dump P >/dev/null && cat P`` in one ``exec:`` call (the
  ``rm`` guarantees a failed dump is never answered with a stale file); failures such as
  ``ERROR: null root node returned by UiTestAutomationBridge.`` or an unparsable document are
  retried ``dump_attempts`` times in all, then :class:`~llamatouch.errors.DumpError`;
* activity: ``dumpsys activity activities`` (``mResumedActivity``), else ``dumpsys window``
  (``mCurrentFocus``);
* input: ``input tap/swipe/keyevent/text`` (text through :mod:`llamatouch.device.textinput`);
  long press = ``input swipe x y x y DURATION``;
* apps: ``am start -n`` / ``monkey -p PKG -c android.intent.category.LAUNCHER 1``,
  ``am force-stop``, ``pm list packages``.

uiautomator2 fast path (``use_u2``): hierarchy (``dumpWindowHierarchy``), screenshot
(``takeScreenshot``) and pointer/key input through the uiautomator2 on-device server. With
``auto`` it is used only when that server already answers ``/ping`` (nothing is installed on
the device); with ``on`` ``uiautomator2.connect()`` installs and starts it; ``off`` never. Typing
always goes through the text-input plan (it is the path proven safe by the property tests).

Every call has a timeout. When a call fails because the device is gone, a bounded reconnect
(``adb connect`` for ``host:port`` serials, a wait for USB ones) is tried; if that fails too,
:class:`~llamatouch.errors.DeviceGoneError` is raised. The worst case is bounded by
``shell_timeout_s + reconnect_attempts * (connect_timeout_s + reconnect_delay_s)``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

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
from llamatouch.device import textinput
from llamatouch.device.base import ActResult, Device, Effect, Observation
from llamatouch.device.emulator_console import EmulatorConsole
from llamatouch.errors import (
    ActionError,
    DeviceError,
    DeviceGoneError,
    DeviceTimeoutError,
    DumpError,
    ImageFormatError,
    XmlFormatError,
)
from llamatouch.ui.node import UIScreen
from llamatouch.ui.xmlio import read_uiautomator_xml

log = logging.getLogger(__name__)

_T = TypeVar("_T")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_RESUMED_RE = re.compile(
    r"(?:mResumedActivity|ResumedActivity|topResumedActivity)[:=]\s*ActivityRecord\{\S+\s+\S+\s+"
    r"(?P<comp>[^\s/}]+/[^\s}]+)"
)
_FOCUS_RE = re.compile(r"mCurrentFocus=Window\{\S+\s+\S+\s+(?P<comp>[^\s/}]+/[^\s}]+)\}")
_PKG_RE = re.compile(r"^package:(\S+)\s*$", re.M)


@dataclass(slots=True)
class AdbConfig:
    """How to reach and drive one device over adb.

    Attributes:
        serial: the device's serial (``adb devices``); ``None``: the only device attached.
        adb_host: host of the adb server.
        adb_port: port of the adb server (5037 is adb's default).
        connect_timeout_s: bound on connecting to the adb server / ``adb connect``.
        shell_timeout_s: bound on each shell/exec command (input, dumpsys, pm, am ...).
        screenshot_timeout_s: bound on one ``screencap``.
        dump_timeout_s: bound on one ``uiautomator dump`` + read.
        dump_attempts: hierarchy dump attempts in all before :class:`DumpError`.
        dump_retry_delay_s: pause between dump attempts.
        dump_path: where ``uiautomator dump`` writes on the device.
        reconnect_attempts: reconnect tries after a call finds the device gone.
        reconnect_delay_s: pause before each reconnect try.
        use_u2: ``"auto"`` (uiautomator2 when its server already answers), ``"on"`` (start it
            with ``uiautomator2.connect``; failure is a DeviceError), ``"off"``.
        u2_timeout_s: bound on each uiautomator2 call.
        text_chunk: most characters per ``input text`` command.
        ime: ``"auto"``: non-ASCII text goes through the ADB keyboard IME when the device has
            it (else ActionError); ``"off"``: non-ASCII text is always an ActionError.
        settle_s: pause after each action before returning (real phones animate; 0 for the
            virtual device).
        check_bounds: refuse actions whose points are outside the screen (ActionError).
    """

    serial: str | None = None
    adb_host: str = "127.0.0.1"
    adb_port: int = 5037
    connect_timeout_s: float = 10.0
    shell_timeout_s: float = 20.0
    screenshot_timeout_s: float = 20.0
    dump_timeout_s: float = 30.0
    dump_attempts: int = 3
    dump_retry_delay_s: float = 0.5
    dump_path: str = "/sdcard/window_dump.xml"
    reconnect_attempts: int = 2
    reconnect_delay_s: float = 0.5
    use_u2: Literal["auto", "on", "off"] = "auto"
    u2_timeout_s: float = 10.0
    text_chunk: int = textinput.DEFAULT_CHUNK
    ime: Literal["auto", "off"] = "auto"
    settle_s: float = 0.0
    check_bounds: bool = True

    def __post_init__(self) -> None:
        if self.use_u2 not in ("auto", "on", "off"):
            raise ValueError(f"use_u2 must be auto/on/off, got {self.use_u2!r}")
        if self.ime not in ("auto", "off"):
            raise ValueError(f"ime must be auto/off, got {self.ime!r}")
        if self.dump_attempts < 1:
            raise ValueError("dump_attempts must be at least 1")


def adb_client(host: str, port: int, timeout: float) -> Any:
    """An ``adbutils.AdbClient`` that never starts an adb server by itself.

    adbutils' own client runs ``adb start-server`` (on the default port 5037) whenever the
    server it was given does not answer; for a private server on another port that would
    leave a stray server behind and hide the real failure. This one raises instead, and sets
    ``TCP_NODELAY`` on its sockets.
    """
    import adbutils
    from adbutils import AdbConnection

    class _Connection(AdbConnection):
        def _safe_connect(self) -> Any:
            return self._create_socket()

        def close(self) -> None:
            # adbutils sleeps 10 ms after a half-close here; closing at once is enough for
            # the adb server (it sees EOF either way) and saves 10 ms per call.
            sock = self.conn
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)
            sock.close()

    class _Client(adbutils.AdbClient):
        def make_connection(self, timeout: float | None = None) -> Any:
            conn = _Connection(host, port)
            conn.conn.settimeout(timeout or default_timeout)
            # Small request/response exchanges (uiautomator2's HTTP sends headers and body in
            # two writes) would otherwise wait for delayed ACKs (~40 ms on Linux).
            conn.conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return conn

    default_timeout = timeout
    return _Client(host=host, port=port, socket_timeout=timeout)



class AdbDevice(Device):
    """A device reached through an adb server (see the module docstring)."""

    def __init__(self, config: AdbConfig | None = None, **kwargs: Any) -> None:
        import adbutils

        self.config = config or AdbConfig(**kwargs)
        cfg = self.config
        self._adbutils = adbutils
        self.client = adb_client(cfg.adb_host, cfg.adb_port, cfg.connect_timeout_s)
        serial = cfg.serial
        if serial is None:
            try:
                devices = self.client.device_list()
            except (adbutils.AdbError, OSError) as exc:
                raise DeviceError(f"adb server {cfg.adb_host}:{cfg.adb_port}: {exc}") from exc
            if len(devices) != 1:
                raise DeviceError(
                    f"{len(devices)} devices attached; name one with a serial "
                    f"({', '.join(str(d.serial) for d in devices) or 'none'})"
                )
            serial = str(devices[0].serial)
        self.serial = serial
        self.dev = self.client.device(serial)
        self._size: tuple[int, int] | None = None
        self._last_screen: UIScreen | None = None
        self._u2: Any = None
        self._u2_checked = False
        self._ime: bool | None = None
        self._gone = False
        #: Called by :meth:`reset` instead of the adb commands when set (see there).
        self.reset_hook: Callable[[str | None], None] | None = None
        #: Called by :meth:`load_state` instead of an emulator console snapshot load when set
        #: (a virtual device behind ADB: the served device jumps to a world state).
        self.state_loader: Callable[[str], None] | None = None

    # -- transport ---------------------------------------------------------------------------
    def _open(self, service: str, timeout: float) -> Any:
        """An adbutils connection with ``service`` opened on this device."""
        c = self.client.make_connection(timeout=timeout)
        try:
            c.send_command(f"host:tport:serial:{self.serial}")
            c.check_okay()
            c.read(8)
            c.send_command(service)
            c.check_okay()
        except BaseException:
            _close(c)
            raise
        return c

    def _exec_raw(self, command: str, timeout: float) -> bytes:
        c = self._open(f"exec:{command}", timeout)
        try:
            data: bytes = c.read_until_close(encoding=None)
            return data
        finally:
            _close(c)

    def _call(self, what: str, timeout: float, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` mapping transport failures to typed errors, with a bounded reconnect."""
        adbutils = self._adbutils
        if self._gone:
            raise DeviceGoneError(f"{self.serial}: device is gone (an earlier call lost it)")
        for attempt in range(2):
            try:
                return fn()
            except (adbutils.AdbTimeout, TimeoutError) as exc:
                if self._device_present():
                    raise DeviceTimeoutError(
                        f"{self.serial}: {what} timed out after {timeout:.1f}s"
                    ) from exc
                cause: BaseException = exc
            except (adbutils.AdbError, OSError, EOFError) as exc:
                gone_words = ("not found" in str(exc)) or ("offline" in str(exc))
                if not gone_words and self._device_present():
                    if attempt == 0:
                        continue  # a transient transport error: one immediate retry
                    raise DeviceError(f"{self.serial}: {what} failed: {exc}") from exc
                cause = exc
            except Exception as exc:
                if not type(exc).__module__.startswith("uiautomator2"):
                    raise
                if self._device_present():
                    raise DeviceError(f"{self.serial}: uiautomator2 {what}: {exc}") from exc
                cause = exc
            if attempt == 0 and self._reconnect():
                continue
            self._gone = True
            raise DeviceGoneError(
                f"{self.serial}: device disappeared during {what} and "
                f"{self.config.reconnect_attempts} reconnect attempt(s) failed: {cause}"
            ) from cause
        raise DeviceError(f"{self.serial}: {what} failed")  # pragma: no cover

    def _device_present(self) -> bool:
        try:
            return self._state(self.config.connect_timeout_s) == "device"
        except Exception:
            return False

    def _state(self, timeout: float) -> str:
        c = self.client.make_connection(timeout=timeout)
        try:
            c.send_command(f"host-serial:{self.serial}:get-state")
            c.check_okay()
            return str(c.read_string_block())
        finally:
            _close(c)

    def _reconnect(self) -> bool:
        cfg = self.config
        is_tcp = re.fullmatch(r"[\w.\-]+:\d+", self.serial) is not None
        for _ in range(cfg.reconnect_attempts):
            time.sleep(cfg.reconnect_delay_s)
            try:
                if is_tcp:
                    self.client.connect(self.serial, timeout=cfg.connect_timeout_s)
                if self._state(cfg.connect_timeout_s) == "device":
                    log.info("%s: reconnected", self.serial)
                    return True
            except Exception as exc:
                log.debug("%s: reconnect failed: %s", self.serial, exc)
        return False

    def shell(self, command: str, timeout: float | None = None) -> str:
        """Run a command line on the device; stdout and stderr merged, decoded as UTF-8."""
        t = timeout or self.config.shell_timeout_s
        data = self._call(command.split(" ", 1)[0], t, lambda: self._exec_raw(command, t))
        return data.decode("utf-8", "replace")

    def exec_out(self, command: str, timeout: float | None = None) -> bytes:
        """Run a command line; raw bytes (``adb exec-out``)."""
        t = timeout or self.config.shell_timeout_s
        return self._call(command.split(" ", 1)[0], t, lambda: self._exec_raw(command, t))

    # -- uiautomator2 ------------------------------------------------------------------------
    def _u2_device(self) -> Any:
        if self._u2_checked:
            return self._u2
        self._u2_checked = True
        mode = self.config.use_u2
        if mode == "off":
            return None
        if mode == "auto" and not self._u2_answers():
            log.info("%s: uiautomator2 server not running; using plain adb", self.serial)
            return None
        try:
            import uiautomator2

            self._u2 = uiautomator2.connect(self.dev)
        except Exception as exc:
            if mode == "on":
                raise DeviceError(f"{self.serial}: uiautomator2 could not start: {exc}") from exc
            log.warning("%s: uiautomator2 unavailable (%s); using plain adb", self.serial, exc)
            self._u2 = None
        return self._u2

    def _u2_answers(self) -> bool:
        """Whether the uiautomator2 server on device port 9008 answers ``GET /ping``."""
        try:
            c = self._open("tcp:9008", self.config.u2_timeout_s)
        except Exception:
            return False
        try:
            sock: socket.socket = c.conn
            sock.settimeout(self.config.u2_timeout_s)
            sock.sendall(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
            return data.startswith(b"HTTP/1.1 200") and data.endswith(b"pong")
        except OSError:
            return False
        finally:
            c.close()

    @property
    def using_u2(self) -> bool:
        """Whether the uiautomator2 fast path is in use (decided on first use)."""
        return self._u2_device() is not None

    def _u2_call(self, what: str, fn: Callable[[Any], _T]) -> _T:
        u2 = self._u2_device()
        return self._call(what, self.config.u2_timeout_s, lambda: fn(u2))

    # -- observation -------------------------------------------------------------------------
    def screenshot(self) -> bytes:
        """PNG bytes of the screen."""
        if self._u2_device() is not None:
            png = self._u2_call("takeScreenshot", _u2_png)
        else:
            png = self.exec_out("screencap -p", self.config.screenshot_timeout_s)
        if not png.startswith(PNG_MAGIC):
            raise ImageFormatError(f"{self.serial}:screencap",
                                   f"not a PNG ({len(png)} bytes, starts {png[:16]!r})")
        return png

    def dump_xml(self) -> tuple[bytes, UIScreen]:
        """The ``uiautomator dump`` document and its parse, with bounded retries."""
        cfg = self.config
        last = ""
        for attempt in range(cfg.dump_attempts):
            if attempt:
                time.sleep(cfg.dump_retry_delay_s)
            if self._u2_device() is not None:
                try:
                    xml = self._u2_call(
                        "dumpWindowHierarchy", lambda d: d.dump_hierarchy().encode("utf-8")
                    )
                except DeviceGoneError:
                    raise
                except DeviceError as exc:
                    last = str(exc)
                    log.info("%s: dump attempt %d failed: %s", self.serial, attempt + 1, last)
                    continue
            else:
                p = cfg.dump_path
                cmd = f"rm -f {p}; uiautomator dump {p} >/dev/null && cat {p}"
                xml = self.exec_out(cmd, cfg.dump_timeout_s)
            start = xml.find(b"<?xml")
            if start < 0:
                start = xml.find(b"<hierarchy")
            if start < 0:
                last = xml.decode("utf-8", "replace").strip()[:300] or "empty output"
                log.info("%s: dump attempt %d failed: %s", self.serial, attempt + 1, last)
                continue
            try:
                screen = read_uiautomator_xml(xml[start:], f"{self.serial}:{cfg.dump_path}")
            except XmlFormatError as exc:
                last = str(exc)
                log.info("%s: dump attempt %d unparsable: %s", self.serial, attempt + 1, last)
                continue
            return xml[start:], screen
        raise DumpError(
            f"{self.serial}: uiautomator dump failed {cfg.dump_attempts} times: {last}"
        )

    def current_activity(self) -> tuple[str, str]:
        """(``package/.Activity``, package) of the foreground activity (``("", "")``: none)."""
        comp = parse_foreground(self.shell("dumpsys activity activities"))
        if comp is None:
            comp = parse_foreground(self.shell("dumpsys window windows"))
        if comp is None:
            return "", ""
        return comp, comp.split("/", 1)[0]

    def observe(self, *, with_packages: bool = False) -> Observation:
        started = time.time()
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        png = self.screenshot()
        t1 = time.perf_counter()
        xml, screen = self.dump_xml()
        t2 = time.perf_counter()
        activity, package = self.current_activity()
        t3 = time.perf_counter()
        timings.update(screenshot=t1 - t0, dump=t2 - t1, activity=t3 - t2)
        packages = None
        if with_packages:
            packages = self.installed_packages()
            timings["packages"] = time.perf_counter() - t3
        # The screen's size is the screenshot's: what the display shows now, in its current
        # rotation (a world recorded on several phones serves screens of several sizes).
        size = png_size(png)
        if size is None:
            self._size = None
            size = self.screen_size()
        self._size = size
        width, height = size
        screen.width, screen.height, screen.activity = width, height, activity
        self._last_screen = screen
        return Observation(
            screen=screen,
            screenshot_png=png,
            hierarchy_xml=xml,
            activity=activity,
            package=package,
            installed_packages=packages,
            started_at=started,
            finished_at=time.time(),
            timings=timings,
        )

    def screen_size(self) -> tuple[int, int]:
        """(width, height) of the screen: the last observed screenshot's size until the next
        action or reset, else what ``wm size`` says now (never kept across screens)."""
        if self._size is None:
            size = parse_wm_size(self.shell("wm size"))
            if size is None:
                raise DeviceError(f"{self.serial}: cannot read the screen size from 'wm size'")
            self._size = size
        return self._size

    # -- actions -----------------------------------------------------------------------------
    def act(self, action: Action) -> ActResult:
        if not isinstance(action, Action) or type(action) is Action:
            raise ActionError(f"unknown action {action!r}")
        started = time.time()
        t0 = time.perf_counter()
        if self.config.check_bounds:
            w, h = self.screen_size()
            check_on_screen(action, w, h)
        effect, detail = Effect.UNKNOWN, ""
        if isinstance(action, Tap):
            self._tap(action.x, action.y)
            detail = f"tap {action.x},{action.y}"
        elif isinstance(action, LongPress):
            self._long_press(action.x, action.y, action.duration_ms)
            detail = f"long press {action.x},{action.y}"
        elif isinstance(action, Swipe):
            self._swipe(action.x1, action.y1, action.x2, action.y2, action.duration_ms)
            detail = "swipe"
        elif isinstance(action, Scroll):
            x1, y1, x2, y2 = self._scroll_path(action)
            self._swipe(x1, y1, x2, y2, 300)
            detail = f"scroll {action.direction}"
        elif isinstance(action, Type):
            detail = self._type(action)
        elif isinstance(action, Key):
            self.press(action.key)
            detail = f"key {action.key}"
        elif isinstance(action, OpenApp):
            self.open_app(action.package, action.activity)
            detail = f"open {action.package}"
        elif isinstance(action, Wait):
            time.sleep(action.seconds)
            effect, detail = Effect.NO_EFFECT, "waited"
        elif isinstance(action, Finish):
            effect, detail = Effect.FINISHED, action.status
        else:
            raise ActionError(f"unknown action {action.kind!r}")
        t1 = time.perf_counter()
        if not isinstance(action, (Wait, Finish)):
            self._size = None  # the next screen may have another size (see observe)
        if self.config.settle_s and not isinstance(action, (Wait, Finish)):
            time.sleep(self.config.settle_s)
        return ActResult(ok=True, effect=effect, detail=detail, started_at=started,
                         finished_at=time.time(), timings={"act": t1 - t0})

    def _input(self, command: str) -> None:
        out = self.shell(command)
        if "Error" in out or "Exception" in out or "inaccessible or not found" in out:
            raise ActionError(f"{self.serial}: {command!r}: {out.strip()[:300]}")

    def _tap(self, x: int, y: int) -> None:
        if self._u2_device() is not None:
            self._u2_call("click", lambda d: d.click(x, y))
        else:
            self._input(f"input tap {int(x)} {int(y)}")

    def _long_press(self, x: int, y: int, duration_ms: int) -> None:
        if self._u2_device() is not None:
            self._u2_call("long_click", lambda d: d.long_click(x, y, duration_ms / 1000))
        else:
            self._input(f"input swipe {int(x)} {int(y)} {int(x)} {int(y)} {int(duration_ms)}")

    def _swipe(self, x1: int, y1: int, x2: int, y2: int, duration_ms: int) -> None:
        if self._u2_device() is not None:
            steps = max(2, duration_ms // 5)
            self._u2_call("swipe", lambda d: d.swipe(x1, y1, x2, y2, steps=steps))
        else:
            self._input(f"input swipe {int(x1)} {int(y1)} {int(x2)} {int(y2)} {int(duration_ms)}")

    def _scroll_path(self, action: Scroll) -> tuple[int, int, int, int]:
        """A finger path for a scroll: inside the element (or around the point, or over the
        screen), moving against ``direction`` over half of the area."""
        w, h = self.screen_size()
        left, top, right, bottom = 0, 0, w, h
        if action.element:
            screen = self._last_screen or self.dump_xml()[1]
            node = screen.node_by_key(action.element)
            if node is None:
                raise ActionError(f"scroll: no element {action.element!r} on the last screen")
            b = node.bounds
            left, top, right, bottom = b.left, b.top, b.right, b.bottom
        cx = action.x if action.x is not None else (left + right) // 2
        cy = action.y if action.y is not None else (top + bottom) // 2
        dy = max(1, (bottom - top) // 4)
        dx = max(1, (right - left) // 4)
        if action.direction == "down":
            return cx, min(h - 1, cy + dy), cx, max(0, cy - dy)
        if action.direction == "up":
            return cx, max(0, cy - dy), cx, min(h - 1, cy + dy)
        if action.direction == "right":
            return min(w - 1, cx + dx), cy, max(0, cx - dx), cy
        return max(0, cx - dx), cy, min(w - 1, cx + dx), cy

    def ime_available(self) -> bool:
        """Whether the ADB keyboard IME is installed (checked once)."""
        if self._ime is None:
            if self.config.ime == "off":
                self._ime = False
            else:
                out = self.shell("ime list -s -a")
                self._ime = textinput.ADB_KEYBOARD_IME in out.split()
        return self._ime

    def _ensure_ime(self) -> None:
        current = self.shell("settings get secure default_input_method").strip()
        if current != textinput.ADB_KEYBOARD_IME:
            self.shell(f"ime enable {textinput.ADB_KEYBOARD_IME}")
            self.shell(f"ime set {textinput.ADB_KEYBOARD_IME}")

    def type_text(self, text: str) -> list[str]:
        """Type ``text`` into the focused field; returns the commands sent."""
        ime = textinput.needs_ime(text) and self.ime_available()
        steps = textinput.plan_text(text, ime_available=ime, chunk=self.config.text_chunk)
        if any(s.kind == "ime" for s in steps):
            self._ensure_ime()
        sent = []
        for step in steps:
            cmd = step.command()
            out = self.shell(cmd)
            if step.kind == "ime" and "result=-1" not in out:
                raise ActionError(f"{self.serial}: the ADB keyboard IME did not accept the text: "
                                  f"{out.strip()[:200]}")
            if step.kind != "ime" and ("Error" in out or "Exception" in out):
                raise ActionError(f"{self.serial}: typing failed: {out.strip()[:300]}")
            sent.append(cmd)
        return sent

    def _type(self, action: Type) -> str:
        target = None
        if action.element:
            screen = self._last_screen or self.dump_xml()[1]
            target = screen.node_by_key(action.element)
            if target is None:
                raise ActionError(f"type: no element {action.element!r} on the last screen")
            self._tap(*target.bounds.center)
        elif action.x is not None and action.y is not None:
            self._tap(action.x, action.y)
        if action.clear:
            screen = self.dump_xml()[1]
            field_ = next((n for n in screen.nodes if n.focused and n.editable), None)
            if field_ is not None and field_.text and field_.text != field_.hint:
                dels = " ".join(["67"] * len(field_.text))
                self._input(f"input keyevent 123 {dels}")
        self.type_text(action.text)
        return f"typed {len(action.text)} characters"

    # -- Device API ----------------------------------------------------------------------------
    def press(self, key: str) -> None:
        code = KEYCODES.get(key)
        if code is None:
            raise ActionError(f"unknown key {key!r}; known: {', '.join(KEYCODES)}")
        if self._u2_device() is not None:
            self._u2_call("pressKeyCode", lambda d: d.jsonrpc.pressKeyCode(code))
        else:
            self._input(f"input keyevent {code}")

    def open_app(self, package: str, activity: str | None = None) -> None:
        if not re.fullmatch(r"[A-Za-z][\w]*(\.[\w]+)*", package or ""):
            raise ActionError(f"open_app: {package!r} is not a package name")
        if activity:
            comp = activity if "/" in activity else f"{package}/{activity}"
            if not re.fullmatch(r"[\w.]+/[\w.$]+", comp):
                raise ActionError(f"open_app: {activity!r} is not an activity name")
            out = self.shell(f"am start -n {comp}")
            if "Error" in out:
                raise ActionError(f"open_app {comp}: {out.strip()[:300]}")
        else:
            out = self.shell(f"monkey -p {package} -c android.intent.category.LAUNCHER 1")
            if "No activities found" in out or "monkey aborted" in out:
                raise ActionError(f"open_app: {package} is not installed or has no launcher "
                                  "activity")

    def stop_app(self, package: str) -> None:
        if not re.fullmatch(r"[A-Za-z][\w]*(\.[\w]+)*", package or ""):
            raise ActionError(f"stop_app: {package!r} is not a package name")
        self.shell(f"am force-stop {package}")

    def installed_packages(self) -> list[str]:
        return sorted(set(_PKG_RE.findall(self.shell("pm list packages"))))

    def reset(self, package: str | None = None) -> None:
        """Home screen, or ``package`` force-stopped and launched fresh. When
        :attr:`reset_hook` is set (e.g. an emulator snapshot load, or the virtual device's own
        reset in :class:`~llamatouch_emulator.harness.AdbSession`), it does the whole reset."""
        self._last_screen = None
        self._size = None
        if self.reset_hook is not None:
            self.reset_hook(package)
            return
        self.press("home")
        if package:
            self.stop_app(package)
            self.open_app(package)

    def load_state(self, name: str) -> None:
        """:meth:`Device.load_state`: :attr:`state_loader` when set; on an Android emulator
        (serial ``emulator-PORT``) the console's snapshot ``name``; else NotImplementedError."""
        self._last_screen = None
        self._size = None
        if self.state_loader is not None:
            self.state_loader(name)
            return
        with self._console() as console:
            console.snapshot_load(name)

    def save_state(self, name: str) -> None:
        """:meth:`Device.save_state`: an emulator console snapshot ``name`` (emulators only)."""
        with self._console() as console:
            console.snapshot_save(name)

    def _console(self) -> EmulatorConsole:
        match = re.fullmatch(r"emulator-(\d+)", self.serial)
        if match is None:
            raise NotImplementedError(
                f"{self.serial}: not an Android emulator; only emulators (emulator-PORT) load "
                "and save snapshots"
            )
        return EmulatorConsole(int(match.group(1)))

    def health(self) -> bool:
        if self._gone:
            return False
        try:
            return self._state(self.config.connect_timeout_s) == "device" and \
                self._exec_raw("echo ok", self.config.shell_timeout_s).strip() == b"ok"
        except Exception:
            return False

    def info(self) -> dict[str, str]:
        """Model, Android version and screen size (for ``llamatouch devices``)."""
        out: dict[str, str] = {"serial": self.serial}
        for key, prop in (("model", "ro.product.model"), ("android", "ro.build.version.release"),
                          ("sdk", "ro.build.version.sdk")):
            out[key] = self.shell(f"getprop {prop}").strip()
        w, h = self.screen_size()
        out["size"] = f"{w}x{h}"
        return out


def parse_foreground(dumpsys: str) -> str | None:
    """The foreground ``package/.Activity`` from ``dumpsys activity activities``
    (``mResumedActivity`` / ``ResumedActivity`` / ``topResumedActivity``) or ``dumpsys window``
    (``mCurrentFocus``) output; ``None`` when neither names one."""
    m = _RESUMED_RE.search(dumpsys) or _FOCUS_RE.search(dumpsys)
    return _short_component(m.group("comp")) if m else None


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR chunk; ``None`` when ``data`` does not start with
    a well-formed PNG header."""
    if len(data) < 24 or not data.startswith(PNG_MAGIC) or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    if width <= 0 or height <= 0:
        return None
    return int(width), int(height)


def parse_wm_size(text: str) -> tuple[int, int] | None:
    """(width, height) from ``wm size``; an ``Override size`` wins over ``Physical size``."""
    found = dict(re.findall(r"(Override|Physical) size: (\d+x\d+)", text))
    size = found.get("Override") or found.get("Physical")
    if size is None:
        return None
    w, h = size.split("x")
    return int(w), int(h)


def _close(conn: Any) -> None:
    """Close an adbutils connection at once (its own ``close()`` sleeps 10 ms after a
    half-close; our streams are finished or abandoned when we close them)."""
    with contextlib.suppress(OSError):
        conn.conn.close()


def _short_component(comp: str) -> str:
    pkg, _, act = comp.partition("/")
    if act.startswith(pkg + "."):
        act = act[len(pkg):]
    return f"{pkg}/{act}"


def _u2_png(d: Any) -> bytes:
    """A screenshot through uiautomator2 as PNG bytes (the real server sends JPEG)."""
    import base64

    from PIL import Image

    raw = base64.b64decode(d.jsonrpc.takeScreenshot(1, 80) or b"")
    if raw.startswith(PNG_MAGIC):
        return raw
    buf = io.BytesIO()
    Image.open(io.BytesIO(raw)).save(buf, "PNG")
    return buf.getvalue()
