"""uiautomator2 (the real client library) → real adb server → our ADB server's tcp:9008
stream → the uiautomator2 server subset, serving the demo world's VirtualDevice."""

from __future__ import annotations

import io
from collections.abc import Iterator

import adbutils
import pytest
import uiautomator2

from llamatouch.ui.xmlio import read_uiautomator_xml
from llamatouch_emulator.harness import AdbSession

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def session() -> Iterator[AdbSession]:
    with AdbSession.for_world("demo") as s:
        yield s


@pytest.fixture(scope="module")
def d(session: AdbSession) -> uiautomator2.Device:
    dev = adbutils.AdbClient(host="127.0.0.1", port=session.adb_port).device(session.serial)
    return uiautomator2.connect(dev)


def test_connect_pushed_the_jar_and_found_the_server(session: AdbSession,
                                                     d: uiautomator2.Device) -> None:
    assert session.server is not None
    fs = session.server.shell.fs
    assert (fs.read("/data/local/tmp/u2.jar") or b"")[:2] == b"PK"  # the real jar, via sync SEND
    assert "ping" not in session.server.u2.calls  # /ping is plain HTTP, not JSON-RPC
    launched = [r.argv for r in session.server.shell.exec_log if "app_process" in r.argv]
    assert launched == []  # the server answered /ping: the "already running" path was taken


def test_info_window_size_app_current(session: AdbSession, d: uiautomator2.Device) -> None:
    v = session.virtual
    v.reset("com.llamatouch.notes")
    info = d.info
    assert (info["displayWidth"], info["displayHeight"]) == v.screen_size()
    assert info["currentPackageName"] == "com.llamatouch.notes"
    assert tuple(d.window_size()) == v.screen_size()
    cur = d.app_current()
    assert cur["package"] == "com.llamatouch.notes"
    assert cur["activity"] == v.foreground_activity().replace("/.", "/com.llamatouch.notes.").split(
        "/", 1)[1]


def test_dump_and_screenshot(session: AdbSession, d: uiautomator2.Device) -> None:
    v = session.virtual
    xml = d.dump_hierarchy()
    assert xml.encode("utf-8") == v.dump_xml()
    assert read_uiautomator_xml(xml, "u2").nodes
    img = d.screenshot()
    assert img.size == v.screen_size()
    from PIL import Image

    assert img.tobytes() == Image.open(io.BytesIO(v.screenshot_png())).convert(img.mode).tobytes()


def test_click_swipe_send_keys(session: AdbSession, d: uiautomator2.Device) -> None:
    v = session.virtual
    v.reset("com.llamatouch.notes")
    start = v.current_state
    d.click(948, 2118)  # "New note"
    assert v.current_state != start
    assert v.events[-1]["kind"] == "tap"
    obs = v.observe()
    field = next(n for n in obs.screen.nodes if n.editable)
    d.click(*field.bounds.center)
    n = len(v.typed_log)
    d.send_keys("Grüße; $(id)")
    assert v.typed_log[n:] == ["Grüße; $(id)"]
    d.swipe(540, 1800, 540, 600, duration=0.1)
    assert v.events[-1]["kind"] == "scroll"
    d.press("back")
    assert v.events[-1]["args"] == {"key": "back"}


def test_adb_forward_reaches_the_u2_server(session: AdbSession) -> None:
    """`adb forward tcp:LOCAL tcp:9008` (the real adb server listens on LOCAL and opens our
    tcp:9008 service per connection): plain HTTP from the host reaches the u2 server."""
    import json
    import socket

    from llamatouch_emulator.harness import free_port

    local = free_port()
    session.run_adb("forward", f"tcp:{local}", "tcp:9008")
    try:
        with socket.create_connection(("127.0.0.1", local), timeout=10) as c:
            c.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := c.recv(4096):
                data += chunk
        assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"\r\n\r\npong")
        body = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "deviceInfo"}).encode()
        with socket.create_connection(("127.0.0.1", local), timeout=10) as c:
            c.sendall(b"POST /jsonrpc/0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                      b"Content-Type: application/json\r\n"
                      + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            data = b""
            while chunk := c.recv(4096):
                data += chunk
        reply = json.loads(data.split(b"\r\n\r\n", 1)[1])
        assert reply["id"] == 7
        assert (reply["result"]["displayWidth"], reply["result"]["displayHeight"]) == \
            session.virtual.screen_size()
        # another device port is refused, as on a phone with nothing listening there
        other = free_port()
        session.run_adb("forward", f"tcp:{other}", "tcp:9999")
        with socket.create_connection(("127.0.0.1", other), timeout=10) as c:
            c.settimeout(10)
            assert c.recv(100) == b""
    finally:
        session.run_adb("forward", "--remove-all", check=False)
