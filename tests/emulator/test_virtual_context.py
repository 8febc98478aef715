"""Ambiguous recorded edges are resolved by their recorded context (fast, in-memory worlds).

One button on screen ``s`` was recorded leading to ``t1`` when the user came from ``a`` and
to ``t2`` when they came from ``b``; the device follows the edge whose recorded history
matches the states it has shown. Also: the ``context`` field round-trips and is validated,
and flagged tasks are left out of suites unless asked for.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from llamatouch.actions import Key, Tap
from llamatouch.errors import SchemaError
from llamatouch.tasks import Task, TaskSuite, load_suite
from llamatouch.ui.node import Bounds, UINode, UIScreen
from llamatouch.world import (
    TASK_EDGE,
    World,
    WorldApp,
    WorldState,
    WorldTransition,
    context_score,
    load_world,
)
from llamatouch_emulator.virtual import VirtualDevice

PKG = "com.x"


def _screen(*labels: str) -> UIScreen:
    root = UINode(0, class_name="android.widget.FrameLayout", package=PKG,
                  bounds=Bounds(0, 0, 1000, 2000), children=list(range(1, len(labels) + 1)))
    nodes = [root]
    for i, label in enumerate(labels, start=1):
        nodes.append(UINode(i, class_name="android.widget.Button", text=label, package=PKG,
                            clickable=True, parent=0,
                            bounds=Bounds(0, 100 * i, 1000, 100 * i + 90)))
    return UIScreen(nodes, activity=f"{PKG}/.Main")


def _tap(screen: UIScreen, i: int) -> dict[str, object]:
    n = screen.nodes[i]
    return {"action": "tap", "x": 500, "y": n.bounds.center[1], "element": screen.key(n)}


def _world() -> World:
    screens = {
        "home": _screen("To A", "To B"),
        "a": _screen("Next"),
        "b": _screen("Next"),
        "s": _screen("Open"),
        "t1": _screen("First"),
        "t2": _screen("Second"),
    }
    s = screens["s"]
    open_key = s.key(s.nodes[1])
    trans = [
        WorldTransition("home", "a", _tap(screens["home"], 1)),
        WorldTransition("home", "b", _tap(screens["home"], 2)),
        WorldTransition("a", "s", _tap(screens["a"], 1)),
        WorldTransition("b", "s", _tap(screens["b"], 1)),
        WorldTransition("s", "t1", _tap(s, 1), element_key=open_key, context=[["a", "s"]]),
        WorldTransition("s", "t2", _tap(s, 1), element_key=open_key, context=[["b", "s"]]),
    ]
    return World(
        name="ctx",
        home_state="home",
        apps=[WorldApp(PKG, "X", "home", f"{PKG}/.Main")],
        states={k: WorldState(k, f"{PKG}/.Main", PKG, 1000, 2000) for k in screens},
        transitions=trans,
        screens=screens,
    )


def _open(dev: VirtualDevice) -> str:
    s = dev.world.screen("s")
    dev.act(Tap(500, s.nodes[1].bounds.center[1], element=s.key(s.nodes[1])))
    return dev.current_state


@pytest.mark.parametrize("seed", range(6))
def test_the_recorded_previous_state_decides_an_ambiguous_edge(seed: int) -> None:
    world = _world()
    for via, expected in (("a", "t1"), ("b", "t2")):
        dev = VirtualDevice(world, seed=seed)
        dev.reset_to_state(via)
        dev.act(Tap(500, 145))  # "Next" -> s
        assert dev.current_state == "s"
        assert _open(dev) == expected
        # going back and opening again keeps the same history suffix (via -> s)
        dev.act(Key("back"))
        assert dev.current_state == "s"


def test_without_a_matching_context_the_seeded_choice_still_applies() -> None:
    world = _world()
    outcomes = set()
    for seed in range(12):
        dev = VirtualDevice(world, seed=seed)
        dev.reset_to_state("s")  # no history before s: both edges tie
        outcomes.add(_open(dev))
    assert outcomes == {"t1", "t2"}


def test_a_task_edge_whose_whole_path_was_shown_wins() -> None:
    world = _world()
    s = world.screen("s")
    world.transitions.append(
        WorldTransition("s", "t2", _tap(s, 1), element_key=s.key(s.nodes[1]),
                        event_type=TASK_EDGE, context=[["home", "a", "s"]])
    )
    dev = VirtualDevice(world)
    dev.reset_to_state("home")
    dev.act(Tap(500, 145))
    dev.act(Tap(500, 145))
    assert dev.current_state == "s"
    assert _open(dev) == "t2"  # the task's whole recorded path beats the event's suffix
    assert context_score(["home", "a", "s"], world.transitions[-1]) == 2
    assert context_score(["b", "s"], world.transitions[-1]) == 0


def test_context_round_trips_and_is_validated(tmp_path: Path) -> None:
    _world().save(tmp_path / "w")
    again = load_world(tmp_path / "w")
    assert [t.context for t in again.transitions if t.source == "s"] == [[["a", "s"]], [["b", "s"]]]
    manifest = json.loads((tmp_path / "w" / "world.json").read_text())
    assert "context" not in manifest["transitions"][0]  # empty contexts are not written
    manifest["transitions"][4]["context"] = [["a", "t1"]]  # does not end with the source
    (tmp_path / "w" / "world.json").write_text(json.dumps(manifest))
    with pytest.raises(SchemaError) as info:
        load_world(tmp_path / "w")
    assert info.value.field == "transitions[4].context[0]"


def test_flagged_tasks_are_left_out_unless_asked_for(tmp_path: Path) -> None:
    suite = TaskSuite("s", "", [
        Task("ok", PKG, "do it"),
        Task("bad", PKG, "do that", flagged="ground-truth replay diverges at step 2"),
    ])
    suite.save(tmp_path / "s.json")
    assert [t.id for t in load_suite(tmp_path / "s.json").tasks] == ["ok"]
    every = load_suite(tmp_path / "s.json", include_flagged=True)
    assert every.get("bad").flagged.startswith("ground-truth replay diverges")
    data = json.loads((tmp_path / "s.json").read_text())
    assert "flagged" not in data["tasks"][0] and data["tasks"][1]["flagged"]


def test_a_switch_with_no_recorded_edge_flips_in_place() -> None:
    screens = {"s": _screen("Dark theme")}
    row = screens["s"].nodes[1]
    switch = UINode(2, class_name="android.widget.Switch", text="Use dark theme OFF",
                    package=PKG, checkable=True, checked=False, parent=1,
                    bounds=Bounds(800, 110, 990, 180))
    screens["s"] = UIScreen([screens["s"].nodes[0], dataclasses.replace(row, children=[2]),
                             switch], activity=f"{PKG}/.Main")
    world = World("t", "s", [WorldApp(PKG, "X", "s")],
                  {"s": WorldState("s", f"{PKG}/.Main", PKG, 1000, 2000)}, [], screens=screens)
    dev = VirtualDevice(world)
    dev.reset_to_state("s")
    first = dev.act(Tap(500, 145))  # the row holding the switch
    served = dev.observe().screen
    assert first.detail.startswith("toggled") and served.nodes[2].checked is True
    assert served.nodes[2].text == "Use dark theme ON"
    dev.act(Tap(900, 145))  # the switch itself: back off
    assert dev.observe().screen.nodes[2].checked is False
    assert dev.current_state == "s"
