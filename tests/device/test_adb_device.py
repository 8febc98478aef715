"""AdbDevice against the virtual device through the real adb binary: observation, the demo
tasks' ground-truth traces, fault injection over the wire, bad input, connect()."""

from __future__ import annotations

import pytest

from llamatouch.actions import Action, Finish, Key, OpenApp, Scroll, Tap, Type, action_from_json
from llamatouch.device import connect
from llamatouch.device.adb import AdbConfig, AdbDevice
from llamatouch.errors import (
    ActionError,
    DeviceError,
    DeviceGoneError,
    DeviceTimeoutError,
    DumpError,
)
from llamatouch.tasks import load_suite
from llamatouch_emulator.harness import AdbSession, SessionConfig
from llamatouch_emulator.virtual import FaultConfig, VirtualDevice

pytestmark = pytest.mark.slow


def test_observe_matches_the_virtual_device(fresh: AdbSession) -> None:
    v, dev = fresh.virtual, fresh.device
    obs = dev.observe(with_packages=True)
    assert obs.hierarchy_xml == v.dump_xml()
    assert obs.screenshot_png == v.screenshot_png()
    assert obs.activity == v.foreground_activity() and obs.package == v.foreground_package()
    assert (obs.screen.width, obs.screen.height) == v.screen_size()
    assert obs.installed_packages == v.installed_packages()
    assert set(obs.timings) == {"screenshot", "dump", "activity", "packages"}
    assert all(t > 0 for t in obs.timings.values())
    assert obs.started_at <= obs.finished_at
    assert dev.health()


@pytest.mark.parametrize("task_index", range(15))
def test_demo_ground_truth_trace_through_adb(fresh: AdbSession, task_index: int) -> None:
    suite = load_suite("demo")
    if task_index >= len(suite.tasks):
        pytest.skip("suite has fewer tasks")
    task = suite.tasks[task_index]
    v, dev = fresh.virtual, fresh.device
    if task.start_state:
        v.reset_to_state(task.start_state)
    else:
        v.reset(task.app or None)
    assert v.current_state == task.gt_states[0]
    for i, raw in enumerate(task.gt_actions):
        dev.observe()
        action = action_from_json(raw)
        result = dev.act(action)
        assert result.ok and "act" in result.timings
        if isinstance(action, Finish):
            assert result.effect == "finished"
            break
        assert v.current_state == task.gt_states[i + 1], (task.id, i, raw)
    assert v.current_state == task.gt_states[-1]


def test_dump_failures_are_retried_then_dump_error(fresh: AdbSession) -> None:
    v = fresh.virtual
    dev = fresh.make_device(use_u2="off", dump_attempts=3, dump_retry_delay_s=0.01)
    v.faults.dump_failures = 2
    obs = dev.observe()  # two failures, third attempt succeeds
    assert obs.screen.nodes and v.faults.dump_failures == 0
    v.faults.dump_failures = 3
    with pytest.raises(DumpError, match="null root node"):
        dev.observe()
    assert dev.health()  # the device survives


def test_corrupt_dump_is_a_typed_error(fresh: AdbSession) -> None:
    v = fresh.virtual
    dev = fresh.make_device(use_u2="off", dump_attempts=2, dump_retry_delay_s=0.01)
    v.faults.corrupt_dump = True
    try:
        with pytest.raises(DumpError, match="malformed XML"):
            dev.observe()
    finally:
        v.faults.corrupt_dump = False
    assert dev.observe().screen.nodes


def test_bad_input_gives_typed_errors_and_the_device_survives(fresh: AdbSession) -> None:
    dev = fresh.device
    w, _h = dev.screen_size()
    with pytest.raises(ActionError, match="outside"):
        dev.act(Tap(w + 10, 5))
    with pytest.raises(ActionError, match="unknown action"):
        action_from_json({"action": "teleport", "x": 1})
    with pytest.raises(ActionError):
        dev.act(Action())
    with pytest.raises(ActionError, match="not installed"):
        dev.act(OpenApp("com.nope.app"))
    with pytest.raises(ActionError, match="not a package name"):
        dev.open_app("com.x; reboot")
    with pytest.raises(ActionError, match="unknown key"):
        dev.press("warp")
    with pytest.raises(ActionError, match="no element"):
        dev.act(Scroll("down", element="/nope[0]"))
    assert dev.observe().screen.nodes
    dev.act(Key("home"))
    assert fresh.virtual.current_state == fresh.virtual._home


