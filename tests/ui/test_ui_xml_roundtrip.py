"""XML reading / writing: lossless round trips on all real DroidTask states and a real dump."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from llamatouch.ui.node import FLAG_NAMES, Bounds, UINode, UIScreen, build_screen
from llamatouch.ui.xmlio import (
    read_uiautomator_file,
    read_uiautomator_xml,
    write_uiautomator_xml,
)


def test_every_droidtask_state_round_trips(
    droidtask_states: list[tuple[Path, dict, UIScreen]],
) -> None:
    """DroidBot JSON -> model -> XML -> model -> XML: same model, identical XML."""
    for path, raw, screen in droidtask_states:
        xml1 = write_uiautomator_xml(screen)
        back = read_uiautomator_xml(
            xml1, path, width=screen.width, height=screen.height, activity=screen.activity
        )
        assert back.same_content(screen), path
        assert write_uiautomator_xml(back) == xml1, path
        # and the JSON had what the model holds
        assert len(back) == len(raw["views"]), path


def test_round_trip_keeps_rich_fields(
    droidtask_states: list[tuple[Path, dict, UIScreen]],
) -> None:
    """The corpus exercises what can get lost: texts with '&', newlines, invisible nodes."""
    amp = newline = invisible = editable = 0
    for _, _, screen in droidtask_states:
        for n in screen.nodes:
            amp += "&" in n.text or "&" in n.content_desc
            newline += "\n" in n.text
            invisible += not n.visible
            editable += n.editable
    assert amp and newline and invisible and editable


def test_real_click_case_dump_round_trips(click_case_xml: Path) -> None:
    screen = read_uiautomator_file(click_case_xml)
    assert len(screen) > 10
    # no size given: derived from the roots (this dump is a dialog window at [157,569][922,1286])
    assert (screen.width, screen.height) == (922, 1286)
    assert any(n.text for n in screen.nodes)
    xml = write_uiautomator_xml(screen)
    again = read_uiautomator_xml(xml, "again")
    assert again.same_content(screen)
    assert write_uiautomator_xml(again) == xml
    # the original dump's attributes survive: compare node by node with the file's nodes
    assert [n.bounds for n in again.nodes] == [n.bounds for n in screen.nodes]
    assert screen.nodes[0].package == "com.google.android.apps.maps"


def test_unknown_attributes_and_non_node_elements() -> None:
    doc = (
        b'<?xml version="1.0"?><hierarchy rotation="1">'
        b'<node index="0" class="a.B" foo="x&amp;y" bounds="[0,0][100,200]">'
        b'<other><node class="hidden" bounds="[1,1][2,2]"/></other>'
        b'<node index="1" class="a.C" enabled="false" hint="Type" bounds="[0,0][50,50]"/>'
        b"</node></hierarchy>"
    )
    screen = read_uiautomator_xml(doc, "mem")
    assert [n.class_name for n in screen.nodes] == ["a.B", "a.C"]
    assert screen.nodes[0].extra == {"foo": "x&y"}
    assert screen.nodes[1].enabled is False and screen.nodes[1].hint == "Type"
    assert screen.rotation == 1 and screen.nodes[1].parent == 0
    again = read_uiautomator_xml(write_uiautomator_xml(screen), "again")
    assert again.same_content(screen)


_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"),
    max_size=30,
).filter(lambda s: all(ord(c) >= 0x20 or c in "\n\t" for c in s))


@settings(max_examples=150, deadline=None)
@given(
    texts=st.lists(st.tuples(_text, _text, _text), min_size=1, max_size=6),
    flags=st.lists(st.booleans(), min_size=len(FLAG_NAMES), max_size=len(FLAG_NAMES)),
)
def test_round_trip_of_arbitrary_texts(
    texts: list[tuple[str, str, str]], flags: list[bool]
) -> None:
    """Any attribute text (entities, quotes, '&#38;', tabs, newlines, unicode) survives."""
    nodes = [UINode(index=0, class_name="android.widget.FrameLayout", bounds=Bounds(0, 0, 9, 9))]
    for i, (text, desc, rid) in enumerate(texts, start=1):
        node = UINode(
            index=i,
            parent=0,
            sibling_index=i - 1,
            class_name="android.widget.TextView",
            text=text,
            content_desc=desc,
            resource_id=rid,
            bounds=Bounds(i, i, i + 5, i + 5),
        )
        for name, value in zip(FLAG_NAMES, flags, strict=True):
            setattr(node, name, value)
        nodes.append(node)
        nodes[0].children.append(i)
    screen = build_screen(nodes, width=9, height=9)
    back = read_uiautomator_xml(write_uiautomator_xml(screen), "h", width=9, height=9)
    assert back.same_content(screen)
