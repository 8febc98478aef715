"""Exploring demo apps on the in-process virtual device: coverage, the avoid list, inputs,
budgets, resume and Ctrl-C. (The same through the real adb server: test_record_adb.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llamatouch.actions import action_from_json
from llamatouch.errors import SchemaError
from llamatouch.record.candidates import CandidateOptions, avoid_pattern
from llamatouch.record.diff import diff_worlds, state_keys
from llamatouch.record.explorer import (
    Explorer,
    Progress,
    RecordConfig,
    RecordSetupError,
    prepare_state,
)
from llamatouch.record.keys import content_key
from llamatouch.record.store import STATE_FILE, ExplorationState
from llamatouch.world import World, load_world
from llamatouch_emulator.virtual import VirtualDevice
from llamatouch_emulator.worlds import load_named_world

SHOP = "com.llamatouch.shop"
NOTES = "com.llamatouch.notes"
CLOCK = "com.llamatouch.clock"


@pytest.fixture(scope="module")
def demo() -> World:
    return load_named_world("demo")


def record(out: Path, app: str, **kw: object) -> tuple[World, str]:
    device = VirtualDevice(load_named_world("demo"))
    outcome = Explorer(device, RecordConfig(app=app, out=out, **kw)).run()  # type: ignore[arg-type]
    return load_world(out), outcome.stopped_by


def test_shop_is_recorded_completely_and_replays(tmp_path: Path, demo: World) -> None:
    world, stopped = record(tmp_path / "shop", SHOP)
    assert stopped == "done"
    d = diff_worlds(world, demo, SHOP)
    assert d.coverage == 1.0 and d.reachable_coverage == 1.0 and not d.only_a
    # the app's start state is the demo's start screen, by content
    keys, demo_keys = state_keys(world), state_keys(demo)
    start = world.apps[0].start_state
    assert keys[start] == demo_keys["shop_home"]
    assert world.apps[0].launcher_activity == demo.states["shop_home"].activity
    # the launcher seen before launching is the home state; every state has its screenshot
    assert world.home_state and keys[world.home_state] == demo_keys["home"]
    assert all(s.screenshot for s in world.states.values())
    assert all((tmp_path / "shop" / "states" / f"{sid}.png").read_bytes()[:4] == b"\x89PNG"
               for sid in world.states)
    # every recorded transition replays on a virtual device of the recorded world
    replay = VirtualDevice(world)
    forward = [t for t in world.transitions if t.action["action"] != "key"]
    assert forward
    for t in forward:
        replay.reset_to_state(t.source)
        replay.act(action_from_json(t.action))
        assert replay.current_state == t.target, t
    # each transition keeps its action and target element
    taps = [t for t in world.transitions if t.action["action"] == "tap"]
    assert taps and all(t.element_key and t.element and t.event_type == "touch" for t in taps)
    for t in taps:
        node = world.screen(t.source).node_by_key(t.element_key or "")
        assert node is not None and node.resource_id == t.element["resource_id"]  # type: ignore[index]


def test_default_avoid_list_never_deletes(tmp_path: Path, demo: World) -> None:
    world, _ = record(tmp_path / "notes", NOTES)
    keys = set(state_keys(world).values())
    demo_keys = state_keys(demo)
    assert demo_keys["notes_delete_confirm"] not in keys
    assert demo_keys["notes_list_no_shopping"] not in keys
    pattern = avoid_pattern(CandidateOptions().avoid)
    assert pattern is not None
    for t in world.transitions:
        el = t.element or {}
        assert not pattern.search(str(el.get("text", ""))), t
        assert not pattern.search(str(el.get("content_desc", ""))), t


def test_inputs_and_own_avoid_list_reach_every_notes_screen(tmp_path: Path, demo: World) -> None:
    options = CandidateOptions(inputs=("Buy milk",), avoid=("Uninstall",))
    world, stopped = record(tmp_path / "notes", NOTES, options=options)
    assert stopped == "done"
    d = diff_worlds(world, demo, NOTES)
    assert d.reachable_coverage == 1.0, d.only_b
    # a typed text is a transition of its own
    typed = [t for t in world.transitions if t.action["action"] == "type"]
    assert any(t.action["text"] == "Buy milk" for t in typed)


def _signatures(world: World) -> set[tuple[str, str, str]]:
    """Forward transitions by content (where ``back`` leads, and so which back edges a
    device's own back stack replays, depends on the history of the run)."""
    keys = state_keys(world)
    return {(keys[t.source], keys[t.target], repr(sorted(t.action.items())))
            for t in world.transitions if t.action["action"] != "key"}


def test_budget_then_resume_finds_what_one_run_finds(tmp_path: Path) -> None:
    whole, _ = record(tmp_path / "whole", CLOCK)
    out = tmp_path / "parts"
    world, stopped = record(out, CLOCK, budget_steps=40)
    assert stopped == "budget-steps"
    assert 0 < len(world.states) < len(whole.states)
    runs = 1
    while stopped != "done":
        world, stopped = record(out, CLOCK, budget_steps=60, resume=True)
        runs += 1
        assert runs < 50
    assert runs > 2
    assert set(state_keys(world).values()) == set(state_keys(whole).values())
    assert _signatures(world) == _signatures(whole)
    saved = ExplorationState.load(out)
    assert saved.finished and saved.edges == ExplorationState.load(tmp_path / "whole").edges


def test_ctrl_c_keeps_what_was_found_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "clock"
    device = VirtualDevice(load_named_world("demo"))
    seen: list[Progress] = []

    def interrupt(p: Progress) -> None:
        seen.append(p)
        if p.edges == 15:
            raise KeyboardInterrupt

    outcome = Explorer(device, RecordConfig(app=CLOCK, out=out)).run(interrupt)
    assert outcome.stopped_by == "interrupted" and outcome.progress.edges == 15
    assert [p.edges for p in seen] == list(range(1, 16))
    world = load_world(out)  # the saved world is complete and loadable
    assert len(world.states) == outcome.progress.states
    assert ExplorationState.load(out).edges == 15
    world, stopped = record(out, CLOCK, resume=True)
    assert stopped == "done" and len(world.states) > outcome.progress.states


def test_folder_and_resume_checks(tmp_path: Path) -> None:
    out = tmp_path / "w"
    record(out, SHOP, budget_steps=10)
    with pytest.raises(RecordSetupError, match="already holds a recording"):
        prepare_state(RecordConfig(app=SHOP, out=out))
    with pytest.raises(RecordSetupError, match=r"records 'com\.llamatouch\.shop'"):
        prepare_state(RecordConfig(app=NOTES, out=out, resume=True))
    with pytest.raises(RecordSetupError, match="other options"):
        prepare_state(RecordConfig(app=SHOP, out=out, resume=True,
                                   options=CandidateOptions(inputs=("x",))))
    with pytest.raises(RecordSetupError, match="nothing to resume"):
        prepare_state(RecordConfig(app=SHOP, out=tmp_path / "empty", resume=True))


def test_a_damaged_state_file_names_the_field(tmp_path: Path) -> None:
    out = tmp_path / "w"
    record(out, SHOP, budget_steps=30)
    path = out / STATE_FILE
    text = path.read_text()
    state = ExplorationState.load(out)
    first = state.transitions[0].transition.target
    path.write_text(text.replace(f'"target": "{first}"', '"target": "nowhere"', 1))
    with pytest.raises(SchemaError, match=r"transitions\[0\]\.target"):
        ExplorationState.load(out)
    path.write_text(text.replace('"llamatouch.record-state/1"', '"other/9"'))
    with pytest.raises(SchemaError, match="schema"):
        ExplorationState.load(out)


def test_states_are_keyed_by_content(tmp_path: Path, demo: World) -> None:
    world, _ = record(tmp_path / "shop", SHOP)
    for sid, meta in world.states.items():
        key = content_key(world.screen(sid), meta.activity)
        assert sid == "s" + key[:20]
    assert len({content_key(world.screen(s), m.activity) for s, m in world.states.items()}) \
        == len(world.states)


class _SlowLaunch(VirtualDevice):
    """A phone that still shows the launcher for a moment after ``open_app`` (as real phones
    do while an app starts)."""

    def __init__(self) -> None:
        super().__init__(load_named_world("demo"))
        self.pending: str | None = None
        self.looks = 0

    def open_app(self, package: str, activity: str | None = None) -> None:
        self.pending = package

    def observe(self, *, with_packages: bool = False) -> Any:
        if self.pending is not None:
            self.looks += 1
            if self.looks % 2 == 0:  # the app appears on the second look
                super().open_app(self.pending)
                self.pending = None
        return super().observe(with_packages=with_packages)


def test_a_slow_launch_is_waited_for(tmp_path: Path, demo: World) -> None:
    device = _SlowLaunch()
    outcome = Explorer(device, RecordConfig(app=SHOP, out=tmp_path / "shop",
                                            launch_wait_s=0.01)).run()
    assert outcome.stopped_by == "done" and device.looks >= 2
    world = load_world(tmp_path / "shop")
    keys, demo_keys = state_keys(world), state_keys(demo)
    assert keys[world.apps[0].start_state] == demo_keys["shop_home"]
    assert diff_worlds(world, demo, SHOP).reachable_coverage == 1.0
