"""The subset of uiautomator2's on-device server (``com.wetest.uia2.Main``, HTTP JSON-RPC on
device port 9008) that ``uiautomator2.connect()`` and the common calls need.

uiautomator2 3.x reaches it through ``adb`` with ``create_connection(tcp:9008)`` and speaks
HTTP/1.1: ``GET /ping`` must answer ``pong``; ``POST /jsonrpc/0`` carries
``{"jsonrpc": "2.0", "id": 1, "method": ..., "params": [...]}``. Implemented methods:
``deviceInfo``, ``dumpWindowHierarchy``, ``takeScreenshot`` (base64 of the device's PNG; the
real server sends JPEG, and the client decodes either with Pillow), ``click`` (with an
optional duration: long click), ``swipe``, ``swipePoints``, ``drag``, ``pressKey``,
``pressKeyCode``, ``injectInputEvent`` (touch down/move/up), ``setClipboard``,
``getClipboard``, ``clearInputText``, ``waitForIdle``, ``wakeUp``, ``sleep``, ``setOrientation``,
``freezeRotation``, ``getLastToast``, ``clearLastToast``, ``makeToast``, ``openNotification``
(KEYCODE_NOTIFICATION), and the element API on selectors resolved against the served hierarchy
(:mod:`llamatouch_emulator.u2selector`): ``exist``, ``count``, ``objInfo``,
``objInfoOfAllInstances``, ``getText``, ``setText``, ``clearTextField``, ``click`` /
``longClick`` on a selector, ``dragTo``, ``childByText`` / ``childByDescription`` /
``childByInstance``, ``waitForExists``, ``waitUntilGone``, ``scrollTo``,
``scrollForward`` / ``scrollBackward`` / ``scrollToBeginning`` / ``scrollToEnd`` and the
``fling`` forms. A selector that matches nothing where an object is needed answers error -32002
``...UiObjectNotFoundException`` (the client raises ``UiObjectNotFoundError``). Anything else
returns JSON-RPC error -32601 (method not found), as the real server does.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llamatouch.actions import Type
from llamatouch.device.base import Device, Effect
from llamatouch.errors import ActionError, DumpError
from llamatouch.ui.node import UINode, UIScreen
from llamatouch.ui.xmlio import read_uiautomator_xml
from llamatouch_emulator.shell_cmds import Shell, full_activity
from llamatouch_emulator.u2selector import (
    MASK_BITS,
    SelectorError,
    U2Selector,
    find_all,
    obj_info,
    parse_selector,
    visible_bounds,
)

#: Device port the uiautomator2 client connects to (uiautomator2.core.DEFAULT_SERVER_PORT).
U2_PORT = 9008
#: uiautomator swipe steps are throttled to 5 ms each (UiDevice.swipe documentation).
MS_PER_STEP = 5
#: Largest HTTP request (headers + body) accepted on the stream.
MAX_REQUEST_BYTES = 8 * 1024 * 1024
#: Longest ``waitForExists`` / ``waitUntilGone`` honoured (the client's default is 20 s).
MAX_WAIT_MS = 120_000
#: How often a wait re-reads the hierarchy.
WAIT_POLL_S = 0.05
#: Most swipes one ``scrollTo`` / ``scrollToEnd`` / ``flingTo...`` call makes in one direction
#: (it also stops as soon as a swipe leaves the screen unchanged).
MAX_SCROLL_SWIPES = 30
#: Swipe steps of a fling (fast) and of the client's default scroll (uiautomator2 SCROLL_STEPS).
FLING_STEPS, SCROLL_STEPS = 5, 55
#: KEYCODE_NOTIFICATION: what ``openNotification`` sends to the device.
KEYCODE_NOTIFICATION = 83

_KEY_NAMES = {
    "home": 3, "back": 4, "left": 21, "right": 22, "up": 19, "down": 20, "center": 23,
    "menu": 82, "search": 84, "enter": 66, "delete": 67, "del": 67, "recent": 187,
    "volume_up": 24, "volume_down": 25, "volume_mute": 164, "camera": 27, "power": 26,
}


class ObjectNotFound(Exception):
    """No node matches the selector where one object is needed (error -32002)."""


class HttpError(Exception):
    """A malformed request; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class HttpRequest:
    method: str
    path: str
    version: str
    headers: dict[str, str]
    body: bytes

    @property
    def keep_alive(self) -> bool:
        conn = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return conn == "keep-alive"
        return conn != "close"


