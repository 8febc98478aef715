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


# -- the element API (selectors), through the real client ------------------------------------
CLOCK = "com.llamatouch.clock"
NOTES = "com.llamatouch.notes"


def _at(session: AdbSession, package: str) -> None:
    session.virtual.reset(package)


def test_selector_exists_count_info(session: AdbSession, d: uiautomator2.Device) -> None:
    _at(session, CLOCK)
    assert d(text="8:30 AM").exists
    assert not d(text="9:99 PM").exists
    assert d(text="8:30 AM").exists(timeout=0.2)
    assert d(className="android.widget.Switch").count == 2
    assert len(d(resourceId=f"{CLOCK}:id/alarm_row")) == 2
    assert d(textContains="30 a").count == 1  # textContains ignores case, like UiSelector
    assert d(textMatches=r"\d:\d\d AM").count == 2
    assert d(descriptionStartsWith="add").exists
    assert d(text="Alarm", clickable=True).count == 0 and d(text="Alarm").count == 2
    info = d(text="8:30 AM").info
    assert info["text"] == "8:30 AM" and info["resourceName"] == f"{CLOCK}:id/alarm_time"
    assert info["bounds"] == {"left": 48, "top": 540, "right": 864, "bottom": 648}
    assert info["visibleBounds"] == info["bounds"] and info["childCount"] == 0
    assert info["className"] == "android.widget.TextView" and info["packageName"] == CLOCK
    infos = d(resourceId=f"{CLOCK}:id/alarm_time").info_list()
    assert [i["text"] for i in infos] == ["7:00 AM", "8:30 AM"]
    with pytest.raises(uiautomator2.UiObjectNotFoundError):
        _ = d(text="no such text").info


def test_selector_instance_child_sibling(session: AdbSession, d: uiautomator2.Device) -> None:
    _at(session, CLOCK)
    assert d(text="Alarm", instance=1).info["resourceName"] == f"{CLOCK}:id/tab_label"
    assert d(text="Alarm")[0].info["resourceName"] == f"{CLOCK}:id/toolbar_title"
    assert d(className="android.widget.Switch")[-1].get_text() == "OFF"
    assert [o.get_text() for o in d(resourceId=f"{CLOCK}:id/alarm_time")] == \
        ["7:00 AM", "8:30 AM"]
    row = d(resourceId=f"{CLOCK}:id/alarm_row", instance=1)
    assert row.child(resourceId=f"{CLOCK}:id/alarm_time").get_text() == "8:30 AM"
    assert row.child(className="android.widget.Switch").info["checked"] is False
    # instance on a child stage (obj[n] puts it on the last stage)
    assert d(resourceId=f"{CLOCK}:id/list").child(className="android.widget.Switch")[0] \
        .get_text() == "ON"
    switch = d(text="8:30 AM").sibling(className="android.widget.Switch")
    assert switch.get_text() == "OFF" and switch.count == 1
    assert d(text="7:00 AM").sibling(resourceId=f"{CLOCK}:id/days").exists
    assert not d(text="7:00 AM").sibling(text="8:30 AM").exists  # another row: not a sibling
    assert d(resourceId=f"{CLOCK}:id/tabs").child(index=2).info["contentDescription"] == "Timer"


def test_selector_click_and_wait(session: AdbSession, d: uiautomator2.Device) -> None:
    v = session.virtual
    _at(session, NOTES)
    assert d(description="New note").wait(timeout=0.5)
    d(description="New note").click()
    assert v.current_state == "notes_editor_new"
    assert d(description="New note").wait_gone(timeout=0.5)
    assert not d(description="New note").wait(timeout=0.3)
    with pytest.raises(uiautomator2.UiObjectNotFoundError):
        d(text="nowhere").click(timeout=0.2)
    d.press("back")
    assert d(text="Shopping list").wait(timeout=0.5)
    assert not d(text="Shopping list").wait(exists=False, timeout=0.3)
    d(text="Shopping list").click()
    assert v.current_state == "notes_view_shopping"


