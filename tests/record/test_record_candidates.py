"""The actions a screen offers to the explorer, and the avoid list."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from llamatouch.actions import Key, LongPress, Scroll, Tap, Type
from llamatouch.record.candidates import (
    CandidateOptions,
    avoid_pattern,
    candidates,
    is_avoided,
    touch_point,
)
from llamatouch.ui.node import Bounds, UINode, UIScreen, build_screen


def _screen() -> UIScreen:
    """A list screen: a clickable row with a label, a row holding a 'Delete' label, a delete
    button, a text field, a scrollable list, a long-clickable card and a bare label."""
    spec: list[tuple[int | None, dict[str, object]]] = [
        (None, {"class_name": "android.widget.FrameLayout", "bounds": Bounds(0, 0, 1080, 2400)}),
        (0, {"class_name": "android.widget.LinearLayout", "resource_id": "app:id/row",
             "clickable": True, "bounds": Bounds(0, 100, 1080, 300)}),
        (1, {"class_name": "android.widget.TextView", "text": "Open settings",
             "bounds": Bounds(20, 120, 600, 280)}),
        (0, {"class_name": "android.widget.LinearLayout", "resource_id": "app:id/row",
             "clickable": True, "bounds": Bounds(0, 300, 1080, 500)}),
        (3, {"class_name": "android.widget.TextView", "text": "Delete all notes",
             "bounds": Bounds(20, 320, 600, 480)}),
        (0, {"class_name": "android.widget.ImageButton", "content_desc": "delete",
             "clickable": True, "bounds": Bounds(900, 500, 1080, 680)}),
        (0, {"class_name": "android.widget.EditText", "resource_id": "app:id/title",
             "clickable": True, "bounds": Bounds(0, 700, 1080, 850)}),
        (0, {"class_name": "androidx.recyclerview.widget.RecyclerView", "scrollable": True,
             "bounds": Bounds(0, 900, 1080, 1900)}),
        (7, {"class_name": "android.widget.FrameLayout", "long_clickable": True,
             "clickable": True, "bounds": Bounds(0, 900, 1080, 1200)}),
        (0, {"class_name": "android.widget.TextView", "text": "Version 3",
             "bounds": Bounds(0, 2000, 1080, 2100)}),
        (0, {"class_name": "android.widget.TextView", "text": "hidden",
             "visible": False, "bounds": Bounds(0, 2100, 1080, 2200)}),
    ]
    nodes: list[UINode] = []
    for i, (parent, attrs) in enumerate(spec):
        node = UINode(index=i, parent=parent, **attrs)  # type: ignore[arg-type]
        if node.class_name.endswith("EditText"):
            node.editable = True
        nodes.append(node)
        if parent is not None:
            nodes[parent].children.append(i)
    return build_screen(nodes, width=1080, height=2400, activity="app/.Main")


def test_candidates_cover_every_kind_in_order_and_skip_the_avoided() -> None:
    screen = _screen()
    cands = candidates(screen, CandidateOptions(inputs=("hello", "42")))
    kinds = [type(c.action) for c in cands]
    # taps first, then long presses, typing, scrolls, leaf taps, back last
    assert kinds[-1] is Key and cands[-1].action == Key(key="back")
    tapped = {c.element_key for c in cands if isinstance(c.action, Tap)}
    row0 = screen.key(screen.nodes[1])
    assert row0 in tapped
    # the row whose label says "Delete all notes" and the button described "delete" are
    # never touched; the bare label "Version 3" is tapped as a leaf; hidden views never
    assert screen.key(screen.nodes[3]) not in tapped
    assert screen.key(screen.nodes[5]) not in tapped
    assert screen.key(screen.nodes[9]) in tapped
    assert screen.key(screen.nodes[10]) not in tapped
    types = [c for c in cands if isinstance(c.action, Type)]
    assert [c.action.text for c in types] == ["hello", "42"]  # type: ignore[attr-defined]
    assert all(c.event_type == "set_text" for c in types)
    scrolls = [c.action for c in cands if isinstance(c.action, Scroll)]
    assert sorted(s.direction for s in scrolls) == ["down", "left", "right", "up"]
    longs = [c for c in cands if isinstance(c.action, LongPress)]
    assert [c.element_key for c in longs] == [screen.key(screen.nodes[8])]
    order = [kinds.index(k) for k in (Tap, LongPress, Type, Scroll)]
    assert order == sorted(order)
    # the list depends only on the content (resume by index relies on it)
    assert [c.action for c in candidates(_screen(), CandidateOptions(inputs=("hello", "42")))] \
        == [c.action for c in cands]


def test_every_tap_point_reaches_its_own_view() -> None:
    screen = _screen()
    for c in candidates(screen, CandidateOptions()):
        if isinstance(c.action, Tap) and c.event_type == "touch":
            node = screen.node_by_key(c.element_key or "")
            assert node is not None
            hit = screen.hit_test(c.action.x, c.action.y)
            assert hit is node or (hit is None and not node.children)


def test_touch_point_avoids_a_covering_child() -> None:
    nodes = [
        UINode(0, class_name="android.widget.FrameLayout", clickable=True,
               bounds=Bounds(0, 0, 300, 300), children=[1]),
        UINode(1, class_name="android.widget.Button", clickable=True, parent=0,
               bounds=Bounds(100, 100, 200, 200)),
    ]
    screen = build_screen(nodes, width=300, height=300)
    x, y = touch_point(screen, nodes[0]) or (-1, -1)
    assert screen.hit_test(x, y) is nodes[0]
    assert touch_point(screen, nodes[1]) == (150, 150)


def test_an_empty_avoid_list_avoids_nothing() -> None:
    screen = _screen()
    assert avoid_pattern([]) is None and avoid_pattern(["  "]) is None
    tapped = {c.element_key for c in candidates(screen, CandidateOptions(avoid=()))
              if isinstance(c.action, Tap)}
    assert screen.key(screen.nodes[5]) in tapped and screen.key(screen.nodes[3]) in tapped


_WORD = st.text(alphabet=string.ascii_letters, min_size=1, max_size=10)
_SEP = st.text(alphabet=" .,:;!?()-'\"", min_size=0, max_size=3)


@given(word=_WORD, before=_SEP, after=_SEP, upper=st.booleans())
def test_avoid_matches_whole_words_in_any_case(word: str, before: str, after: str,
                                               upper: bool) -> None:
    pattern = avoid_pattern([word])
    assert pattern is not None
    label = before + (word.upper() if upper else word.lower()) + after
    assert pattern.search(label)
    # glued to other letters it is another word
    assert not pattern.search("x" + word.lower() + "x")


@given(word=_WORD, label=st.text(max_size=30))
def test_is_avoided_follows_the_pattern_on_a_single_view(word: str, label: str) -> None:
    node = UINode(0, class_name="android.widget.Button", clickable=True, text=label,
                  bounds=Bounds(0, 0, 10, 10))
    screen = build_screen([node], width=10, height=10)
    pattern = avoid_pattern([word])
    assert pattern is not None
    assert is_avoided(screen, node, pattern) == bool(pattern.search(label))
