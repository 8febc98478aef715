"""Trace format v1: TraceWriter / read_trace round trip, atomicity, validation errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import llamatouch.trace.format as fmt
from llamatouch.actions import Tap
from llamatouch.errors import ImageFormatError, JsonFormatError, SchemaError, XmlFormatError
from llamatouch.trace.format import (
    StepRecord,
    TraceManifest,
    TraceWriter,
    find_traces,
    read_trace,
)
from llamatouch.trace.records import action_to_json
from llamatouch.ui.xmlio import read_uiautomator_xml, write_uiautomator_xml


@pytest.fixture(scope="module")
def real_step(llamatouch_data_dir: Path) -> tuple[bytes, bytes]:
    """A real LlamaTouch screen: screenshot PNG + uiautomator dump (click_case1/10)."""
    case = llamatouch_data_dir / "cases" / "click_case1"
    return (case / "10.png").read_bytes(), (case / "10.xml").read_bytes()


def _write(root: Path, png: bytes, xml: bytes, n: int = 3) -> TraceWriter:
    w = TraceWriter(root, TraceManifest(episode_id="ep1", task={"id": "t"}, agent={"name": "a"}))
    for i in range(n):
        action: dict[str, Any] | None = {"action": "tap", "x": 10 + i, "y": 20}
        w.write_step(
            StepRecord(
                index=i,
                activity="com.x/.Main",
                action=action,
                width=1080,
                height=1918,
                timings={"act": 0.01},
            ),
            png,
            xml,
        )
    return w


def test_round_trip_with_a_real_screen(tmp_path: Path, real_step: tuple[bytes, bytes]) -> None:
    png, xml = real_step
    w = _write(tmp_path / "ep", png, xml)
    w.finish("finished")
    trace = read_trace(tmp_path / "ep")
    assert trace.complete and trace.manifest.num_steps == 3 and len(trace) == 3
    for i, step in enumerate(trace):
        assert step.index == i
        assert step.record.has_screenshot and step.record.has_hierarchy
        assert step.screenshot_png() == png
        assert action_to_json(step.record.action) == {"action": "tap", "x": 10 + i, "y": 20}
        assert step.action() == Tap(10 + i, 20)
        assert step.record.timings == {"act": 0.01}
    screen = trace.steps[0].screen()
    assert screen.width == 1080 and screen.activity == "com.x/.Main"
    original = read_uiautomator_xml(xml, "10.xml", width=1080, height=1918)
    assert write_uiautomator_xml(screen) == write_uiautomator_xml(original)
    assert find_traces(tmp_path) == [tmp_path / "ep"]


def test_crash_while_writing_a_step_leaves_only_complete_steps(
    tmp_path: Path, real_step: tuple[bytes, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    png, xml = real_step
    w = _write(tmp_path / "ep", png, xml, n=2)
    real_replace = fmt.os.replace

    def crash(src: Any, dst: Any) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(fmt.os, "replace", crash)
    with pytest.raises(OSError):
        w.write_step(StepRecord(index=2), png, xml)
    monkeypatch.setattr(fmt.os, "replace", real_replace)
    # the half-written step stays in its hidden temp folder; readers never see it
    assert (tmp_path / "ep" / "steps" / ".0002.tmp").is_dir()
    assert not (tmp_path / "ep" / "steps" / "0002").exists()
    trace = read_trace(tmp_path / "ep")
    assert len(trace) == 2 and trace.manifest.status == "running" and not trace.complete


def test_crash_before_the_manifest_update_hides_the_new_step(
    tmp_path: Path, real_step: tuple[bytes, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    png, xml = real_step
    w = _write(tmp_path / "ep", png, xml, n=1)

    def crash(self: TraceWriter) -> None:
        raise OSError("killed")

    monkeypatch.setattr(TraceWriter, "_write_manifest", crash)
    with pytest.raises(OSError):
        w.write_step(StepRecord(index=1), png, xml)
    assert (tmp_path / "ep" / "steps" / "0001" / "step.json").is_file()
    trace = read_trace(tmp_path / "ep")
    assert len(trace) == 1  # the manifest counts only complete, acknowledged steps


def test_restarting_an_episode_clears_the_old_one(
    tmp_path: Path, real_step: tuple[bytes, bytes]
) -> None:
    png, xml = real_step
    _write(tmp_path / "ep", png, xml, n=3)
    _write(tmp_path / "ep", png, xml, n=1)
    assert len(read_trace(tmp_path / "ep")) == 1
    assert not (tmp_path / "ep" / "steps" / "0002").exists()


def test_out_of_order_step_is_refused(tmp_path: Path, real_step: tuple[bytes, bytes]) -> None:
    png, xml = real_step
    w = _write(tmp_path / "ep", png, xml, n=1)
    with pytest.raises(ValueError, match="out of order"):
        w.write_step(StepRecord(index=5), png, xml)


def _manifest(root: Path) -> dict[str, Any]:
    return json.loads((root / "manifest.json").read_text())


def test_validation_errors_name_file_and_field(
    tmp_path: Path, real_step: tuple[bytes, bytes]
) -> None:
    png, xml = real_step
    root = tmp_path / "ep"
    _write(root, png, xml, n=2)
    mpath = root / "manifest.json"
    good = _manifest(root)

    mpath.write_text(json.dumps({**good, "schema": "other/9"}))
    with pytest.raises(SchemaError) as e:
        read_trace(root)
    assert e.value.source == str(mpath) and e.value.field == "schema"

    mpath.write_text(json.dumps({k: v for k, v in good.items() if k != "episode_id"}))
    with pytest.raises(SchemaError) as e:
        read_trace(root)
    assert e.value.field == "episode_id"

    mpath.write_text(json.dumps({**good, "colour": "blue"}))
    with pytest.raises(SchemaError) as e:
        read_trace(root)
    assert "colour" in str(e.value)

    mpath.write_text('{"schema": ')
    with pytest.raises(JsonFormatError) as e2:
        read_trace(root)
    assert e2.value.source == str(mpath)

    mpath.write_text(json.dumps(good))
    spath = root / "steps" / "0001" / "step.json"
    step = json.loads(spath.read_text())
    spath.write_text(json.dumps({**step, "index": 7}))
    with pytest.raises(SchemaError) as e:
        read_trace(root)
    assert e.value.source == str(spath) and e.value.field == "index"

    spath.write_text(json.dumps({**step, "action": {"action": "teleport"}}))
    with pytest.raises(SchemaError) as e:  # checked when the trace is read
        read_trace(root)
    assert e.value.source == str(spath) and e.value.field == "action"

    spath.unlink()
    with pytest.raises(JsonFormatError) as e2:
        read_trace(root)
    assert e2.value.source == str(spath)


def test_corrupt_png_and_xml_in_a_step(tmp_path: Path, real_step: tuple[bytes, bytes]) -> None:
    png, xml = real_step
    root = tmp_path / "ep"
    _write(root, png, xml, n=1)
    folder = root / "steps" / "0000"
    (folder / "screen.png").write_bytes(b"GIF89a not a png")
    (folder / "screen.xml").write_bytes(xml[: len(xml) // 2])
    trace = read_trace(root)
    with pytest.raises(ImageFormatError) as e1:
        trace.steps[0].screenshot_png()
    assert e1.value.source == str(folder / "screen.png")
    with pytest.raises(XmlFormatError) as e2:
        trace.steps[0].screen()
    assert e2.value.source == str(folder / "screen.xml")
    (folder / "screen.xml").write_bytes(
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa">]><hierarchy>&a;</hierarchy>'
    )
    with pytest.raises(XmlFormatError):
        trace.steps[0].screen()
    (folder / "screen.png").unlink()
    with pytest.raises(ImageFormatError) as e3:
        trace.steps[0].screenshot_png()
    assert "cannot read" in str(e3.value)