def test_selector_wait_sees_a_change_made_meanwhile(session: AdbSession,
                                                    d: uiautomator2.Device) -> None:
    import threading

    v = session.virtual
    _at(session, NOTES)
    timer = threading.Timer(0.3, lambda: session.run_adb("shell", "input", "tap", "948", "2118"))
    timer.start()
    try:
        assert d(resourceId=f"{NOTES}:id/note_title_input").wait(timeout=10)
    finally:
        timer.join()
    assert v.current_state == "notes_editor_new"


def test_selector_set_get_clear_text(session: AdbSession, d: uiautomator2.Device) -> None:
    v = session.virtual
    _at(session, NOTES)
    d(description="New note").click()
    title = d(resourceId=f"{NOTES}:id/note_title_input")
    body = d(resourceId=f"{NOTES}:id/note_body_input")
    assert body.set_text("call; $(rm -rf /) `id`") is True
    assert body.get_text() == "call; $(rm -rf /) `id`"
    body.clear_text()
    assert body.get_text() == ""
    title.set_text("Buy milk")  # the world records this typing: the device follows it
    assert v.current_state == "notes_editor_buy_milk"
    assert d(resourceId=f"{NOTES}:id/note_title_input").get_text() == "Buy milk"
    assert d(description="Save").set_text("x") is False  # not editable
    ran = [r.argv[0] for r in session.server.shell.exec_log] if session.server else []
    assert "rm" not in ran and "id" not in ran  # typed text never reached a shell


def test_selector_scroll(session: AdbSession, d: uiautomator2.Device) -> None:
    v = session.virtual
    _at(session, "com.llamatouch.contacts")
    lst = d(scrollable=True)
    assert not d(text="Olivia Owens").exists
    assert lst.scroll.to(text="Olivia Owens") is True
    assert v.current_state == "contacts_list_scrolled" and d(text="Olivia Owens").exists
    assert lst.scroll.to(text="Alice Brown") is True  # back up
    assert v.current_state == "contacts_list"
    assert lst.scroll.to(text="Nobody Here") is False
    _at(session, "com.llamatouch.contacts")
    assert lst.scroll.forward() is True and v.current_state == "contacts_list_scrolled"
    assert lst.scroll.forward() is False  # at the end
    assert lst.scroll.backward() is True and v.current_state == "contacts_list"
    lst.scroll.toEnd()
    assert v.current_state == "contacts_list_scrolled"
    lst.scroll.toBeginning()
    assert v.current_state == "contacts_list"
    assert lst.fling.forward() is True and v.current_state == "contacts_list_scrolled"
    lst.fling.toBeginning()
    assert v.current_state == "contacts_list"
    assert lst.scroll.vert.forward(steps=20) is True
    with pytest.raises(uiautomator2.UiObjectNotFoundError):
        d(text="no list", scrollable=True).scroll.forward()


def test_open_notification_and_bad_selectors(session: AdbSession,
                                             d: uiautomator2.Device) -> None:
    v = session.virtual
    _at(session, CLOCK)
    d.open_notification()
    assert v.events[-1]["kind"] == "key" and v.events[-1]["args"]["key"] in (
        "notification", "keycode_83")
    from uiautomator2.exceptions import RPCUnknownError

    bad = {"mask": 1, "childOrSibling": [], "childOrSiblingSelector": []}  # text bit, no text
    with pytest.raises(RPCUnknownError, match="-32602"):
        d.jsonrpc.exist(bad)
    with pytest.raises(RPCUnknownError, match="-32602"):
        d.jsonrpc.exist({"mask": 4, "textMatches": "(", "childOrSibling": [],
                         "childOrSiblingSelector": []})


def test_many_waits_do_not_block_the_inputs_that_end_them(session: AdbSession,
                                                          d: uiautomator2.Device) -> None:
    """Ten clients wait for the editor at once (more than the server's command slots): the
    tap that opens it still runs, and every wait sees it."""
    from concurrent.futures import ThreadPoolExecutor

    _at(session, NOTES)
    target = d(resourceId=f"{NOTES}:id/note_title_input")
    with ThreadPoolExecutor(10) as pool:
        waits = [pool.submit(target.wait, timeout=20) for _ in range(10)]
        import time

        time.sleep(0.5)
        session.run_adb("shell", "input", "tap", "948", "2118", timeout=10)
        assert all(w.result(timeout=30) for w in waits)
