"""The in-process virtual device (llamatouch_emulator.virtual) on the demo world and on the
real DroidTask worlds: transitions, navigation, typing, determinism, faults, bad input."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
from demo_builder import write_demo  # scripts/ (pytest pythonpath)

from llamatouch.actions import Action, Key, OpenApp, Tap, Type, action_from_json
from llamatouch.datasets.droidtask import ImportResult, import_droidtask
from llamatouch.errors import (
    ActionError,
    DeviceGoneError,
    DumpError,
    JsonFormatError,
    SchemaError,
    XmlFormatError,
)
from llamatouch.paths import tasks_dir
from llamatouch.tasks import Task, load_suite
from llamatouch.ui.node import UIScreen
from llamatouch.ui.xmlio import read_uiautomator_xml
from llamatouch.world import World, load_world
from llamatouch_emulator.virtual import NULL_ROOT_ERROR, FaultConfig, VirtualDevice
from llamatouch_emulator.worlds import demo_world_dir, load_named_world

DEMO_TASKS: list[Task] = list(load_suite("demo").tasks)
NOTES = "com.llamatouch.notes"
TITLE_INPUT = "EditText#note_title_input[0]"
BODY_INPUT = "EditText#note_body_input[0]"


@pytest.fixture(scope="module")
def demo() -> World:
    return load_named_world("demo")


@pytest.fixture()
def dev(demo: World) -> VirtualDevice:
    return VirtualDevice(demo, seed=7)


def _key_ending(screen: UIScreen, suffix: str) -> str:
    keys = [screen.key(n) for n in screen.nodes if screen.key(n).endswith(suffix)]
    assert len(keys) == 1, (suffix, keys)
    return keys[0]


def _dump_texts(dev: VirtualDevice) -> dict[str, str]:
    screen = read_uiautomator_xml(dev.dump_xml())
    return {screen.key(n): n.text for n in screen.nodes}


def _replay(dev: VirtualDevice, task: Task) -> list[str]:
    """Start at the task's first ground-truth state, take its actions; the states visited."""
    dev.reset_to_state(task.gt_states[0])
    seen = [dev.current_state]
    for raw in task.gt_actions:
        dev.act(action_from_json(raw))
        if raw["action"] != "finish":
            seen.append(dev.current_state)
    return seen


# -- transitions ----------------------------------------------------------------------------
@pytest.mark.parametrize("task", DEMO_TASKS, ids=lambda t: t.id)
def test_demo_ground_truth_replays_through_every_recorded_state(demo: World, task: Task) -> None:
    dev = VirtualDevice(demo, seed=0)
    assert _replay(dev, task) == task.gt_states
    assert dev.events[-1]["kind"] == "finish"


def test_tap_with_jitter_inside_the_element_follows_the_same_transition(demo: World) -> None:
    task = next(t for t in DEMO_TASKS if t.id == "notes-create-buy-milk")
    fab = task.gt_actions[0]
    ref = VirtualDevice(demo)
    ref.reset(NOTES)
    ref.act(action_from_json(fab))
    expected = ref.current_state
    assert expected == task.gt_states[1]
    screen = VirtualDevice(demo).world.screen("notes_list")
    b = next(n.bounds for n in screen.nodes if screen.key(n) == fab["element"])
    rng = random.Random(3)
    for _ in range(20):
        x = rng.randint(b.left + 1, b.right - 2)
        y = rng.randint(b.top + 1, b.bottom - 2)
        d = VirtualDevice(demo)
        d.reset(NOTES)
        res = d.tap(x, y)  # a raw touch: no element key, only the point
        assert res.effect == "changed", (x, y, res.detail)
        assert d.current_state == expected, (x, y)


def test_tap_on_a_label_inside_a_clickable_row_follows_the_row(dev: VirtualDevice) -> None:
    dev.reset(NOTES)
    screen = dev.observe().screen
    label = next(n for n in screen.nodes if n.text == "Shopping list")
    assert not label.clickable
    dev.tap(*label.bounds.center)
    assert dev.current_state == "notes_view_shopping"


def test_tap_on_empty_space_is_no_effect(dev: VirtualDevice) -> None:
    dev.reset(NOTES)
    before = dev.dump_xml()
    n_events = len(dev.events)
    res = dev.tap(540, 1800)
    assert res.effect == "no_effect"
    assert dev.current_state == "notes_list"
    assert dev.dump_xml() == before
    assert len(dev.events) == n_events + 1
    ev = dev.events[-1]
    assert ev["kind"] == "tap" and ev["effect"] == "no_effect"
    assert ev["source"] == ev["target"] == "notes_list"