def parse_request(buf: bytearray) -> HttpRequest | None:
    """Take one complete request off the front of ``buf`` (``None``: need more bytes)."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > 64 * 1024:
            raise HttpError(431, "request headers too large")
        return None
    head = bytes(buf[:end]).decode("iso-8859-1")
    lines = head.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise HttpError(400, f"bad request line {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise HttpError(400, f"bad header line {line!r}")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise HttpError(501, "chunked request bodies are not supported")
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError as exc:
        raise HttpError(400, "bad Content-Length") from exc
    if length < 0 or end + 4 + length > MAX_REQUEST_BYTES:
        raise HttpError(413, "request too large")
    if len(buf) < end + 4 + length:
        return None
    body = bytes(buf[end + 4 : end + 4 + length])
    del buf[: end + 4 + length]
    return HttpRequest(parts[0], parts[1], parts[2], headers, body)


#: JSON-RPC methods that poll until something appears or goes (seconds, boolean answer).
WAIT_METHODS = frozenset({"waitForExists", "waitUntilGone"})


def is_wait_request(req: HttpRequest) -> bool:
    """Whether ``req`` is a JSON-RPC call of one of :data:`WAIT_METHODS`."""
    if req.path != "/jsonrpc/0" or b"wait" not in req.body:
        return False
    try:
        payload = json.loads(req.body)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(payload, dict) and payload.get("method") in WAIT_METHODS


def http_response(status: int, body: bytes, content_type: str, keep_alive: bool) -> bytes:
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
              413: "Payload Too Large", 431: "Request Header Fields Too Large",
              500: "Internal Server Error", 501: "Not Implemented"}.get(status, "Error")
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    return head.encode("ascii") + body


class U2Server:
    """JSON-RPC handler; one per served device (shares the device's :class:`Shell`)."""

    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        self.device = shell.device
        self.clipboard = ""
        self._touch_down: tuple[int, int] | None = None
        #: the latest JSON-RPC method names called (bounded)
        self.calls: deque[str] = deque(maxlen=10_000)
        #: set when the server stops: waits in progress end at once (answering False)
        self.abort = threading.Event()

    def handle(self, req: HttpRequest) -> tuple[int, bytes, str]:
        """(status, body, content type) for one request. Runs device calls (blocking)."""
        if req.path == "/ping":
            return 200, b"pong", "text/plain"
        if req.path == "/jsonrpc/0":
            if req.method != "POST":
                return 405, b"POST only", "text/plain"
            return 200, self._jsonrpc(req.body), "application/json"
        return 404, b"Not Found", "text/plain"

    def _jsonrpc(self, body: bytes) -> bytes:
        rid: Any = None
        try:
            payload = json.loads(body)
            if not isinstance(payload, dict):
                raise ValueError("not an object")
            rid = payload.get("id")
            method = payload.get("method")
            params = payload.get("params") or []
            if not isinstance(method, str):
                raise ValueError("no method")
        except (ValueError, UnicodeDecodeError) as exc:
            return _rpc_error(rid, -32700, f"Parse error: {exc}")
        fn = getattr(self, f"rpc_{method}", None)
        if fn is None:
            return _rpc_error(rid, -32601, f"Method not found: {method}")
        self.calls.append(method)
        args = params if isinstance(params, list) else []
        kwargs = params if isinstance(params, dict) else {}
        try:
            result = fn(*args, **kwargs)
        except DumpError as exc:
            return _rpc_error(rid, -32001, f"java.lang.NullPointerException: {exc}")
        except ObjectNotFound as exc:
            return _rpc_error(
                rid, -32002, f"androidx.test.uiautomator.UiObjectNotFoundException: {exc}"
            )
        except (ActionError, TypeError, ValueError) as exc:
            return _rpc_error(rid, -32602, f"java.lang.IllegalArgumentException: {exc}")
        return json.dumps({"jsonrpc": "2.0", "id": rid, "result": result}).encode("utf-8")

    # -- methods (names as the real server's) ----------------------------------------------
    def rpc_deviceInfo(self) -> dict[str, Any]:
        w, h = self.device.screen_size()
        pkg, _ = full_activity(self.device.foreground_activity())
        density = int(self.shell.props.get("ro.sf.lcd_density", "420")) / 160
        return {
            "currentPackageName": pkg,
            "displayHeight": h,
            "displayWidth": w,
            "displayRotation": 0,
            "displaySizeDpX": round(w / density),
            "displaySizeDpY": round(h / density),
            "naturalOrientation": True,
            "productName": self.shell.props.get("ro.product.name", ""),
            "screenOn": True,
            "sdkInt": int(self.shell.props.get("ro.build.version.sdk", "33")),
        }

    def rpc_dumpWindowHierarchy(self, compressed: bool = False, max_depth: int = 50,
                                root_in_active: bool | None = None) -> str:
        return self.device.dump_xml().decode("utf-8")

    def rpc_takeScreenshot(self, scale: float = 1, quality: int = 80) -> str:
        return base64.b64encode(self.device.screenshot_png()).decode("ascii")

    def rpc_click(self, x: Any, y: Any = None, duration_ms: int | None = None) -> bool:
        """``click(x, y[, ms])`` on a point, or ``click(selector[, corner])`` on an object."""
        if isinstance(x, dict):
            px, py = self._corner(x, y)
            self.device.tap(px, py)
            return True
        if not _is_number(x) or not _is_number(y):
            raise ValueError("click needs (x, y) or a selector")
        if duration_ms is not None and duration_ms >= 500:
            self.device.long_press(round(x), round(y), int(duration_ms))
        else:
            self.device.tap(round(x), round(y))
        return True

    def rpc_longClick(self, selector: dict[str, Any], corner: str | None = None) -> bool:
        px, py = self._corner(selector, corner)
        self.device.long_press(px, py, 1000)
        return True

    def rpc_swipe(self, fx: float, fy: float, tx: float, ty: float, steps: int = 10) -> bool:
        self.device.swipe(round(fx), round(fy), round(tx), round(ty), int(steps) * MS_PER_STEP)
        return True

    def rpc_drag(self, sx: float, sy: float, ex: float, ey: float, steps: int = 10) -> bool:
        return self.rpc_swipe(sx, sy, ex, ey, steps)

    def rpc_swipePoints(self, points: list[int], steps: int = 10) -> bool:
        if len(points) < 4:
            raise ValueError("swipePoints needs at least two points")
        return self.rpc_swipe(points[0], points[1], points[-2], points[-1],
                              steps * (len(points) // 2 - 1))

    def rpc_pressKey(self, key: str) -> bool:
        code = _KEY_NAMES.get(str(key).lower())
        if code is None:
            raise ValueError(f"unknown key {key!r}")
        self.device.keyevent(code)
        return True

    def rpc_pressKeyCode(self, code: int, meta: int = 0) -> bool:
        self.device.keyevent(int(code))
        return True

    def rpc_injectInputEvent(self, action: int, x: float, y: float, meta: int = 0) -> bool:
        # MotionEvent: 0 = ACTION_DOWN, 1 = ACTION_UP, 2 = ACTION_MOVE
        point = (round(x), round(y))
        if action == 0:
            self._touch_down = point
        elif action == 1 and self._touch_down is not None:
            x0, y0 = self._touch_down
            self._touch_down = None
            if (x0, y0) == point:
                self.device.tap(x0, y0)
            else:
                self.device.swipe(x0, y0, point[0], point[1], 300)
        return True

    def rpc_setClipboard(self, label: str | None, text: str) -> None:
        self.clipboard = text

    def rpc_getClipboard(self) -> str:
        return self.clipboard

    def rpc_clearInputText(self) -> None:
        from llamatouch_emulator.shell_cmds import _clear_focused

        _clear_focused(self.shell)

    def rpc_waitForIdle(self, timeout: int = 0) -> bool:
        return True

    def rpc_wakeUp(self) -> None:
        return None

    def rpc_sleep(self) -> None:
        return None

    def rpc_setOrientation(self, orientation: str) -> None:
        return None

    def rpc_freezeRotation(self, freeze: bool = True) -> None:
        return None

    def rpc_getLastToast(self, cache_duration: int = 5000) -> None:
        return None

    def rpc_clearLastToast(self) -> None:
        return None

    def rpc_makeToast(self, text: str, duration: int = 1000) -> bool:
        return True

    def rpc_openNotification(self) -> bool:
        """Pull down the notification shade: the device gets KEYCODE_NOTIFICATION (a world
        that recorded the shade follows it; otherwise the screen stays as it is)."""
        self.device.keyevent(KEYCODE_NOTIFICATION)
        return True

    # -- the element API (selectors) ------------------------------------------------------
    def _screen(self) -> UIScreen:
        return read_uiautomator_xml(self.device.dump_xml(), "uiautomator2 selector")

    def _all(self, selector: Any) -> tuple[UIScreen, list[UINode], U2Selector]:
        try:
            sel = parse_selector(selector)
        except SelectorError as exc:
            raise ValueError(str(exc)) from exc
        screen = self._screen()
        return screen, find_all(screen, sel), sel

    def _one(self, selector: Any) -> tuple[UIScreen, UINode]:
        screen, found, sel = self._all(selector)
        if not found:
            raise ObjectNotFound(sel.describe())
        return screen, found[0]

    def _corner(self, selector: Any, corner: Any) -> tuple[int, int]:
        screen, node = self._one(selector)
        b = visible_bounds(screen, node)
        if corner in (None, "center"):
            return b.center
        if corner == "topleft":
            return b.left + 5, b.top + 5
        if corner == "bottomright":
            return b.right - 5, b.bottom - 5
        raise ValueError(f"unknown corner {corner!r} (center, topleft, bottomright)")

    def rpc_dragTo(self, selector: Any, x: Any, y: Any = None, steps: Any = 100) -> bool:
        """Drag the object to a point ``(x, y)`` or onto another object (a selector)."""
        sx, sy = self._corner(selector, None)
        if isinstance(x, dict):
            steps = y if y is not None else steps
            tx, ty = self._corner(x, None)
        elif _is_number(x) and _is_number(y):
            tx, ty = round(x), round(y)
        else:
            raise ValueError("dragTo needs (selector, x, y, steps) or (selector, target, steps)")
        n = int(steps) if _is_number(steps) else 100
        self.device.swipe(sx, sy, tx, ty, max(1, n) * MS_PER_STEP)
        return True

    def _child_by(self, selector: Any, child: Any, pick: Callable[[UIScreen, UINode], bool],
                  allow_scroll: Any = False) -> dict[str, Any]:
        """UiCollection.getChildBy...: the first child matching ``child`` (a descendant of the
        object) for which ``pick`` holds, returned as a selector that designates exactly it
        (the client sends it back as the object's selector)."""
        if not isinstance(selector, dict) or not isinstance(child, dict):
            raise ValueError("childBy... needs a selector and a child selector")
        chained = dict(selector)
        chained["childOrSibling"] = [*(selector.get("childOrSibling") or []), "child"]
        chained["childOrSiblingSelector"] = [*(selector.get("childOrSiblingSelector") or []),
                                             child]
        for attempt in range(MAX_SCROLL_SWIPES + 1):
            screen, found, sel = self._all(chained)
            for k, node in enumerate(found):
                if pick(screen, node):
                    last = dict(child)
                    last["instance"] = k
                    last["mask"] = int(child.get("mask", 0)) | MASK_BITS["instance"]
                    chained["childOrSiblingSelector"] = [*chained["childOrSiblingSelector"][:-1],
                                                         last]
                    return chained
            if not allow_scroll or attempt == MAX_SCROLL_SWIPES or \
                    not self._scroll_once(selector, True, True, SCROLL_STEPS):
                break
        raise ObjectNotFound(sel.describe())

    def rpc_childByText(self, selector: Any, child: Any, text: str,
                        allow_scroll_search: Any = False) -> dict[str, Any]:
        def has_text(screen: UIScreen, node: UINode) -> bool:
            return node.text == text or any(n.text == text for n in screen.descendants(node))

        return self._child_by(selector, child, has_text, allow_scroll_search)

    def rpc_childByDescription(self, selector: Any, child: Any, desc: str,
                               allow_scroll_search: Any = False) -> dict[str, Any]:
        def has_desc(screen: UIScreen, node: UINode) -> bool:
            return node.content_desc == desc or any(
                n.content_desc == desc for n in screen.descendants(node))

        return self._child_by(selector, child, has_desc, allow_scroll_search)

    def rpc_childByInstance(self, selector: Any, child: Any, instance: int) -> dict[str, Any]:
        if isinstance(instance, bool) or not isinstance(instance, int) or instance < 0:
            raise ValueError("childByInstance needs an instance >= 0")
        seen = iter(range(instance + 1))

        def nth(screen: UIScreen, node: UINode) -> bool:
            return next(seen, None) == instance

        return self._child_by(selector, child, nth)

    def rpc_exist(self, selector: Any) -> bool:
        return bool(self._all(selector)[1])

    def rpc_count(self, selector: Any) -> int:
        return len(self._all(selector)[1])

    def rpc_objInfo(self, selector: Any) -> dict[str, Any]:
        screen, node = self._one(selector)
        return obj_info(screen, node)

    def rpc_objInfoOfAllInstances(self, selector: Any) -> list[dict[str, Any]]:
        screen, found, _ = self._all(selector)
        return [obj_info(screen, n) for n in found]

    def rpc_getText(self, selector: Any) -> str:
        return self._one(selector)[1].text

    def rpc_setText(self, selector: Any, text: str) -> bool:
        """Replace the object's text (UiObject.setText); ``False`` when it is not editable."""
        if not isinstance(text, str):
            raise ValueError("setText needs a string")
        screen, node = self._one(selector)
        x, y = visible_bounds(screen, node).center
        if isinstance(self.device, Device):
            result = self.device.act(Type(text, x=x, y=y, clear=True))
            return bool(result.ok and result.effect is not Effect.NO_EFFECT)
        if not node.editable:
            return False
        # A device with the raw surface only: focus, clear, type (what a keyboard does).
        self.device.tap(x, y)
        self.rpc_clearInputText()
        if text:
            self.device.input_text(text)
        return True

    def rpc_clearTextField(self, selector: Any) -> None:
        self.rpc_setText(selector, "")

    def _wait(self, selector: Any, timeout_ms: Any, present: bool) -> bool:
        if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int | float):
            raise ValueError("the wait timeout must be a number of milliseconds")
        deadline = time.monotonic() + min(max(float(timeout_ms), 0.0), MAX_WAIT_MS) / 1000
        while True:
            if bool(self._all(selector)[1]) == present:
                return True
            if time.monotonic() >= deadline or self.abort.wait(WAIT_POLL_S):
                return False

    def rpc_waitForExists(self, selector: Any, timeout_ms: Any = 0) -> bool:
        return self._wait(selector, timeout_ms, True)

    def rpc_waitUntilGone(self, selector: Any, timeout_ms: Any = 0) -> bool:
        return self._wait(selector, timeout_ms, False)

    def _scroll_once(self, selector: Any, vertical: bool, forward: bool, steps: int) -> bool:
        """One swipe across the scrollable object; whether the screen changed."""
        screen, node = self._one(selector)
        b = visible_bounds(screen, node)
        cx, cy = b.center
        if vertical:
            near, far = b.top + b.height // 10, b.bottom - b.height // 10
            # forward reveals what is below: the finger moves up
            y1, y2 = (far, near) if forward else (near, far)
            x1 = x2 = cx
        else:
            near, far = b.left + b.width // 10, b.right - b.width // 10
            x1, x2 = (far, near) if forward else (near, far)
            y1 = y2 = cy
        before = self.device.dump_xml()
        self.device.swipe(x1, y1, x2, y2, max(1, int(steps)) * MS_PER_STEP)
        return self.device.dump_xml() != before

    def _scroll_to_edge(self, selector: Any, vertical: bool, forward: bool, max_swipes: Any,
                        steps: int) -> bool:
        limit = min(int(max_swipes), MAX_SCROLL_SWIPES) if _is_number(max_swipes) else 0
        for _ in range(max(0, limit)):
            if not self._scroll_once(selector, bool(vertical), forward, steps):
                break
        return True

    def rpc_scrollForward(self, selector: Any, vertical: bool = True,
                          steps: int = SCROLL_STEPS) -> bool:
        return self._scroll_once(selector, bool(vertical), True, steps)

    def rpc_scrollBackward(self, selector: Any, vertical: bool = True,
                           steps: int = SCROLL_STEPS) -> bool:
        return self._scroll_once(selector, bool(vertical), False, steps)

    def rpc_scrollToBeginning(self, selector: Any, vertical: bool = True,
                              max_swipes: int = MAX_SCROLL_SWIPES,
                              steps: int = SCROLL_STEPS) -> bool:
        return self._scroll_to_edge(selector, vertical, False, max_swipes, steps)

    def rpc_scrollToEnd(self, selector: Any, vertical: bool = True,
                        max_swipes: int = MAX_SCROLL_SWIPES, steps: int = SCROLL_STEPS) -> bool:
        return self._scroll_to_edge(selector, vertical, True, max_swipes, steps)

    def rpc_flingForward(self, selector: Any, vertical: bool = True) -> bool:
        return self._scroll_once(selector, bool(vertical), True, FLING_STEPS)

    def rpc_flingBackward(self, selector: Any, vertical: bool = True) -> bool:
        return self._scroll_once(selector, bool(vertical), False, FLING_STEPS)

    def rpc_flingToBeginning(self, selector: Any, vertical: bool = True,
                             max_swipes: int = MAX_SCROLL_SWIPES) -> bool:
        return self._scroll_to_edge(selector, vertical, False, max_swipes, FLING_STEPS)

    def rpc_flingToEnd(self, selector: Any, vertical: bool = True,
                       max_swipes: int = MAX_SCROLL_SWIPES) -> bool:
        return self._scroll_to_edge(selector, vertical, True, max_swipes, FLING_STEPS)

    def rpc_scrollTo(self, selector: Any, target: Any, vertical: bool = True) -> bool:
        """Scroll the object until ``target`` matches something (forward first, then
        backward); ``False`` when neither direction reveals it."""
        self._one(selector)  # the scrollable must exist
        for forward in (True, False):
            for _ in range(MAX_SCROLL_SWIPES + 1):
                if self.rpc_exist(target):
                    return True
                if not self._scroll_once(selector, bool(vertical), forward, SCROLL_STEPS):
                    break
        return self.rpc_exist(target)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _rpc_error(rid: Any, code: int, message: str) -> bytes:
    return json.dumps(
        {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message, "data": ""}}
    ).encode("utf-8")
