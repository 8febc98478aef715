"""LlamaTouch formats: ``.vh`` view hierarchies, ``<i>.json`` component lists."""

from __future__ import annotations

import json
from pathlib import Path

from llamatouch.datasets.llamatouch_vh import (
    COMPONENT_ROOT_CLASS,
    read_component_list,
    read_vh_file,
)
from llamatouch.ui.components import (
    component_at,
    component_list,
    components_json,
    is_component,
    match_components,
)
from llamatouch.ui.droidbot import screen_from_droidbot
from llamatouch.ui.node import Bounds, UINode, UIScreen, build_screen


def test_vh_reader_on_real_views(
    tmp_path: Path, droidtask_states: list[tuple[Path, dict, UIScreen]]
) -> None:
    """A ``.vh`` file is DroidBot's view list (``null`` for missing strings, ``size`` ...)."""
    for i, (path, raw, screen) in enumerate(droidtask_states[::150]):
        vh = tmp_path / f"{i}.vh"
        vh.write_text(json.dumps(raw["views"]), encoding="utf-8")
        (tmp_path / f"{i}.activity").write_text(raw["foreground_activity"] + "\n")
        got = read_vh_file(vh, width=raw["width"], height=raw["height"])
        assert got.same_content(screen), path
        assert got.activity == raw["foreground_activity"]
        assert got.source == str(vh)
    assert any(v.get("text") is None for v in droidtask_states[0][1]["views"])


def test_real_component_list_reads_and_writes_back(llamatouch_data_dir: Path) -> None:
    path = llamatouch_data_dir / "cases" / "img_case1" / "2.json"
    original = json.loads(path.read_bytes())
    screen = read_component_list(path)
    assert screen.nodes[0].class_name == COMPONENT_ROOT_CLASS
    assert len(screen) == len(original) + 1 == 36
    assert screen.nodes[1].content_desc == "Learning 2131888976"
    assert screen.nodes[1].bounds == Bounds(0, 63, 165, 189)
    assert screen.nodes[1].clickable and not screen.nodes[2].clickable
    # our component list of that screen is the file again, key for key, in the same order
    ours = components_json(screen)
    assert [list(c) for c in ours] == [list(c) for c in original]
    assert ours == original
    # and each entry of the file matches back to its own node
    matched = match_components(screen, original)
    assert [n.index if n else None for n in matched] == list(range(1, 36))


def test_component_lists_of_all_states_match_back(
    droidtask_states: list[tuple[Path, dict, UIScreen]],
) -> None:
    total = 0
    for path, _, screen in droidtask_states:
        comps = component_list(screen)
        assert [c.index for c in comps] == list(range(len(comps))), path
        assert [c.node.index for c in comps] == sorted(c.node.index for c in comps)
        for c in comps:
            n = c.node
            assert n.visible and (not n.children or n.text.strip() or n.content_desc.strip())
        as_json = json.loads(json.dumps([c.to_json() for c in comps]))
        matched = match_components(screen, as_json)
        assert [n.index if n else None for n in matched] == [c.node.index for c in comps], path
        total += len(comps)
    assert total > 30_000  # 37,377 components over the 2,240 states


def _n(i: int, parent: int | None, cls: str, **kw: object) -> UINode:
    node = UINode(index=i, parent=parent, class_name=cls, bounds=Bounds(0, i, 100, i + 50))
    for k, v in kw.items():
        setattr(node, k, v)
    return node


def test_selection_rule() -> None:
    """The rule read off LlamaTouch's trace_18 fixture, on a tree of the same shape."""
    nodes = [
        _n(0, None, "android.widget.FrameLayout", children=[1, 2, 4, 7, 9]),
        _n(1, 0, "android.view.View", visible=False),  # invisible leaf: out
        _n(2, 0, "android.widget.EditText", text="query", clickable=True, children=[3]),
        _n(3, 2, "android.widget.ImageButton", content_desc="Navigate up", clickable=True),
        _n(4, 0, "android.widget.LinearLayout", clickable=True, children=[5, 6]),  # no label
        _n(5, 4, "android.widget.ImageView"),  # unlabelled leaf: in
        _n(6, 4, "android.widget.TextView", text="Title"),
        _n(7, 0, "android.widget.LinearLayout", content_desc="Sources", children=[8]),
        _n(8, 7, "android.widget.TextView", text="Sources"),
        _n(9, 0, "android.widget.FrameLayout"),  # an empty divider: out
    ]
    screen = build_screen(nodes, width=100, height=100)
    comps = component_list(screen)
    assert [c.node.index for c in comps] == [2, 3, 5, 6, 7, 8]
    assert not is_component(nodes[4]) and not is_component(nodes[1])
    assert not is_component(nodes[9])
    assert comps[0].to_json()["bounds"] == "[0,2][100,52]"
    hit = component_at(comps, 10, 9)
    assert hit is not None and hit.node.index in {6, 7, 8}


def test_match_prefers_closest_bounds_and_uses_each_node_once() -> None:
    nodes = [_n(0, None, "F", children=[1, 2])]
    nodes += [_n(1, 0, "T", text="row"), _n(2, 0, "T", text="row")]
    nodes[2].bounds = Bounds(0, 500, 100, 550)
    screen = build_screen(nodes, width=100, height=600)
    entries = [
        {"class": "T", "text": "row", "bounds": "[0,498][100,548]"},
        {"class": "T", "text": "row", "bounds": "[0,0][100,50]"},
        {"class": "T", "text": "row", "bounds": "[0,0][100,50]"},
        {"class": "T", "text": "gone", "bounds": "[0,0][1,1]"},
    ]
    got = match_components(screen, entries)
    assert [n.index if n else None for n in got] == [2, 1, None, None]


def test_droidbot_and_component_screens_agree_on_geometry(
    droidtask_states: list[tuple[Path, dict, UIScreen]], tmp_path: Path
) -> None:
    """components -> <i>.json file -> reader: same labels and bounds, in order."""
    path, raw, screen = droidtask_states[10]
    out = tmp_path / "0.json"
    out.write_text(json.dumps(components_json(screen)), encoding="utf-8")
    back = read_component_list(out, width=screen.width, height=screen.height)
    comps = component_list(screen)
    assert [(n.bounds, n.label()) for n in back.nodes[1:]] == [
        (c.node.bounds, c.node.label()) for c in comps
    ]
    assert back.width == screen.width and screen_from_droidbot(raw, path).same_content(screen)
