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
``freezeRotation``, ``getLastToast``, ``clearLastToast``, ``makeToast``. Anything else returns
JSON-RPC error -32601 (method not found), as the real server does.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from llamatouch.errors import ActionError, DumpError
from llamatouch_emulator.shell_cmds import Shell, full_activity

#: Device port the uiautomator2 client connects to (uiautomator2.core.DEFAULT_SERVER_PORT).
U2_PORT = 9008
#: uiautomator swipe steps are throttled to 5 ms each (UiDevice.swipe documentation).
MS_PER_STEP = 5
#: Largest HTTP request (headers + body) accepted on the stream.
MAX_REQUEST_BYTES = 8 * 1024 * 1024

_KEY_NAMES = {
    "home": 3, "back": 4, "left": 21, "right": 22, "up": 19, "down": 20, "center": 23,
    "menu": 82, "search": 84, "enter": 66, "delete": 67, "del": 67, "recent": 187,
    "volume_up": 24, "volume_down": 25, "volume_mute": 164, "camera": 27, "power": 26,
}


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
        self.calls: list[str] = []

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

    def rpc_click(self, x: float, y: float, duration_ms: int | None = None) -> bool:
        if duration_ms is not None and duration_ms >= 500:
            self.device.long_press(round(x), round(y), int(duration_ms))
        else:
            self.device.tap(round(x), round(y))
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


def _rpc_error(rid: Any, code: int, message: str) -> bytes:
    return json.dumps(
        {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message, "data": ""}}
    ).encode("utf-8")