# -- navigation -----------------------------------------------------------------------------
def test_back_unwinds_the_back_stack_then_goes_home(dev: VirtualDevice, demo: World) -> None:
    dev.reset()
    assert dev.current_state == demo.home_state
    assert dev.act(Key("back")).effect == "no_effect"  # already home
    dev.act(OpenApp(NOTES))
    assert dev.current_state == "notes_list"
    assert dev.foreground_package() == NOTES
    dev.act(Tap(948, 2118))  # the "New note" button
    assert dev.current_state == "notes_editor_new"
    assert dev.act(Key("back")).effect == "changed"
    assert dev.current_state == "notes_list"
    dev.act(Key("back"))
    assert dev.current_state == demo.home_state
    assert dev.foreground_package() == "com.android.launcher3"


def test_home_key_from_deep_inside_an_app(dev: VirtualDevice, demo: World) -> None:
    task = next(t for t in DEMO_TASKS if t.id == "settings-uninstall-shop")
    _replay(dev, task)
    assert dev.act(Key("home")).effect == "changed"
    assert dev.current_state == demo.home_state
    assert dev.act(Key("home")).effect == "no_effect"
    # after home, back has nothing to unwind
    assert dev.act(Key("back")).effect == "no_effect"


def test_open_app_from_home_and_unknown_package(dev: VirtualDevice, demo: World) -> None:
    dev.reset()
    for app in demo.apps:
        dev.open_app(app.package)
        assert dev.current_state == app.start_state
        assert dev.foreground_activity() == demo.states[app.start_state].activity
    with pytest.raises(ActionError, match="unable to resolve Intent"):
        dev.act(OpenApp("com.example.absent"))
    assert dev.current_state == demo.apps[-1].start_state  # unchanged
    assert NOTES in dev.installed_packages()


def test_home_screen_icon_opens_the_app(dev: VirtualDevice, demo: World) -> None:
    task = next(t for t in DEMO_TASKS if t.id == "home-open-world-clock")
    dev.reset()
    dev.act(action_from_json(task.gt_actions[0]))
    assert dev.current_state == task.gt_states[1]
    assert dev.foreground_package() == "com.llamatouch.clock"


# -- typing ---------------------------------------------------------------------------------
def test_typing_into_an_editable_element_changes_the_served_dump(dev: VirtualDevice) -> None:
    dev.reset_to_state("notes_editor_new")
    body = _key_ending(dev.observe().screen, BODY_INPUT)
    assert _dump_texts(dev)[body] == "Note"  # the hint
    res = dev.act(Type("call the plumber; rm -rf / && echo $HOME", element=body))
    assert res.effect == "changed"
    assert dev.current_state == "notes_editor_new"  # no recorded transition for this text
    assert _dump_texts(dev)[body] == "call the plumber; rm -rf / && echo $HOME"
    obs = dev.observe()
    node = obs.screen.node_by_key(body)
    assert node is not None and node.text == "call the plumber; rm -rf / && echo $HOME"
    # the keyboard path appends to the focused field
    dev.act(Tap(*node.bounds.center))
    dev.input_text("!!")
    assert _dump_texts(dev)[body].endswith("$HOME!!")
    assert dev.typed_log[-1] == "!!"
    # the delete key removes one character
    dev.keyevent("KEYCODE_DEL")
    assert _dump_texts(dev)[body].endswith("$HOME!")


def test_typing_the_recorded_text_follows_the_recorded_transition(dev: VirtualDevice) -> None:
    dev.reset_to_state("notes_editor_new")
    title = _key_ending(dev.observe().screen, TITLE_INPUT)
    dev.act(Type("buy  MILK", element=title))  # normalised: same letters and digits
    assert dev.current_state == "notes_editor_buy_milk"


def test_typing_into_a_non_editable_element_is_no_effect(dev: VirtualDevice) -> None:
    dev.reset(NOTES)
    screen = dev.observe().screen
    title = next(n for n in screen.nodes if n.text == "Shopping list")
    res = dev.act(Type("x", element=screen.key(title)))
    assert res.effect == "no_effect"
    assert dev.current_state == "notes_list"


# -- determinism ----------------------------------------------------------------------------
def _random_walk(world: World, seed: int, steps: int = 150) -> list[tuple[str, str]]:
    dev = VirtualDevice(world, seed=seed)
    dev.reset()
    rng = random.Random(seed)
    w, h = dev.screen_size()
    for _ in range(steps):
        r = rng.random()
        if r < 0.7:
            dev.tap(rng.randrange(w), rng.randrange(h))
        elif r < 0.8:
            dev.swipe(540, 1600, 540, 600)
        elif r < 0.9:
            dev.keyevent("back")
        else:
            dev.open_app(rng.choice(world.apps).package)
    return [(e["kind"], e["target"]) for e in dev.events]


