"""The Ray device pool (resources → devices, fitting, choice) and trace shipping, without Ray."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llamatouch.runner.ray_pool import (
    PoolError,
    choose,
    devices_of_node,
    devices_of_nodes,
    node_resources,
    resources_json,
    virtual_kind,
)
from llamatouch.runner.trace_pack import TracePackError, install, pack
from llamatouch.runner.work import EpisodeSpec
from llamatouch.tasks import Task


def _spec(eid: str, world: str = "demo", app: str = "com.llamatouch.notes") -> EpisodeSpec:
    task = Task(id=eid, instruction="do it", app=app, world=world)
    return EpisodeSpec(f"{eid}__replay__t0", task, "demo", 0, 10, world)


def test_node_resources_round_trip_to_devices() -> None:
    specs = ["adb-virtual:demo", "adb-virtual:demo", "R58M12", "virtual"]
    res = node_resources(specs)
    assert res == {"llamatouch_world:demo": 2, "llamatouch_device:R58M12": 1,
                   "llamatouch_virtual": 1}
    assert json.loads(resources_json(specs)) == res
    devices = devices_of_node("n1" * 20, "10.0.0.5", {**res, "CPU": 4.0, "memory": 1e9})
    assert sorted((d.kind, d.serial, d.world, d.slot) for d in devices) == [
        ("adb", "R58M12", "", 0), ("virtual", "", "", 0), ("virtual", "", "demo", 0),
        ("virtual", "", "demo", 1)]
    assert {d.device_spec("adb-virtual") for d in devices} == {
        "R58M12", "adb-virtual", "adb-virtual:demo"}


def test_fitting_follows_world_and_apps() -> None:
    phone_any, = devices_of_node("a", "h", {"llamatouch_device:P1": 1})
    phone_notes, = devices_of_node(
        "b", "h", {"llamatouch_device:P2": 1, "llamatouch_app:com.llamatouch.notes": 1})
    demo, = devices_of_node("c", "h", {"llamatouch_world:demo": 1})
    anyworld, = devices_of_node("d", "h", {"llamatouch_virtual": 1})
    notes, clock = _spec("n"), _spec("c", world="other", app="com.llamatouch.clock")
    assert phone_any.fits(notes) and phone_any.fits(clock)
    assert phone_notes.fits(notes) and not phone_notes.fits(clock)
    assert demo.fits(notes) and not demo.fits(clock)
    assert demo.fits(_spec("x", world=""))  # a task without a world runs in demo
    assert anyworld.fits(notes) and anyworld.fits(clock)


def test_choose_spreads_over_nodes_and_refuses_unplaceable_work() -> None:
    nodes = [
        {"Alive": True, "NodeID": "A" * 40, "NodeManagerAddress": "h1",
         "Resources": {"llamatouch_world:demo": 3}},
        {"Alive": True, "NodeID": "B" * 40, "NodeManagerAddress": "h2",
         "Resources": {"llamatouch_world:demo": 2, "llamatouch_world:other": 1}},
        {"Alive": False, "NodeID": "C" * 40, "NodeManagerAddress": "h3",
         "Resources": {"llamatouch_world:third": 1}},
    ]
    devices = devices_of_nodes(nodes)
    assert len(devices) == 6  # the dead node's devices are not in the pool
    work = [_spec("a"), _spec("b")]
    chosen = choose(devices, work, None)
    assert len(chosen) == 5  # the 'other' slot fits no episode: no actor for it
    assert [d.node_id[0] for d in chosen[:4]] == ["A", "B", "A", "B"]
    assert [d.node_id[0] for d in choose(devices, work, 2)] == ["A", "B"]
    with pytest.raises(PoolError, match="llamatouch_world:third"):
        choose(devices, [_spec("t", world="third")], None)
    with pytest.raises(PoolError, match="--workers 1"):
        choose(devices, [_spec("a"), _spec("o", world="other")], 1)


def test_virtual_kind() -> None:
    assert virtual_kind(["virtual:demo"]) == "virtual"
    assert virtual_kind(["R58M12"]) == virtual_kind([]) == "adb-virtual"


def _trace(folder: Path, steps: int, marker: str) -> None:
    (folder / "steps").mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"marker": marker}))
    for i in range(steps):
        step = folder / "steps" / f"{i:04d}"
        step.mkdir()
        (step / "step.json").write_text(json.dumps({"index": i}))
        (step / "screen.png").write_bytes(bytes(range(256)) * (i + 1))


def test_install_replaces_an_earlier_attempt_atomically(tmp_path: Path) -> None:
    remote = tmp_path / "node" / "ep"
    _trace(remote, 3, "new")
    run = tmp_path / "run"
    _trace(run / "traces" / "ep", 5, "old")  # a killed run's half-done attempt
    installed = install(pack(remote), run / "traces", "ep")
    assert installed == run / "traces" / "ep"
    assert json.loads((installed / "manifest.json").read_text()) == {"marker": "new"}
    assert sorted(p.name for p in (installed / "steps").iterdir()) == ["0000", "0001", "0002"]
    assert (installed / "steps" / "0002" / "screen.png").read_bytes() == bytes(range(256)) * 3
    assert not any((run / ".incoming").iterdir())  # no leftovers


def _tar(name: str, data: bytes = b"x", kind: bytes = tarfile.REGTYPE) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.type = kind
        if kind == tarfile.SYMTYPE:
            info.linkname = "/etc/passwd"
            tar.addfile(info)
        else:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize("data", [
    _tar("../escape.json"), _tar("/abs.json"), _tar("link", kind=tarfile.SYMTYPE),
    b"not a tar at all",
])
def test_install_refuses_bad_packs(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(TracePackError, match="ep"):
        install(data, tmp_path / "run" / "traces", "ep")
    assert not (tmp_path / "run" / "traces" / "ep").exists()
    assert not (tmp_path / "escape.json").exists()


@pytest.mark.parametrize("eid", ["", "..", "a/b", "."])
def test_install_refuses_episode_ids_that_are_not_folder_names(tmp_path: Path, eid: str) -> None:
    with pytest.raises(TracePackError):
        install(_tar("manifest.json"), tmp_path / "traces", eid)


def test_pack_refuses_symlinks(tmp_path: Path) -> None:
    _trace(tmp_path / "ep", 1, "m")
    (tmp_path / "ep" / "steps" / "0000" / "leak").symlink_to("/etc/hostname")
    with pytest.raises(TracePackError, match="symbolic"):
        pack(tmp_path / "ep")


@settings(max_examples=40, deadline=None)
@given(files=st.dictionaries(
    st.from_regex(r"[a-z0-9_]{1,8}(\.[a-z]{1,4})?", fullmatch=True),
    st.binary(max_size=2000), min_size=1, max_size=8))
def test_pack_install_round_trip(tmp_path_factory: pytest.TempPathFactory,
                                 files: dict[str, bytes]) -> None:
    base = tmp_path_factory.mktemp("rt")
    src = base / "src"
    (src / "steps" / "0000").mkdir(parents=True)
    for name, data in files.items():
        (src / "steps" / "0000" / name).write_bytes(data)
    out = install(pack(src), base / "run" / "traces", "ep")
    got = {p.name: p.read_bytes() for p in (out / "steps" / "0000").iterdir()}
    assert got == files


def test_eval_cli_refuses_ray_options_without_the_ray_executor(tmp_path: Path) -> None:
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-m", "llamatouch", "eval", "--agent", "replay",
                          "--address", "auto", "--out", str(tmp_path / "run"), "--no-progress"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert "--address and --trace-store go with --executor ray" in res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "run").exists()
