"""The shipped demo world: committed files equal the builder's output; every demo task's
ground truth replays on the virtual device; faults and bad world files give typed errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from demo_builder import write_demo  # scripts/ (pytest pythonpath)

from llamatouch.actions import action_from_json
from llamatouch.errors import ActionError, DeviceGoneError, DumpError, SchemaError, XmlFormatError
from llamatouch.paths import tasks_dir
from llamatouch.tasks import load_suite
from llamatouch.ui.xmlio import read_uiautomator_xml
from llamatouch.world import load_world
from llamatouch_emulator.virtual import NULL_ROOT_ERROR, FaultConfig, VirtualDevice
from llamatouch_emulator.worlds import demo_world_dir, load_named_world

SUITE = load_suite("demo")


def test_committed_demo_equals_builder(tmp_path: Path) -> None:
    world, suite = write_demo(tmp_path / "w", tmp_path / "demo.json")
    assert len(world.states) >= 30 and len(suite.tasks) >= 10
    ours = sorted(p.relative_to(tmp_path / "w") for p in (tmp_path / "w").rglob("*") if p.is_file())
    shipped = sorted(
        p.relative_to(demo_world_dir()) for p in demo_world_dir().rglob("*") if p.is_file()
    )
    assert ours == shipped
    for rel in ours:
        assert (tmp_path / "w" / rel).read_bytes() == (demo_world_dir() / rel).read_bytes(), rel
    assert (tmp_path / "demo.json").read_bytes() == (tasks_dir() / "demo.json").read_bytes()


@pytest.mark.parametrize("task", SUITE.tasks, ids=lambda t: t.id)
def test_demo_gt_replays(task) -> None:  # type: ignore[no-untyped-def]
    dev = VirtualDevice(load_named_world("demo"))
    if task.start_state:
        dev.reset_to_state(task.start_state)
    else:
        dev.reset(task.app)
    assert dev.current_state == task.gt_states[0]
    for i, a in enumerate(task.gt_actions):
        dev.act(action_from_json(a))
        assert dev.current_state == task.gt_states[min(i + 1, len(task.gt_states) - 1)]


def test_typing_changes_dump_and_typed_text_leads_to_saved_note() -> None:
    dev = VirtualDevice(load_named_world("demo"))
    dev.reset("com.llamatouch.notes")
    fab = dev.observe().screen.find(content_desc="New note")[0]
    dev.tap(*fab.bounds.center)
    dev.input_text("Hello there")
    scr = read_uiautomator_xml(dev.dump_xml())
    assert scr.find(resource_id="com.llamatouch.notes:id/note_title_input")[0].text == "Hello there"
    dev.keyevent("KEYCODE_BACK")
    assert dev.current_state == "notes_list"
    dev.tap(*fab.bounds.center)
    dev.input_text("Buy")
    dev.input_text(" milk")
    assert dev.current_state == "notes_editor_buy_milk"
    save = dev.observe().screen.find(content_desc="Save")[0]
    r = dev.tap(*save.bounds.center)
    assert r.effect == "changed" and dev.observe().screen.find(text="Buy milk")
    assert dev.typed_log[-2:] == ["Buy", " milk"]


def test_no_effect_jitter_home_and_uninstall() -> None:
    dev = VirtualDevice(load_named_world("demo"))
    dev.reset("com.llamatouch.contacts")
    title = dev.observe().screen.find(text="Contacts")[0]
    r = dev.tap(*title.bounds.center)
    assert r.effect == "no_effect" and dev.events[-1]["effect"] == "no_effect"
    row = dev.observe().screen.find(text="Alice Brown")[0]
    dev.tap(row.bounds.left + 3, row.bounds.bottom - 2)  # jitter inside the row's label
    assert dev.current_state == "contact_alice"
    dev.swipe(540, 1800, 540, 600, 300)  # nothing recorded here
    dev.press("back")
    dev.swipe(540, 1800, 540, 600, 300)
    assert dev.current_state == "contacts_list_scrolled"
    dev.press("home")
    assert dev.current_state == "home"
    dev.uninstall("com.llamatouch.shop")
    assert "com.llamatouch.shop" not in dev.installed_packages()
    with pytest.raises(ActionError):
        dev.open_app("com.llamatouch.shop")
    with pytest.raises(ActionError):
        dev.tap(5000, 10)
    assert dev.health() and dev.observe().activity


def test_faults_and_bad_world(tmp_path: Path) -> None:
    world = load_named_world("demo")
    dev = VirtualDevice(world, faults=FaultConfig(dump_failures=1))
    with pytest.raises(DumpError) as exc:
        dev.dump_xml()
    assert str(exc.value) == NULL_ROOT_ERROR
    assert dev.dump_xml()
    bad = VirtualDevice(world, faults=FaultConfig(corrupt_dump=True))
    with pytest.raises(XmlFormatError):
        read_uiautomator_xml(bad.dump_xml())
    gone = VirtualDevice(world, faults=FaultConfig(drop_after_calls=2))
    gone.observe()
    gone.observe()
    with pytest.raises(DeviceGoneError):
        gone.observe()
    assert not gone.health()
    data = json.loads((demo_world_dir() / "world.json").read_text())
    data["transitions"][0]["target"] = "nowhere"
    (tmp_path / "world.json").write_text(json.dumps(data))
    with pytest.raises(SchemaError) as err:
        load_world(tmp_path)
    assert "transitions[0].target" in str(err.value) and "world.json" in str(err.value)