def test_device_dropped_mid_episode_gives_device_gone() -> None:
    faults = FaultConfig()
    cfg = SessionConfig(adb_config={"use_u2": "off", "reconnect_attempts": 1,
                                    "reconnect_delay_s": 0.05, "connect_timeout_s": 2.0,
                                    "shell_timeout_s": 5.0})
    with AdbSession.for_world("demo", faults=faults, config=cfg) as s:
        dev = s.device
        dev.observe()
        v = s.virtual
        v.faults.drop_after_calls = v.calls + 1  # the next observe() loses the device
        with pytest.raises(DeviceGoneError):
            dev.observe()
        with pytest.raises(DeviceGoneError):  # later actions fail fast, typed
            dev.act(Tap(10, 10))
        assert not dev.health()
        # A new controller on the dead serial: typed error too, not a hang.
        with pytest.raises(DeviceError):
            s.make_device(use_u2="off", reconnect_attempts=1, reconnect_delay_s=0.05,
                          connect_timeout_s=2.0).observe()


def test_uiautomator2_fast_path_auto_and_on(fresh: AdbSession) -> None:
    v = fresh.virtual
    auto = fresh.make_device(use_u2="auto")
    assert auto.using_u2  # the virtual device's u2 server answers /ping
    obs = auto.observe()
    assert obs.hierarchy_xml == v.dump_xml() and obs.screenshot_png == v.screenshot_png()
    v.reset("com.llamatouch.notes")
    before = len(v.events)
    auto.act(Tap(948, 2118))
    assert v.events[before]["kind"] == "tap"
    auto.act(Key("back"))
    assert v.events[-1]["args"] == {"key": "back"}
    off = fresh.make_device(use_u2="off")
    assert not off.using_u2


def test_connect_specs(demo_session: AdbSession) -> None:
    dev = connect("virtual:demo")
    assert isinstance(dev, VirtualDevice) and dev.observe().screen.nodes
    remote = connect("adb-virtual:demo", use_u2="off")
    try:
        obs = remote.observe()
        assert obs.activity == dev.foreground_activity()
        remote.reset("com.llamatouch.notes")
        assert remote.observe().package == "com.llamatouch.notes"
    finally:
        remote.close()
    adb = connect(f"adb:{demo_session.serial}", adb_port=demo_session.adb_port, use_u2="off")
    assert isinstance(adb, AdbDevice) and adb.health()
    with pytest.raises(DeviceError):
        connect("")


def test_adb_config_is_validated() -> None:
    with pytest.raises(ValueError, match="use_u2"):
        AdbConfig(use_u2="maybe")
    with pytest.raises(ValueError, match="dump_attempts"):
        AdbConfig(dump_attempts=0)
    assert Type("x").clear


def test_slow_device_gives_timeout_error_and_survives(fresh: AdbSession) -> None:
    v = fresh.virtual
    dev = fresh.make_device(use_u2="off", shell_timeout_s=0.3, screenshot_timeout_s=0.3,
                            dump_timeout_s=0.3)
    dev.screen_size()
    v.faults.delay_s = 1.0
    try:
        with pytest.raises(DeviceTimeoutError, match=r"timed out after 0\.3s"):
            dev.observe()
    finally:
        v.faults.delay_s = 0.0
    # the same controller keeps working once calls may take long enough again
    dev.config.shell_timeout_s = dev.config.screenshot_timeout_s = 20.0
    dev.config.dump_timeout_s = 20.0
    assert dev.observe().screen.nodes and dev.health()


def test_reset_in_a_session_resets_the_served_device(fresh: AdbSession) -> None:
    v, dev = fresh.virtual, fresh.device
    v.reset("com.llamatouch.notes")
    dev.act(Tap(948, 2118))
    assert v.current_state != "notes_list"
    dev.reset("com.llamatouch.notes")
    assert v.current_state == "notes_list" and v._back_stack == [v._home]
    dev.reset()
    assert v.current_state == v._home
    plain = AdbDevice(fresh.adb_config())  # no hook: home + force-stop + launcher intent
    plain.reset("com.llamatouch.notes")
    assert v.foreground_package() == "com.llamatouch.notes"


def test_device_dropped_on_the_uiautomator2_path_gives_device_gone() -> None:
    cfg = SessionConfig(adb_config={"use_u2": "on", "reconnect_attempts": 1,
                                    "reconnect_delay_s": 0.05, "connect_timeout_s": 2.0,
                                    "shell_timeout_s": 5.0, "u2_timeout_s": 5.0})
    with AdbSession.for_world("demo", config=cfg) as s:
        dev = s.device
        assert dev.using_u2
        dev.observe()
        s.virtual.faults.drop_after_calls = s.virtual.calls + 1
        with pytest.raises(DeviceGoneError):
            dev.observe()
        with pytest.raises(DeviceGoneError):
            dev.act(Key("back"))
