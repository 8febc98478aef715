"""Typed trace records: every field of manifest.json and step.json checked on reading (errors
name file and field), the JSON layout unchanged (``llamatouch.trace/1``), old traces still read,
and symbolic links never followed out of a trace."""

from __future__ import annotations

import copy
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from llamatouch.actions import Finish, Tap
from llamatouch.agent import DeviceCapabilities, LLMUsageSummary
from llamatouch.device.base import ActResult
from llamatouch.errors import InputFormatError, LlamaTouchError, SchemaError
from llamatouch.trace.format import (
    TRACE_SCHEMA,
    StepRecord,
    TraceManifest,
    TraceWriter,
    read_trace,
)
from llamatouch.trace.records import (
    Effect,
    EpisodeStatus,
    EpisodeUsage,
    FailureKind,
    TaskRef,
    VerdictRecord,
    VerdictStatus,
)

#: A manifest exactly as the v1 runner wrote it before records were typed.
OLD_MANIFEST: dict[str, Any] = {
    "episode_id": "contacts-call-alice__replay__t0",
    "task": {"id": "contacts-call-alice", "suite": "demo", "app": "com.demo.contacts",
             "instruction": "Call Alice", "trial": 0},
    "agent": {"name": "replay", "oracle": True},
    "device": {"serial": "virtual:demo", "kind": "virtual", "width": 1080, "height": 2400,
               "world": "demo"},
    "status": "finished",
    "num_steps": 3,
    "started_at": 1764547200.5,
    "finished_at": 1764547203.25,
    "verdict": {"status": "success", "reason": "all 2 checkpoints satisfied",
                "task_id": "contacts-call-alice", "episode_id": "contacts-call-alice__replay__t0",
                "checkpoint_steps": [1, None],
                "evidence": [{"checkpoint": 0, "primitive": 0, "type": "activity", "step": 1,
                              "passed": True, "score": 1.0, "threshold": 1.0,
                              "expected": "com.demo/.Call", "found": {"a": [1, 2]},
                              "detail": ""}],
                "problems": []},
    "usage": {"calls": 3, "prompt_tokens": 1200, "completion_tokens": 60,
              "cached_prompt_tokens": 400, "prefill_s": 1.5, "decode_s": 0.75, "seconds": 2.5,
              "saved_calls": 1, "agent_s": 2.75, "device_s": 0.25, "wall_s": 3.0,
              "actions": 2, "infra_attempts": 0},
    "error": None,
    "schema": TRACE_SCHEMA,
}

#: A step record as the v1 runner wrote it.
OLD_STEP: dict[str, Any] = {
    "index": 1,
    "activity": "com.demo.contacts/.Main",
    "package": "com.demo.contacts",
    "action": {"action": "tap", "x": 540, "y": 1200, "element": "btn-call"},
    "action_result": {"ok": True, "effect": "changed", "detail": "hit 'Call'",
                      "started_at": 1764547201.0, "finished_at": 1764547201.5,
                      "timings": {"input": 0.5}},
    "reasoning": "Alice is listed; tap call.",
    "observed_at": 1764547200.9,
    "acted_at": 1764547201.5,
    "timings": {"observe": 0.1, "agent": 0.9, "act": 0.5},
    "llm": {"calls": 1, "prompt_tokens": 400, "completion_tokens": 20,
            "cached_prompt_tokens": 100, "prefill_s": 0.5, "decode_s": 0.25, "seconds": 0.8,
            "saved_calls": 0},
    "installed_packages": ["com.demo.contacts"],
    "has_screenshot": True,
    "has_hierarchy": True,
    "width": 1080,
    "height": 2400,
    "error": None,
    "extra": {"agent": {"memory_hit": False}},
}