def test_same_seed_same_run(demo: World) -> None:
    a = _random_walk(demo, 11)
    b = _random_walk(demo, 11)
    assert a == b
    assert len({t for _, t in a}) > 5  # the walk really moved around
    dev1, dev2 = VirtualDevice(demo, seed=5), VirtualDevice(demo, seed=5)
    for d in (dev1, dev2):
        d.reset(NOTES)
    assert dev1.dump_xml() == dev2.dump_xml()
    assert dev1.screenshot_png() == dev2.screenshot_png()


def test_rendered_screenshots_are_shared_per_world_and_follow_typed_text(demo: World) -> None:
    d1, d2 = VirtualDevice(demo), VirtualDevice(demo)
    for d in (d1, d2):
        d.reset_to_state("notes_editor_new")
    pristine = d1.screenshot_png()
    assert pristine.startswith(b"\x89PNG")
    assert d2.screenshot_png() is pristine  # rendered once for the world
    body = _key_ending(d2.observe().screen, BODY_INPUT)
    d2.act(Type("typed on device two", element=body))
    typed = d2.screenshot_png()
    assert typed != pristine
    assert d1.screenshot_png() is pristine  # device one's screen did not change


# -- fault injection ------------------------------------------------------------------------
def test_drop_after_calls_makes_the_device_vanish(demo: World) -> None:
    dev = VirtualDevice(demo, faults=FaultConfig(drop_after_calls=3))
    dev.observe()
    dev.tap(540, 1800)
    dev.dump_xml()
    assert dev.health()
    with pytest.raises(DeviceGoneError, match="vanished after 3 calls"):
        dev.observe()
    assert not dev.health()
    with pytest.raises(DeviceGoneError):
        dev.act(Key("back"))


def test_dump_failures_raise_the_real_uiautomator_error(demo: World) -> None:
    dev = VirtualDevice(demo, faults=FaultConfig(dump_failures=2))
    for _ in range(2):
        with pytest.raises(DumpError) as err:
            dev.dump_xml()
        assert NULL_ROOT_ERROR in str(err.value)
        assert "null root node returned by UiTestAutomationBridge" in str(err.value)
    assert read_uiautomator_xml(dev.dump_xml()).nodes  # used up: dumps work again
    # observe() retries a failing dump like the ADB controller
    dev.faults.dump_failures = 1
    assert dev.observe().screen.nodes


def test_corrupt_dump_fails_to_parse_with_a_typed_error(demo: World) -> None:
    dev = VirtualDevice(demo, faults=FaultConfig(corrupt_dump=True))
    data = dev.dump_xml()
    with pytest.raises(XmlFormatError):
        read_uiautomator_xml(data, source="virtual dump")
    dev.faults.corrupt_dump = False
    assert read_uiautomator_xml(dev.dump_xml()).nodes


def test_delay_is_added_to_every_call(demo: World) -> None:
    import time

    dev = VirtualDevice(demo, faults=FaultConfig(delay_s=0.05))
    t0 = time.perf_counter()
    dev.dump_xml()
    dev.tap(540, 1800)
    # a lower bound on sleeping, not a speed target
    assert time.perf_counter() - t0 >= 0.1


# -- bad input ------------------------------------------------------------------------------
def test_unknown_actions_and_off_screen_points_are_action_errors(dev: VirtualDevice) -> None:
    dev.reset(NOTES)
    with pytest.raises(ActionError):
        dev.act(Action())
    with pytest.raises(ActionError):
        dev.act("tap 1 2")  # type: ignore[arg-type]
    with pytest.raises(ActionError):
        action_from_json({"action": "teleport", "x": 1})
    with pytest.raises(ActionError, match="outside"):
        dev.act(Tap(5000, 100))
    with pytest.raises(ActionError, match="outside"):
        dev.tap(-1, 100)
    with pytest.raises(ActionError):
        dev.act(Type("x", element="/no/such/element"))
    with pytest.raises(ActionError):
        dev.reset_to_state("no_such_state")
    # the device keeps working
    assert dev.health()
    assert dev.current_state == "notes_list"
    dev.act(Tap(948, 2118))
    assert dev.current_state == "notes_editor_new"


def _demo_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "world"
    shutil.copytree(demo_world_dir(), dst)
    return dst


