"""The DroidBot exploration importer on the real QQMusic output (../shared)."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from llamatouch.actions import Tap
from llamatouch.datasets.droidbot import DroidBotImport, jpeg_to_png, read_utg_js
from llamatouch.errors import ImageFormatError
from llamatouch.trace.format import read_trace
from llamatouch.trace.records import action_to_json
from llamatouch.world import load_world


def test_world_has_the_real_screenshots(qqmusic_import: DroidBotImport, qqmusic_dir: Path) -> None:
    world = load_world(qqmusic_import.world_dir)
    assert len(world.states) == 15  # 15 state files, 15 distinct state_str hashes
    assert world.apps[0].package == "com.tencent.qqmusic"
    assert world.apps[0].launcher_activity == "com.tencent.qqmusic/.activity.AppStarterActivity"
    for sid, st in world.states.items():
        assert st.screenshot
        png = world.screenshot(sid)
        assert png is not None and png.startswith(b"\x89PNG")
        img = Image.open(io.BytesIO(png))
        assert img.size == (st.width, st.height) == (1080, 2280)
    # The PNG is the recorded JPEG, decoded (same pixels as decoding the JPEG ourselves).
    first = sorted((qqmusic_dir / "states").glob("screen_*.jpg"))[0]
    rep = qqmusic_import.world.states
    with Image.open(first) as jpg:
        want = jpg.convert("RGB").tobytes()
    got = {Image.open(io.BytesIO(world.screenshot(s) or b"")).convert("RGB").tobytes() for s in rep}
    assert want in got


def test_exploration_trace_in_event_order(qqmusic_import: DroidBotImport) -> None:
    trace = read_trace(qqmusic_import.trace_dir)
    assert trace.manifest.agent == {"name": "droidbot"}
    assert len(trace) == qqmusic_import.steps == 15
    events = [str(s.record.extra["event_file"]) for s in trace.steps[:-1]]
    assert events == sorted(events)  # event order
    assert action_to_json(trace.steps[0].record.action) == {
        "action": "open_app",
        "package": "com.tencent.qqmusic",
        "activity": "com.tencent.qqmusic/.activity.AppStarterActivity",
    }
    assert trace.steps[-1].record.action is None
    for step in trace:
        png = step.screenshot_png()
        assert Image.open(io.BytesIO(png)).size == (1080, 2280)
        assert step.screen().nodes
        assert step.record.extra["state_file"].startswith("states/state_")
    taps = [s for s in trace if isinstance(s.record.action, Tap)]
    assert len(taps) >= 10
    for s in taps:
        act = s.record.action
        assert isinstance(act, Tap) and act.element is not None
        node = s.screen().node_by_key(act.element)
        assert node is not None and node.bounds.contains(act.x, act.y)


def test_unresolved_event_states_are_reported(qqmusic_import: DroidBotImport) -> None:
    probs = qqmusic_import.report.problems
    assert {p.kind for p in probs} == {"event_state_unresolved"}
    assert all(p.source.startswith("events/event_") for p in probs)
    assert len(qqmusic_import.world.transitions) == 8
    print(f"qqmusic: {len(probs)} events whose start/stop hash has no state file")


def test_utg_js_is_read(qqmusic_dir: Path) -> None:
    utg = read_utg_js(qqmusic_dir / "utg.js")
    assert utg["app_package"] == "com.tencent.qqmusic"
    assert len(utg["nodes"]) == utg["num_nodes"]


def test_corrupt_jpeg_is_a_typed_error(tmp_path: Path) -> None:
    bad = tmp_path / "screen_x.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    try:
        jpeg_to_png(bad)
    except ImageFormatError as exc:
        assert exc.source == str(bad)
    else:
        raise AssertionError("expected ImageFormatError")