def test_old_layout_reads_typed_and_writes_back_identically() -> None:
    m = TraceManifest.from_json(copy.deepcopy(OLD_MANIFEST), "m.json")
    assert isinstance(m.task, TaskRef) and m.task.id == "contacts-call-alice"
    assert isinstance(m.device, DeviceCapabilities) and m.device.width == 1080
    assert isinstance(m.usage, EpisodeUsage) and m.usage.llm.calls == 3
    assert m.usage.actions == 2 and m.usage.wall_s == 3.0
    assert isinstance(m.verdict, VerdictRecord) and m.verdict.status is VerdictStatus.SUCCESS
    assert m.verdict.evidence[0].found == {"a": [1, 2]}
    assert m.status is EpisodeStatus.FINISHED and m.status == "finished"
    back = m.to_json()
    # same layout; the device record also says whether screenshots are real (a nested key)
    assert back["device"].pop("screenshots") is True
    assert back == OLD_MANIFEST
    s = StepRecord.from_json(copy.deepcopy(OLD_STEP), "s.json")
    assert s.action == Tap(540, 1200, element="btn-call")
    assert isinstance(s.action_result, ActResult) and s.action_result.effect == Effect.CHANGED
    assert isinstance(s.llm, LLMUsageSummary) and s.llm.prompt_tokens == 400
    assert s.to_json() == OLD_STEP


def test_minimal_old_manifest_still_reads() -> None:
    """An imported trace of the first v1 writers: empty device, no usage, task without trial,
    and ``llm_calls`` where the runner now writes ``calls``."""
    m = TraceManifest.from_json({"episode_id": "e", "task": {"id": "t", "episode": "0959"},
                                 "agent": {}, "device": {}, "status": "step_limit",
                                 "num_steps": 0, "usage": {"llm_calls": 4},
                                 "schema": TRACE_SCHEMA}, "m.json")
    assert m.device is None and m.task.trial == 0 and m.task.extra == {"episode": "0959"}
    assert m.usage.llm.calls == 4 and m.usage.actions is None
    assert m.to_json()["task"]["episode"] == "0959"


def test_enums_are_the_strings_on_disk() -> None:
    assert [str(s) for s in EpisodeStatus] == ["running", "finished", "step_limit",
                                                "agent_error", "infra_error", "crash"]
    assert [str(s) for s in VerdictStatus] == ["success", "fail", "error", "unscored",
                                                "not_run"]
    assert {"crash", "infra", "agent", "eval", "unscored", ""} == {str(k) for k in FailureKind}
    assert [str(e) for e in Effect] == ["changed", "no_effect", "unknown", "finished",
                                         "invalid"]
    assert json.dumps({"s": EpisodeStatus.STEP_LIMIT}) == '{"s": "step_limit"}'


# (field path, bad value) -> the error names that field, in the manifest
BAD_MANIFEST_FIELDS: list[tuple[str, Any, str]] = [
    ("num_steps", "4", "num_steps"),
    ("num_steps", -1, "num_steps"),
    ("num_steps", 2.5, "num_steps"),
    ("num_steps", True, "num_steps"),
    ("num_steps", 10**12, "num_steps"),
    ("task", "x", "task"),
    ("task", [], "task"),
    ("task.id", 7, "task.id"),
    ("task.trial", "0", "task.trial"),
    ("task.trial", -2, "task.trial"),
    ("agent", "replay", "agent"),
    ("agent.name", 3, "agent.name"),
    ("device", 5, "device"),
    ("device.width", "1080", "device.width"),
    ("device.height", -1, "device.height"),
    ("device.screenshots", "yes", "device.screenshots"),
    ("status", "done", "status"),
    ("status", 1, "status"),
    ("started_at", "noon", "started_at"),
    ("finished_at", float("inf"), "finished_at"),
    ("verdict", "success", "verdict"),
    ("verdict.status", "passed", "verdict.status"),
    ("verdict.checkpoint_steps", {"0": 1}, "verdict.checkpoint_steps"),
    ("verdict.checkpoint_steps", [1, "2"], "verdict.checkpoint_steps[1]"),
    ("verdict.evidence", [{"checkpoint": "0"}], "verdict.evidence[0].checkpoint"),
    ("verdict.evidence", [5], "verdict.evidence[0]"),
    ("verdict.problems", [1], "verdict.problems[0]"),
    ("usage", [], "usage"),
    ("usage.calls", "3", "usage.calls"),
    ("usage.calls", -3, "usage.calls"),
    ("usage.wall_s", -0.5, "usage.wall_s"),
    ("usage.actions", "2", "usage.actions"),
    ("error", 404, "error"),
    ("episode_id", None, "episode_id"),
    ("colour", "blue", "colour"),
]


