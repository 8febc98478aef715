"""The one device grammar (DeviceSpec), the composition root (open_device), the registered
kinds and worlds, and the optional load_state/save_state capability."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llamatouch.device import DeviceKind, DeviceSpec, OpenRequest, connect, open_device
from llamatouch.device import kinds as kinds_mod
from llamatouch.device.kinds import DEVICE_GROUP, registered_openers
from llamatouch.errors import DeviceError, SchemaError
from llamatouch.world import resolve_world, shipped_worlds
from llamatouch_emulator.virtual import VirtualDevice
from llamatouch_emulator.worlds import demo_world_dir

_TEXT = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20)


@pytest.mark.parametrize(
    ("text", "kind", "arg"),
    [
        ("virtual", DeviceKind.VIRTUAL, ""),
        ("virtual:demo", DeviceKind.VIRTUAL, "demo"),
        ("adb-virtual", DeviceKind.ADB_VIRTUAL, ""),
        ("adb-virtual:/tmp/w", DeviceKind.ADB_VIRTUAL, "/tmp/w"),
        ("adb:emulator-5554", DeviceKind.ADB, "emulator-5554"),
        ("emulator-5554", DeviceKind.ADB, "emulator-5554"),
        ("127.0.0.1:5555", DeviceKind.ADB, "127.0.0.1:5555"),
        ("adb", DeviceKind.ADB, "adb"),
    ],
)
def test_parse(text: str, kind: DeviceKind, arg: str) -> None:
    spec = DeviceSpec.parse(text)
    assert (spec.kind, spec.arg) == (kind, arg)
    assert spec.is_virtual == (kind is not DeviceKind.ADB)


@pytest.mark.parametrize("text", ["", "  ", "adb:"])
def test_parse_refuses_empty(text: str) -> None:
    with pytest.raises(DeviceError):
        DeviceSpec.parse(text)


@given(kind=st.sampled_from(list(DeviceKind)), arg=_TEXT)
def test_parse_round_trips(kind: DeviceKind, arg: str) -> None:
    spec = DeviceSpec(kind, arg)
    assert DeviceSpec.parse(str(spec)) == spec


@given(serial=_TEXT)
def test_a_bare_serial_is_adb_unless_it_names_a_kind(serial: str) -> None:
    spec = DeviceSpec.parse(serial)
    head = serial.partition(":")[0]
    if head in ("virtual", "adb-virtual") or (head == "adb" and ":" in serial):
        assert spec.kind.value == head
    else:
        assert spec == DeviceSpec(DeviceKind.ADB, serial)


def test_virtual_kinds_are_registered_by_the_emulator_package() -> None:
    openers = registered_openers()
    assert set(openers) >= {"virtual", "adb-virtual", "adb"}
    assert openers["virtual"].__module__ == "llamatouch_emulator.device_kinds"
    assert shipped_worlds()["demo"] == demo_world_dir()


def test_an_unregistered_kind_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kinds_mod, "entry_points", lambda group: [])
    with pytest.raises(DeviceError, match=DEVICE_GROUP) as err:
        open_device(DeviceSpec.parse("virtual:demo"))
    assert "registered: adb" in str(err.value)


def test_open_virtual_and_load_state() -> None:
    handle = open_device(DeviceSpec.parse("virtual"), OpenRequest(seed=3, index=2, world="demo"))
    try:
        dev = handle.device
        assert isinstance(dev, VirtualDevice) and dev.serial == "virtual-2-demo"
        assert handle.kind is DeviceKind.VIRTUAL and handle.world_states
        assert handle.world == "demo"  # a registered world by name: the same on every machine
        target = next(s for s in sorted(dev.world.states) if s != dev.current_state)
        dev.load_state(target)
        assert dev.current_state == target
        with pytest.raises(NotImplementedError, match="VirtualDevice"):
            dev.save_state("x")
    finally:
        handle.close()


def test_a_world_from_a_folder_is_recorded_as_that_folder(tmp_path: Path) -> None:
    """A folder world keeps its path (an agent reopens it from there); only a world asked
    for by its registered name is recorded by name."""
    import shutil

    folder = tmp_path / "mine"
    shutil.copytree(demo_world_dir(), folder)
    for spec in (f"virtual:{folder}", "virtual"):
        request = OpenRequest(world=str(folder) if spec == "virtual" else "demo")
        handle = open_device(DeviceSpec.parse(spec), request)
        try:
            assert handle.world == str(folder)
            assert resolve_world(handle.world).root == folder
        finally:
            handle.close()


def test_connect_virtual_means_the_demo_world() -> None:
    # It used to be read as an adb serial "virtual".
    dev = connect("virtual")
    assert isinstance(dev, VirtualDevice) and dev.world.name == "demo"


def test_resolve_world(tmp_path: Path) -> None:
    assert resolve_world("demo").name == "demo"
    demo = resolve_world("demo")
    demo.save(tmp_path / "worlds" / "mine")
    assert resolve_world("mine", tmp_path).root == tmp_path / "worlds" / "mine"
    assert resolve_world(str(tmp_path / "worlds" / "mine" / "world.json")).name == demo.name
    with pytest.raises(SchemaError, match="known: demo"):
        resolve_world("no-such-world", tmp_path)