def test_malformed_world_json_names_the_file(tmp_path: Path) -> None:
    root = _demo_copy(tmp_path)
    (root / "world.json").write_text('{"schema": "llamatouch.world/1", "states": [')
    with pytest.raises(JsonFormatError) as err:
        load_world(root)
    assert "world.json" in str(err.value)


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d["transitions"][0].__setitem__("target", "nowhere"), "transitions[0].target"),
        (lambda d: d["apps"][1].__setitem__("start_state", "nowhere"), "apps[1].start_state"),
        (lambda d: d.__setitem__("home_state", "nowhere"), "home_state"),
        (lambda d: d.__setitem__("schema", "llamatouch.world/0"), "schema"),
        (lambda d: d["states"][2].__setitem__("id", "../escape"), "states[2].id"),
        (lambda d: d.pop("transitions"), "transitions"),
    ],
)
def test_world_schema_errors_name_file_and_field(tmp_path: Path, edit, field: str) -> None:  # type: ignore[no-untyped-def]
    root = _demo_copy(tmp_path)
    data = json.loads((root / "world.json").read_text())
    edit(data)
    (root / "world.json").write_text(json.dumps(data))
    with pytest.raises(SchemaError) as err:
        load_world(root)
    assert field in err.value.field
    assert "world.json" in err.value.source


def test_malformed_state_file_is_a_typed_error_and_the_device_survives(tmp_path: Path) -> None:
    root = _demo_copy(tmp_path)
    (root / "states" / "notes_editor_new.xml").write_bytes(b"<hierarchy><node text='x'")
    world = load_world(root)
    dev = VirtualDevice(world)
    dev.reset(NOTES)
    with pytest.raises(XmlFormatError) as err:
        dev.act(Tap(948, 2118))  # leads to the broken state
        dev.observe()
    assert "notes_editor_new.xml" in str(err.value)
    dev.reset(NOTES)
    assert dev.observe().screen.activity == "com.llamatouch.notes/.NotesActivity"


# -- the shipped demo world -----------------------------------------------------------------
def _files(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def test_committed_demo_world_is_what_the_builder_writes(tmp_path: Path) -> None:
    world, suite = write_demo(tmp_path / "demo", tmp_path / "demo.json")
    shipped = demo_world_dir()
    built_files = _files(tmp_path / "demo")
    shipped_files = _files(shipped)
    assert built_files == shipped_files
    for rel in built_files:
        assert (tmp_path / "demo" / rel).read_bytes() == (shipped / rel).read_bytes(), rel
    tasks_file = tasks_dir() / "demo.json"
    assert (tmp_path / "demo.json").read_bytes() == tasks_file.read_bytes()
    # the assignment's floor: at least 30 screens and 10 tasks
    assert len(world.states) >= 30 and len(suite.tasks) >= 10


# -- DroidTask worlds -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def droidtask(droidtask_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> ImportResult:
    return import_droidtask(droidtask_dir, tmp_path_factory.mktemp("droidtask-import"))


def test_droidtask_ground_truth_replays_in_process(droidtask: ImportResult) -> None:
    worlds: dict[str, World] = {}
    reached: list[str] = []
    failed: list[tuple[str, str]] = []
    errors: list[tuple[str, str]] = []
    for task in droidtask.fully_resolved:
        name = task.world or droidtask.suite.world
        if name not in worlds:
            worlds[name] = load_world(droidtask.out_dir / "worlds" / name)
        world = worlds[name]
        dev = VirtualDevice(world, seed=0)
        try:
            _replay(dev, task)
        except ActionError as exc:  # an action the world cannot take: counted, not hidden
            errors.append((task.id, str(exc)))
            continue
        want = task.gt_states[-1]
        got = dev.current_state
        same = got == want or world.screen(got) == world.screen(want)
        (reached.append(task.id) if same else failed.append((task.id, got)))
    total = len(droidtask.fully_resolved)
    print(
        f"\nDroidTask in-process replay: {len(reached)}/{total} reach their final recorded "
        f"state; {len(failed)} end elsewhere; {len(errors)} raised ActionError"
    )
    assert total == 141
    # a recorded action whose element is not on the screen reached (an earlier step went
    # elsewhere) is a typed ActionError naming the element; it may end a replay, nothing more
    assert all("no element" in msg for _, msg in errors), errors
    assert len(errors) <= 0.05 * total, errors
    # the replay baseline (tests/runner/test_replay.py) scores >= 75% of these through ADB
    assert len(reached) >= 0.75 * total, failed