def _set(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    *parents, last = path.split(".")
    node = out
    for p in parents:
        node = node[p]
    node[last] = value
    return out


@pytest.mark.parametrize(("path", "value", "field"), BAD_MANIFEST_FIELDS)
def test_every_bad_manifest_field_is_a_schema_error(path: str, value: Any, field: str) -> None:
    with pytest.raises(SchemaError) as e:
        TraceManifest.from_json(_set(OLD_MANIFEST, path, value), "run/m/manifest.json")
    assert e.value.field == field and e.value.source == "run/m/manifest.json"
    assert "run/m/manifest.json" in str(e.value) and repr(field) in str(e.value)


BAD_STEP_FIELDS: list[tuple[str, Any, str]] = [
    ("index", "1", "index"),
    ("activity", None, "activity"),
    ("action", {"action": "teleport"}, "action"),
    ("action", "tap", "action"),
    ("action_result", {"ok": "yes"}, "action_result.ok"),
    ("action_result", {"ok": True, "effect": "exploded"}, "action_result.effect"),
    ("action_result.timings", {"input": "fast"}, "action_result.timings.input"),
    ("timings", {"act": -1}, "timings.act"),
    ("timings", [1], "timings"),
    ("llm", {"calls": "1"}, "llm.calls"),
    ("installed_packages", "com.x", "installed_packages"),
    ("installed_packages", [1], "installed_packages[0]"),
    ("has_screenshot", 1, "has_screenshot"),
    ("width", -5, "width"),
    ("height", "2400", "height"),
    ("error", ["x"], "error"),
    ("extra", "x", "extra"),
    ("observed_at", float("nan"), "observed_at"),
    ("colour", "blue", "colour"),
]


@pytest.mark.parametrize(("path", "value", "field"), BAD_STEP_FIELDS)
def test_every_bad_step_field_is_a_schema_error(path: str, value: Any, field: str) -> None:
    with pytest.raises(SchemaError) as e:
        StepRecord.from_json(_set(OLD_STEP, path, value), "ep/steps/0001/step.json")
    assert e.value.field == field and e.value.source == "ep/steps/0001/step.json"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids,
                                                              max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from(sorted(OLD_MANIFEST)), value=JSON)
def test_any_value_in_any_manifest_field_reads_or_is_a_schema_error(key: str, value: Any) -> None:
    try:
        m = TraceManifest.from_json({**OLD_MANIFEST, key: value}, "m.json")
    except SchemaError:
        return
    again = TraceManifest.from_json(m.to_json(), "m.json")  # what reads, writes back readable
    assert again.to_json() == m.to_json()


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from(sorted(OLD_STEP)), value=JSON)
def test_any_value_in_any_step_field_reads_or_is_a_schema_error(key: str, value: Any) -> None:
    try:
        s = StepRecord.from_json({**OLD_STEP, key: value}, "s.json")
    except SchemaError:
        return
    assert StepRecord.from_json(s.to_json(), "s.json").to_json() == s.to_json()


def test_writer_keeps_the_dict_era_call_signature(tmp_path: Path) -> None:
    """Producers that still pass JSON dicts (the old keyword arguments) write valid traces."""
    w = TraceWriter(tmp_path / "ep", TraceManifest(episode_id="e", task={"id": "t", "trial": 1},
                                                   device={"serial": "s", "kind": "adb",
                                                           "width": 10, "height": 20}))
    rec = StepRecord(index=0)
    rec.action = {"action": "finish", "status": "success"}  # type: ignore[assignment]
    rec.action_result = {"ok": True, "effect": "finished"}  # type: ignore[assignment]
    rec.llm = {"calls": 2, "prompt_tokens": 7}  # type: ignore[assignment]
    w.write_step(rec, None, None)
    w.update(usage={"calls": 2, "actions": 1}, verdict={"status": "fail", "reason": "r"})
    w.finish("finished")
    t = read_trace(tmp_path / "ep")
    assert t.manifest.task.trial == 1 and t.manifest.device is not None
    assert t.manifest.usage.llm.calls == 2 and t.manifest.verdict is not None
    assert t.manifest.verdict.status == "fail" and t.manifest.status == "finished"
    assert t.steps[0].action() == Finish("success") and t.steps[0].record.llm.calls == 2
    with pytest.raises(SchemaError):  # a bad value is refused where it is given
        w.update(usage={"calls": "many"})
    with pytest.raises(ValueError):
        w.finish("exploded")


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 8), "white").save(buf, "PNG")
    return buf.getvalue()


