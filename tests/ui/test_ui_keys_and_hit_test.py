"""Stable keys and hit-testing, on real DroidTask states and recorded events."""

from __future__ import annotations

import json
from pathlib import Path

from lxml import etree

from llamatouch.ui.node import UIScreen
from llamatouch.ui.xmlio import parse_xml_bytes, read_uiautomator_xml, write_uiautomator_xml

_NEW = (
    '<node index="9" text="inserted" resource-id="com.test:id/banner" '
    'class="android.widget.TextView" package="com.test" content-desc="" checkable="false" '
    'checked="false" clickable="true" enabled="true" focusable="false" focused="false" '
    'scrollable="false" long-clickable="false" password="false" selected="false" '
    'bounds="[0,0][10,10]" />'
)


def _with_inserted_node(screen: UIScreen, parent_index: int, position: int) -> UIScreen:
    """The same screen with one new node (a class/id used nowhere) inserted under a parent."""
    root = parse_xml_bytes(write_uiautomator_xml(screen), "orig")
    elements = list(root.iter("node"))  # pre-order, same order as screen.nodes
    elements[parent_index].insert(position, etree.fromstring(_NEW))
    return read_uiautomator_xml(etree.tostring(root), "changed")


def _keys_survive(screen: UIScreen, parent_index: int, position: int) -> None:
    changed = _with_inserted_node(screen, parent_index, position)
    assert len(changed) == len(screen) + 1
    inserted = changed.find(text="inserted")[0]
    old_keys = [screen.key(n) for n in screen.nodes]
    new_keys = [changed.key(n) for n in changed.nodes if n.index != inserted.index]
    assert new_keys == old_keys
    # every old key still names the node with the same content
    for old in screen.nodes:
        found = changed.node_by_key(screen.key(old))
        assert found is not None and found.bounds == old.bounds and found.text == old.text


def test_keys_are_unique_on_every_state(
    droidtask_states: list[tuple[Path, dict, UIScreen]],
) -> None:
    for path, _, screen in droidtask_states:
        keys = [screen.key(n) for n in screen.nodes]
        assert len(set(keys)) == len(keys), path
        assert all(k.startswith("/") for k in keys)


def test_keys_survive_an_unrelated_insertion(
    droidtask_states: list[tuple[Path, dict, UIScreen]],
) -> None:
    checked = 0
    for _, _, screen in droidtask_states[::40]:
        containers = [n for n in screen.nodes if n.children]
        # insert first, last and in the middle of several containers (elsewhere on the screen)
        for parent in (containers[0], containers[len(containers) // 2], containers[-1]):
            for position in (0, len(parent.children) // 2, len(parent.children)):
                _keys_survive(screen, parent.index, position)
                checked += 1
    assert checked >= 400


def test_keys_change_only_for_same_class_siblings_after_the_insertion(
    droidtask_states: list[tuple[Path, dict, UIScreen]],
) -> None:
    """A node of the same class and id inserted first shifts exactly those siblings' keys."""
    _, _, screen = droidtask_states[0]
    parent = next(n for n in screen.nodes if len(n.children) >= 2)
    first = screen.nodes[parent.children[0]]
    root = parse_xml_bytes(write_uiautomator_xml(screen), "orig")
    target = list(root.iter("node"))[parent.index]
    clone = etree.fromstring(etree.tostring(target[0]))
    for child in list(clone):
        clone.remove(child)
    target.insert(0, clone)
    changed = read_uiautomator_xml(etree.tostring(root), "changed")
    same_seg = [
        screen.nodes[c] for c in parent.children
        if screen.nodes[c].short_class == first.short_class
        and screen.nodes[c].short_id == first.short_id
    ]
    other = [screen.nodes[c] for c in parent.children if screen.nodes[c] not in same_seg]
    for node in other:  # siblings of another class keep their key and node
        found = changed.node_by_key(screen.key(node))
        assert found is not None and found.bounds == node.bounds


def test_hit_test_finds_the_recorded_click_targets(
    droidtask_dir: Path, screens_by_hash: dict[str, UIScreen]
) -> None:
    """The centre of each view clicked in a DroidTask event hits that view on its start state.

    When DroidBot recorded a click on a non-clickable view (a label inside a list row), the
    touch goes to the row: the hit is then the nearest clickable ancestor of the view.
    """
    exact = via_ancestor = total = 0
    misses: list[str] = []
    for path in sorted(droidtask_dir.glob("*/events/event_*.json")):
        try:
            event = json.loads(path.read_bytes())
        except json.JSONDecodeError:
            continue  # two event files of the corpus are empty; the importer reports them
        ev = event.get("event") or {}
        view = ev.get("view")
        if ev.get("event_type") != "click" or not view:
            continue
        screen = screens_by_hash.get(event.get("start_state", ""))
        if screen is None:
            continue
        (left, top), (right, bottom) = view["bounds"]
        nodes = [
            n for n in screen.nodes
            if (n.bounds.left, n.bounds.top, n.bounds.right, n.bounds.bottom)
            == (left, top, right, bottom)
            and n.class_name == view["class"]
            and n.visible
        ]
        if not nodes or right <= left or bottom <= top:
            continue  # the clicked view is not on the recorded start state (content drift)
        target = nodes[-1]
        total += 1
        hit = screen.hit_test((left + right) // 2, (top + bottom) // 2)
        if hit is not None and hit.index in {n.index for n in nodes}:
            exact += 1
        elif hit is not None and not view["clickable"] and any(
            a.index == hit.index for a in screen.ancestors(target)
        ):
            via_ancestor += 1
        else:
            misses.append(path.name)
    rate = (exact + via_ancestor) / total
    print(
        f"\nhit-test on recorded clicks: {total} clicks, {exact} hit the view itself, "
        f"{via_ancestor} its clickable ancestor, {len(misses)} missed ({rate:.2%})"
    )
    assert total >= 1300
    assert rate >= 0.99, misses[:10]
    assert exact >= 800
