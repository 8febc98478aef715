"""Task suites and world folders: loading validates and names the file and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llamatouch.errors import JsonFormatError, SchemaError
from llamatouch.tasks import Task, TaskSuite, load_suite
from llamatouch.ui.node import Bounds, UINode, UIScreen
from llamatouch.world import World, WorldApp, WorldState, WorldTransition, load_world


def _screen(text: str) -> UIScreen:
    root = UINode(
        0,
        class_name="android.widget.FrameLayout",
        package="com.x",
        bounds=Bounds(0, 0, 100, 200),
        children=[1],
    )
    button = UINode(
        1,
        class_name="android.widget.Button",
        text=text,
        package="com.x",
        clickable=True,
        parent=0,
        bounds=Bounds(10, 10, 90, 50),
    )
    return UIScreen([root, button], activity="com.x/.Main")


def test_suite_round_trip(tmp_path: Path) -> None:
    suite = TaskSuite(
        "s", "demo", [Task("t1", "com.x", "do it", gt_actions=[{"action": "finish"}])]
    )
    suite.save(tmp_path / "s.json")
    again = load_suite(tmp_path / "s.json")
    assert again.get("t1").gt_actions == [{"action": "finish"}]
    assert again.world == "demo"
    with pytest.raises(KeyError):
        again.get("nope")


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda d: d.update(schema="other/9"), "schema"),
        (lambda d: d["tasks"][0].pop("instruction"), "tasks[0].instruction"),
        (lambda d: d["tasks"].append(dict(d["tasks"][0])), "tasks[1].id"),
        (lambda d: d["tasks"][0].update(colour="red"), "tasks[0]"),
    ],
)
def test_suite_errors_name_the_field(tmp_path: Path, mutate, field: str) -> None:  # type: ignore[no-untyped-def]
    data = TaskSuite("s", "", [Task("t1", "com.x", "do it")]).to_json()
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SchemaError) as info:
        load_suite(path)
    assert info.value.field == field
    assert str(path) in str(info.value)


def test_suite_malformed_json_names_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"schema": ')
    with pytest.raises(JsonFormatError, match=r"broken\.json"):
        load_suite(path)


def _world() -> World:
    return World(
        name="w",
        home_state="",
        apps=[WorldApp("com.x", "X", "s1", "com.x/.Main")],
        states={
            "s1": WorldState("s1", "com.x/.Main", "com.x", 100, 200),
            "s2": WorldState("s2", "com.x/.Main", "com.x", 100, 200),
        },
        transitions=[WorldTransition("s1", "s2", {"action": "tap", "x": 50, "y": 30})],
        screens={"s1": _screen("Go"), "s2": _screen("Done")},
    )


def test_world_save_and_load(tmp_path: Path) -> None:
    _world().save(tmp_path / "w")
    again = load_world(tmp_path / "w")
    assert set(again.states) == {"s1", "s2"}
    assert again.screen("s2").nodes[1].text == "Done"
    assert again.outgoing("s1")[0].target == "s2"
    assert again.screenshot("s1") is None


def test_world_errors_name_the_field(tmp_path: Path) -> None:
    _world().save(tmp_path / "w")
    manifest = tmp_path / "w" / "world.json"
    data = json.loads(manifest.read_text())
    data["transitions"][0]["target"] = "ghost"
    manifest.write_text(json.dumps(data))
    with pytest.raises(SchemaError) as info:
        load_world(tmp_path / "w")
    assert info.value.field == "transitions[0].target"
    data["transitions"][0]["target"] = "s2"
    data["states"][0]["id"] = "../evil"
    data["apps"][0]["start_state"] = "../evil"
    manifest.write_text(json.dumps(data))
    with pytest.raises(SchemaError, match="unsafe id"):
        load_world(tmp_path / "w")