def _trace(root: Path, n: int = 2) -> Path:
    w = TraceWriter(root, TraceManifest(episode_id=root.name, task=TaskRef(id="t")))
    for i in range(n):
        w.write_step(StepRecord(index=i, action=Tap(1, 1)), _png(), b"<hierarchy/>")
    w.finish(EpisodeStatus.FINISHED)
    return root


def test_manifest_with_num_steps_as_text_names_file_and_field(tmp_path: Path) -> None:
    root = _trace(tmp_path / "ep")
    mpath = root / "manifest.json"
    mpath.write_text(json.dumps({**json.loads(mpath.read_text()), "num_steps": "4"}))
    with pytest.raises(SchemaError) as e:
        read_trace(root)
    assert e.value.source == str(mpath) and e.value.field == "num_steps"


def test_symlinked_step_folder_is_not_followed_out_of_the_trace(tmp_path: Path) -> None:
    root = _trace(tmp_path / "ep")
    outside = _trace(tmp_path / "secret")
    step1 = root / "steps" / "0001"
    import shutil

    shutil.rmtree(step1)
    os.symlink(outside / "steps" / "0001", step1)
    with pytest.raises(InputFormatError, match="symbolic link") as e:
        read_trace(root)
    assert e.value.source == str(step1)


@pytest.mark.parametrize("name", ["step.json", "screen.png", "screen.xml"])
def test_symlinked_step_file_is_refused(tmp_path: Path, name: str) -> None:
    root = _trace(tmp_path / "ep")
    target = tmp_path / "elsewhere"
    target.write_bytes((root / "steps" / "0000" / name).read_bytes())
    link = root / "steps" / "0000" / name
    link.unlink()
    os.symlink(target, link)
    if name == "step.json":  # checked when the trace is read
        with pytest.raises(InputFormatError, match="symbolic link"):
            read_trace(root)
        return
    step = read_trace(root).steps[0]  # the screen files are refused when they are read
    read = step.screenshot_png if name == "screen.png" else step.hierarchy_xml
    with pytest.raises(InputFormatError, match="symbolic link") as e:
        read()
    assert e.value.source == str(link)


def test_file_swapped_for_a_symlink_after_reading_is_refused(tmp_path: Path) -> None:
    root = _trace(tmp_path / "ep")
    trace = read_trace(root)
    link = root / "steps" / "0001" / "screen.png"
    link.unlink()
    os.symlink(tmp_path / "ep" / "steps" / "0000" / "screen.png", link)
    with pytest.raises(LlamaTouchError, match="symbolic link"):
        trace.steps[1].screenshot_png()


def test_symlinked_steps_folder_and_manifest_are_refused(tmp_path: Path) -> None:
    root = _trace(tmp_path / "ep")
    other = _trace(tmp_path / "other")
    import shutil

    shutil.rmtree(root / "steps")
    os.symlink(other / "steps", root / "steps")
    with pytest.raises(InputFormatError, match="symbolic link"):
        read_trace(root)
    root2 = _trace(tmp_path / "ep2")
    (root2 / "manifest.json").unlink()
    os.symlink(other / "manifest.json", root2 / "manifest.json")
    with pytest.raises(InputFormatError, match="symbolic link"):
        read_trace(root2)


def test_deeply_nested_step_json_is_a_format_error(tmp_path: Path) -> None:
    root = _trace(tmp_path / "ep")
    (root / "steps" / "0000" / "step.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InputFormatError):
        read_trace(root)

