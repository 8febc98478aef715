"""Selector parsing and resolution (llamatouch_emulator.u2selector) on the demo world's
hierarchies, without adb; the wire path is tested in test_u2_server_e2e.py."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llamatouch.ui.node import UIScreen
from llamatouch.ui.xmlio import read_uiautomator_xml
from llamatouch_emulator.u2selector import (
    MASK_BITS,
    SelectorError,
    find_all,
    obj_info,
    parse_selector,
    visible_bounds,
)
from llamatouch_emulator.virtual import VirtualDevice
from llamatouch_emulator.worlds import load_named_world


def sel(**kw: Any) -> dict[str, Any]:
    """What uiautomator2's ``Selector(**kw)`` serialises to."""
    mask = 0
    for k in kw:
        mask |= MASK_BITS[k]
    return {"mask": mask, "childOrSibling": [], "childOrSiblingSelector": [], **kw}


def chain(base: dict[str, Any], *links: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    out = dict(base)
    out["childOrSibling"] = [rel for rel, _ in links]
    out["childOrSiblingSelector"] = [s for _, s in links]
    return out


@pytest.fixture(scope="module")
def clock() -> UIScreen:
    dev = VirtualDevice(load_named_world("demo"))
    dev.reset("com.llamatouch.clock")
    return read_uiautomator_xml(dev.dump_xml(), "clock")


def texts(screen: UIScreen, raw: dict[str, Any]) -> list[str]:
    return [n.text for n in find_all(screen, parse_selector(raw))]


def test_criteria(clock: UIScreen) -> None:
    assert texts(clock, sel(text="8:30 AM")) == ["8:30 AM"]
    assert texts(clock, sel(textMatches=r"\d:\d\d AM")) == ["7:00 AM", "8:30 AM"]
    assert texts(clock, sel(textStartsWith="8:30 a")) == ["8:30 AM"]
    assert texts(clock, sel(className="android.widget.Switch")) == ["ON", "OFF"]
    assert texts(clock, sel(className="android.widget.Switch", checked=False)) == ["OFF"]
    assert texts(clock, sel(text="Alarm", instance=1)) == ["Alarm"]
    assert len(find_all(clock, parse_selector(sel(text="Alarm")))) == 2
    assert find_all(clock, parse_selector(sel(text="Alarm", instance=5))) == []
    tabs = parse_selector(chain(sel(resourceId="com.llamatouch.clock:id/tabs"),
                                ("child", sel(index=3))))
    assert [n.content_desc for n in find_all(clock, tabs)] == ["Stopwatch"]


def test_sibling_excludes_the_node_and_stays_under_its_parent(clock: UIScreen) -> None:
    raw = chain(sel(text="8:30 AM"), ("sibling", sel()))
    got = texts(clock, raw)
    assert "8:30 AM" not in got and "OFF" in got and "ON" not in got


def test_info_matches_the_node(clock: UIScreen) -> None:
    node = find_all(clock, parse_selector(sel(text="8:30 AM")))[0]
    info = obj_info(clock, node)
    assert info["bounds"] == {"left": 48, "top": 540, "right": 864, "bottom": 648}
    assert visible_bounds(clock, node) == node.bounds


@pytest.mark.parametrize("raw", [
    [], "text", {"mask": "1"}, {"mask": 1}, {"mask": 1, "text": 3},
    {"mask": 4, "textMatches": "("}, {"mask": 0, "bogus": 1},
    {"mask": 0x01000000, "instance": -1}, {"mask": 0x1000, "clickable": "yes"},
    {"mask": 0, "childOrSibling": ["child"], "childOrSiblingSelector": []},
    {"mask": 0, "childOrSibling": ["parent"], "childOrSiblingSelector": [{"mask": 0}]},
])
def test_malformed_selectors_are_selector_errors(raw: Any) -> None:
    with pytest.raises(SelectorError):
        parse_selector(raw)


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 2**26) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from([*MASK_BITS, "mask", "childOrSibling", "childOrSiblingSelector", "x"]),
        inner, max_size=5),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(raw=_json)
def test_any_json_parses_or_is_a_selector_error(clock: UIScreen, raw: Any) -> None:
    try:
        parsed = parse_selector(raw)
    except SelectorError:
        return
    found = find_all(clock, parsed)
    assert [n.index for n in found] == sorted({n.index for n in found})
