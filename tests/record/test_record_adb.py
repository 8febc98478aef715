"""Recording every demo app through the real ADB path: ``llamatouch world record --device
127.0.0.1:PORT`` ↔ the real adb server (adbutils' binary, private port) ↔ our ADB device
server serving the demo world. Then the recording is served again and the demo's tasks run
on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from llamatouch.cli import main
from llamatouch.paths import annotations_dir
from llamatouch.record.candidates import CandidateOptions, avoid_pattern, is_avoided
from llamatouch.record.diff import diff_worlds, reachable_states, state_keys
from llamatouch.record.explorer import Explorer, RecordConfig
from llamatouch.record.remap import remap_tasks
from llamatouch.runner import EvalConfig, run_eval
from llamatouch.tasks import load_suite
from llamatouch.world import World, WorldTransition, load_world
from llamatouch_emulator.harness import AdbSession, SessionConfig, free_port
from llamatouch_emulator.virtual import VirtualDevice
from llamatouch_emulator.worlds import load_named_world

pytestmark = pytest.mark.slow

DEMO_APPS = ("com.llamatouch.notes", "com.llamatouch.contacts", "com.llamatouch.clock",
             "com.llamatouch.settings", "com.llamatouch.shop")


def _session_config() -> SessionConfig:
    return SessionConfig(adb_port=free_port(), device_port=free_port())


@pytest.fixture(scope="module")
def session() -> Iterator[AdbSession]:
    with AdbSession.for_world("demo", config=_session_config()) as s:
        yield s


def _blocked(world: World, t: WorldTransition, options: CandidateOptions) -> bool:
    """Whether the explorer may not take ``t``: a typed text outside the input dictionary,
    or a touch on a view the avoid list names."""
    kind = t.action["action"]
    if kind == "type":
        return t.action["text"] not in options.inputs
    if kind in ("tap", "long_press") and t.element_key:
        screen = world.screen(t.source)
        node = screen.node_by_key(t.element_key)
        return node is not None and is_avoided(screen, node, avoid_pattern(options.avoid))
    return False


@pytest.mark.parametrize("app", DEMO_APPS)
def test_record_each_demo_app_over_adb(session: AdbSession, app: str, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(session.adb_port))
    out = tmp_path / "rec"
    rc = main(["world", "record", "--device", session.serial, "--app", app, "--out", str(out)])
    assert rc == 0
    # it really went through adb: the served device saw the shell commands
    assert session.server is not None
    ran = {" ".join(c.argv[:2]) for c in session.server.shell.exec_log}
    assert {"monkey -p", "am force-stop", "dumpsys activity"} <= ran, ran
    recorded = load_world(out)
    demo = load_named_world("demo")
    d = diff_worlds(recorded, demo, app)
    # every reachable screen of the app was found, except those only reachable through the
    # destructive actions the default avoid list forbids or texts outside the inputs
    found = set(state_keys(recorded).values())
    keys = state_keys(demo)
    options = CandidateOptions()
    for sid in reachable_states(demo, app):
        if demo.states[sid].package != app or keys[sid] in found:
            continue
        into = [t for t in demo.transitions if t.target == sid and keys[t.source] in found]
        assert all(_blocked(demo, t, options) for t in into), (sid, into)
    assert d.reachable_found >= 3
    # the ADB path records exactly what the in-process device gives
    inproc = tmp_path / "inproc"
    Explorer(VirtualDevice(load_named_world("demo")), RecordConfig(app=app, out=inproc)).run()
    assert set(state_keys(load_world(inproc)).values()) == found


def test_a_recording_serves_over_adb_and_runs_the_demo_tasks(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    shop = "com.llamatouch.shop"
    with AdbSession.for_world("demo", config=_session_config()) as s:
        monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(s.adb_port))
        out = tmp_path / "shop"
        assert main(["world", "record", "--device", s.serial, "--app", shop,
                     "--out", str(out)]) == 0
    recorded = load_world(out)
    # `emulator serve` of the recording: the launch screen comes back over adb
    with AdbSession.for_world(out, config=_session_config()) as served:
        served.device.open_app(shop)
        obs = served.device.observe()
        assert state_keys(recorded)[recorded.apps[0].start_state] == \
            __import__("llamatouch.record.keys", fromlist=["content_key"]).content_key(
                obs.screen, obs.activity)
    # the demo's Shop tasks, remapped onto the recording, replay and score as on the demo
    demo_suite = load_suite("demo")
    shop_ids = tuple(t.id for t in demo_suite.tasks if t.app == shop)
    remapped = remap_tasks(demo_suite, load_named_world("demo"), recorded, out)
    assert {t.id for t in remapped.suite.tasks} == set(shop_ids), remapped.missing
    suite_path = tmp_path / "shop-tasks.json"
    remapped.suite.save(suite_path)
    ann = str(annotations_dir() / "demo")
    on_demo = run_eval(EvalConfig(agent="replay", out=tmp_path / "demo-run", task_ids=shop_ids))
    on_rec = run_eval(EvalConfig(agent="replay", out=tmp_path / "rec-run", tasks=str(suite_path),
                                 annotations=ann))
    assert {r.task_id: r.success for r in on_rec.rows} == \
        {r.task_id: r.success for r in on_demo.rows}
    assert all(r.success for r in on_rec.rows)


def test_ctrl_c_on_the_command_line_keeps_the_recording(tmp_path: Path) -> None:
    """A real SIGINT to `llamatouch world record` (adb-virtual: through a private adb server)
    mid-run: exit 130, a loadable world with what was found, and --resume finishes it."""
    import os
    import re
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "clock"
    argv = [sys.executable, "-m", "llamatouch", "world", "record", "--device", "adb-virtual:demo",
            "--app", "com.llamatouch.clock", "--out", str(out)]
    env = dict(os.environ, ADB_MDNS="0")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stderr is not None
    seen = b""
    deadline = time.monotonic() + 120
    while not re.search(rb"edges=\d{2},", seen) and time.monotonic() < deadline:
        chunk = proc.stderr.read1(4096)  # type: ignore[attr-defined]
        if not chunk:
            break
        seen += chunk
    assert re.search(rb"edges=\d{2},", seen), seen[-500:]  # 10+ actions tried, far from done
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, (stdout, stderr[-800:])
    assert b"interrupted" in stderr and b"Traceback" not in stderr
    world = load_world(out)
    assert len(world.states) >= 2
    done = subprocess.run([*argv, "--resume"], capture_output=True, env=env, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr[-800:]
    assert b"done" in done.stdout
    demo = load_named_world("demo")
    assert diff_worlds(load_world(out), demo, "com.llamatouch.clock").reachable_found == 8
