"""DroidBot event → typed action conversion, and the recorded-HTML element matcher."""

from __future__ import annotations

from typing import Any

from llamatouch.datasets.droidbot_common import convert_event, find_event_node, parse_am_start
from llamatouch.datasets.recorded_html import match_element, parse_recorded_html
from llamatouch.ui.node import UIScreen
from llamatouch.ui.xmlio import read_uiautomator_xml

_XML = """<?xml version='1.0' encoding='UTF-8' standalone='yes' ?><hierarchy rotation="0">
<node index="0" class="android.widget.FrameLayout" package="app" bounds="[0,0][1080,2280]">
 <node index="0" class="android.widget.RelativeLayout" package="app" clickable="true"
       resource-id="app:id/theme_holder" bounds="[0,200][1080,400]">
  <node index="0" class="android.widget.TextView" package="app" text="Theme"
        bounds="[40,220][600,300]" />
  <node index="1" class="android.widget.TextView" package="app" text="Dark"
        bounds="[40,300][600,380]" />
 </node>
 <node index="1" class="android.widget.EditText" package="app" text="Label"
       resource-id="app:id/label" clickable="true" bounds="[40,500][1040,600]" />
 <node index="2" class="android.widget.Button" package="app" text="OK" clickable="true"
       bounds="[800,2000][1000,2100]" />
 <node index="3" class="android.widget.Button" package="app" text="OK" clickable="true"
       bounds="[100,2000][300,2100]" />
</node></hierarchy>"""


def _screen() -> UIScreen:
    return read_uiautomator_xml(_XML.encode(), "unit.xml", width=1080, height=2280)


def _view(**kw: Any) -> dict[str, Any]:
    base = {
        "class": "android.widget.Button",
        "resource_id": None,
        "text": "OK",
        "bounds": [[800, 2000], [1000, 2100]],
    }
    base.update(kw)
    return base


def test_parse_recorded_html_keeps_ids_texts_and_checked() -> None:
    html = (
        "<button id=0 text='Search'></button>\n<p id=2>Diary</p>\n"
        "<checkbox id=1 checked=True>Text note</checkbox>\n<button id=3>Theme<br>Dark</button>\n"
        "<input id=4 >Label</input>\n<button id=5>go back</button>"
    )
    els = parse_recorded_html(html)
    assert [e.id for e in els] == [0, 2, 1, 3, 4, 5]
    assert els[0].texts == ("Search",) and els[0].tag == "button"
    assert els[2].checked is True and els[2].texts == ("Text note",)
    assert els[3].texts == ("Theme", "Dark")
    assert els[4].tag == "input" and els[4].texts == ("Label",)
    assert els[5].is_go_back and not els[3].is_go_back


def test_match_element_lifts_to_the_clickable_group_and_respects_tags() -> None:
    screen = _screen()
    els = parse_recorded_html(
        "<button id=0>Theme<br>Dark</button><input id=1 >Label</input>"
        "<button id=2>OK</button><button id=3>OK</button><p id=4>Theme</p>"
    )
    group = match_element(screen, els[0], els)
    assert group is not None and group.resource_id == "app:id/theme_holder"
    field = match_element(screen, els[1], els)
    assert field is not None and field.editable
    # two buttons with the same text: the occurrence among the recorded elements decides
    first_ok = match_element(screen, els[2], els)
    second_ok = match_element(screen, els[3], els)
    assert first_ok is not None and second_ok is not None and first_ok is not second_ok
    text = match_element(screen, els[4], els)
    assert text is not None and text.text == "Theme" and not text.clickable
    nothing = parse_recorded_html("<button id=0>Nowhere</button>")
    assert match_element(screen, nothing[0], nothing) is None


def test_convert_touch_long_touch_set_text_and_scroll() -> None:
    screen = _screen()
    tap = convert_event({"event_type": "touch", "view": _view()}, screen)
    assert tap.action == {"action": "tap", "x": 900, "y": 2050, "element": tap.element_key}
    assert tap.element_key is not None and tap.problem is None
    node = screen.node_by_key(tap.element_key)
    assert node is not None and node.bounds.left == 800
    long = convert_event({"event_type": "long_touch", "view": _view()}, screen)
    assert long.action is not None and long.action["action"] == "long_press"
    typed = convert_event(
        {
            "event_type": "set_text",
            "text": "hi",
            "view": _view(
                **{
                    "class": "android.widget.EditText",
                    "text": "Label",
                    "resource_id": "app:id/label",
                    "bounds": [[40, 500], [1040, 600]],
                }
            ),
        },
        screen,
    )
    assert typed.action is not None
    assert typed.action["action"] == "type" and typed.action["text"] == "hi"
    assert typed.element is not None and typed.element["resource_id"] == "app:id/label"
    scroll = convert_event({"event_type": "scroll", "direction": "DOWN", "view": _view()}, screen)
    assert scroll.action is not None and scroll.action["direction"] == "down"


def test_convert_keys_intents_and_stops() -> None:
    assert convert_event({"event_type": "key", "name": "BACK"}, None).action == {
        "action": "key",
        "key": "back",
    }
    bad_key = convert_event({"event_type": "key", "name": "FLY"}, None)
    assert bad_key.action is None and "FLY" in (bad_key.problem or "")
    start = convert_event({"event_type": "intent", "intent": "am start com.x/com.x.ui.Main"}, None)
    assert start.action == {"action": "open_app", "package": "com.x", "activity": "com.x/.ui.Main"}
    assert convert_event({"event_type": "kill_app"}, None).stop
    assert convert_event({"event_type": "intent", "intent": "am force-stop com.x"}, None).stop
    odd = convert_event({"event_type": "intent", "intent": "am broadcast foo"}, None)
    assert odd.action is None and odd.problem
    assert parse_am_start("am start -n com.a/.Main") == ("com.a", "com.a/.Main")
    assert parse_am_start("am force-stop com.a") is None


def test_event_view_not_on_screen_keeps_attributes_and_reports() -> None:
    gone = convert_event(
        {
            "event_type": "touch",
            "view": _view(text="Gone", bounds=[[1, 1], [3, 3]], **{"class": "X"}),
        },
        _screen(),
    )
    assert gone.action == {"action": "tap", "x": 2, "y": 2}
    assert gone.element_key is None and gone.element is not None
    assert gone.element["text"] == "Gone" and gone.problem
    assert find_event_node(_screen(), _view(bounds="garbage")) is not None  # by id/text/class
