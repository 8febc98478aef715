"""Every call of uiautomator2's element API (``d(...)``) and ``open_notification`` through the
real client, real adb server and our u2 server on the demo world: one test per call, so
``pytest -v`` of this file is the "calls working" figure of docs/devices.md."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import adbutils
import pytest
import uiautomator2

from llamatouch_emulator.harness import AdbSession

pytestmark = pytest.mark.slow

CLOCK, NOTES, CONTACTS = "com.llamatouch.clock", "com.llamatouch.notes", "com.llamatouch.contacts"
BODY, TITLE = f"{NOTES}:id/note_body_input", f"{NOTES}:id/note_title_input"
SWITCH = "android.widget.Switch"


@pytest.fixture(scope="module")
def env() -> Iterator[tuple[AdbSession, uiautomator2.Device]]:
    with AdbSession.for_world("demo") as s:
        dev = adbutils.AdbClient(host="127.0.0.1", port=s.adb_port).device(s.serial)
        yield s, uiautomator2.connect(dev)


Call = Callable[[uiautomator2.Device, Any], Any]
#: (name, app to start in, "new note" opened first, call returning a truthy value on success)
CALLS: list[tuple[str, str, bool, Call]] = [
    ("exists", CLOCK, False, lambda d, v: d(text="8:30 AM").exists),
    ("exists(timeout)", CLOCK, False, lambda d, v: d(text="8:30 AM").exists(timeout=0.2)),
    ("click", NOTES, False, lambda d, v: d(description="New note").click() is None
     and v.current_state == "notes_editor_new"),
    ("click_exists", NOTES, False, lambda d, v: d(description="New note").click_exists(0.2)),
    ("long_click", CLOCK, False, lambda d, v: d(text="8:30 AM").long_click() is None
     and v.events[-1]["kind"] == "long_press"),
    ("get_text", CLOCK, False, lambda d, v: d(text="8:30 AM").get_text() == "8:30 AM"),
    ("set_text", NOTES, True, lambda d, v: d(resourceId=BODY).set_text("hi")
     and d(resourceId=BODY).get_text() == "hi"),
    ("clear_text", NOTES, True, lambda d, v: d(resourceId=TITLE).clear_text() is None
     and d(resourceId=TITLE).get_text() == ""),
    ("wait", CLOCK, False, lambda d, v: d(text="8:30 AM").wait(timeout=0.5)),
    ("wait_gone", CLOCK, False, lambda d, v: d(text="nothing").wait_gone(timeout=0.5)),
    ("count", CLOCK, False, lambda d, v: d(className=SWITCH).count == 2),
    ("len", CLOCK, False, lambda d, v: len(d(className=SWITCH)) == 2),
    ("info", CLOCK, False, lambda d, v: d(text="8:30 AM").info["text"] == "8:30 AM"),
    ("info_list", CLOCK, False, lambda d, v: len(d(className=SWITCH).info_list()) == 2),
    ("instance=", CLOCK, False, lambda d, v: d(text="Alarm", instance=1).info["resourceName"]
     == f"{CLOCK}:id/tab_label"),
    ("[i]", CLOCK, False, lambda d, v: d(className=SWITCH)[1].get_text() == "OFF"),
    ("iterate", CLOCK, False, lambda d, v: [o.get_text() for o in d(className=SWITCH)]
     == ["ON", "OFF"]),
    ("child", CLOCK, False, lambda d, v: d(resourceId=f"{CLOCK}:id/alarm_row", instance=1)
     .child(className=SWITCH).get_text() == "OFF"),
    ("sibling", CLOCK, False, lambda d, v: d(text="8:30 AM").sibling(className=SWITCH)
     .get_text() == "OFF"),
    ("right", CLOCK, False, lambda d, v: d(text="8:30 AM").right(className=SWITCH)
     .get_text() == "OFF"),
    ("scroll.to", CONTACTS, False, lambda d, v: d(scrollable=True).scroll.to(text="Olivia Owens")),
    ("scroll.forward", CONTACTS, False, lambda d, v: d(scrollable=True).scroll.forward()),
    ("scroll.backward", CONTACTS, False, lambda d, v: d(scrollable=True).scroll.forward()
     and d(scrollable=True).scroll.backward()),
    ("scroll.toEnd", CONTACTS, False, lambda d, v: d(scrollable=True).scroll.toEnd()
     and v.current_state == "contacts_list_scrolled"),
    ("scroll.toBeginning", CONTACTS, False, lambda d, v: d(scrollable=True).scroll.toEnd()
     and d(scrollable=True).scroll.toBeginning() and v.current_state == "contacts_list"),
    ("fling.forward", CONTACTS, False, lambda d, v: d(scrollable=True).fling.forward()),
    ("fling.toEnd", CONTACTS, False, lambda d, v: d(scrollable=True).fling.toEnd()
     and v.current_state == "contacts_list_scrolled"),
    ("swipe(direction)", CONTACTS, False, lambda d, v: d(scrollable=True).swipe("up") is None
     and v.current_state == "contacts_list_scrolled"),
    ("drag_to", CLOCK, False, lambda d, v: d(text="8:30 AM").drag_to(500, 1500, duration=0.1)),
    ("child_by_text", CLOCK, False, lambda d, v: d(resourceId=f"{CLOCK}:id/list")
     .child_by_text("8:30 AM", resourceId=f"{CLOCK}:id/alarm_row").info["bounds"]["top"] == 516),
    ("child_by_text(scroll)", CONTACTS, False, lambda d, v: d(scrollable=True).child_by_text(
        "Olivia Owens", allow_scroll_search=True, resourceId=f"{CONTACTS}:id/contact_row")
     .info["childCount"] >= 1 and v.current_state == "contacts_list_scrolled"),
    ("child_by_description", CLOCK, False, lambda d, v: d(resourceId=f"{CLOCK}:id/tabs")
     .child_by_description("Timer", className="android.widget.LinearLayout")
     .info["bounds"]["left"] == 540),
    ("child_by_instance", CLOCK, False, lambda d, v: d(resourceId=f"{CLOCK}:id/list")
     .child_by_instance(1, resourceId=f"{CLOCK}:id/alarm_row").info["bounds"]["top"] == 516),
    ("open_notification", CLOCK, False, lambda d, v: d.open_notification()
     and v.events[-1]["kind"] == "key"),
]


@pytest.mark.parametrize("name,app,new_note,call", CALLS, ids=[c[0] for c in CALLS])
def test_call_works(env: tuple[AdbSession, uiautomator2.Device], name: str, app: str,
                    new_note: bool, call: Call) -> None:
    s, d = env
    s.virtual.reset(app)
    if new_note:
        d.click(948, 2118)
    assert call(d, s.virtual), name
