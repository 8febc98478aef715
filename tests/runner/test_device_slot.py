"""A worker's DeviceSlot opens devices through the one composition root (open_device) and puts
them at a task's start with Device.load_state when the device loads world states."""

from __future__ import annotations

from pathlib import Path

import pytest

from llamatouch.errors import DeviceError
from llamatouch.runner.devices import DeviceSlot
from llamatouch.runner.runconfig import EvalConfig, RunError, check_config
from llamatouch.world import resolve_world
from llamatouch_emulator.virtual import VirtualDevice

STATE = "notes_editor_new"


def test_virtual_slot_loads_the_start_state() -> None:
    slot = DeviceSlot("virtual", 1, seed=7)
    try:
        dev, caps = slot.acquire("demo")
        assert isinstance(dev, VirtualDevice)
        assert (caps.kind, caps.serial, caps.world) == (
            "virtual", "virtual-1-demo", "demo"
        )
        slot.reset_to("demo", STATE, "com.llamatouch.notes")
        assert dev.current_state == STATE
        slot.reset_to("demo", "", "com.llamatouch.notes")
        assert dev.foreground_package() == "com.llamatouch.notes"
        assert dev.current_state != STATE
        assert slot.acquire("demo")[0] is dev  # kept per world
    finally:
        slot.close()


def test_a_bad_spec_fails_when_the_slot_is_made() -> None:
    with pytest.raises(DeviceError, match="needs a serial"):
        DeviceSlot("adb:", 0)


@pytest.mark.slow
def test_adb_virtual_slot_loads_the_start_state_out_of_band() -> None:
    slot = DeviceSlot("adb-virtual:demo", 0, seed=7)
    try:
        dev, caps = slot.acquire("")
        assert caps.kind == "adb-virtual" and caps.width > 0
        slot.reset_to("", STATE, "com.llamatouch.notes")
        assert dev.observe().package == "com.llamatouch.notes"
        # the state behind ADB is the one loaded: same screen as in process
        local = VirtualDevice(resolve_world("demo"))
        local.load_state(STATE)
        assert dev.observe().activity == local.foreground_activity()
    finally:
        slot.close()


def test_a_bad_device_is_refused_before_the_run(tmp_path: Path) -> None:
    config = EvalConfig(agent="random", out=tmp_path / "run", devices=("virtual", "adb:"))
    with pytest.raises(RunError, match=r"--device: .*needs a serial"):
        check_config(config)
    check_config(EvalConfig(agent="random", out=tmp_path / "run", devices=("virtual:demo",)))
