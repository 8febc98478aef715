"""Ground-truth traces written from the imported DroidTask worlds, read back."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from llamatouch.actions import Finish, action_from_json
from llamatouch.datasets.droidtask import ImportResult
from llamatouch.datasets.gt_trace import write_path_trace
from llamatouch.errors import SchemaError
from llamatouch.trace.format import read_trace
from llamatouch.world import load_world


def test_every_fully_resolved_task_has_a_readable_gt_trace(
    droidtask_import: ImportResult, droidtask_gt_traces: list[Path]
) -> None:
    tasks = {t.id: t for t in droidtask_import.fully_resolved}
    assert len(droidtask_gt_traces) == len(tasks) == 141
    steps = 0
    for folder in droidtask_gt_traces:
        trace = read_trace(folder)
        task = tasks[trace.manifest.task.id]
        assert trace.complete and trace.manifest.status == "finished"
        assert trace.manifest.agent == {"name": "ground_truth"}
        assert trace.manifest.task.instruction == task.instruction
        assert len(trace) == len(task.gt_states)
        for step, sid, act in zip(trace, task.gt_states, task.gt_actions, strict=True):
            screen = step.screen()  # the hierarchy XML parses
            assert len(screen.nodes) > 0
            assert step.record.extra["state_id"] == sid
            assert step.record.action == (None if act is None else action_from_json(act))
            assert step.screenshot_png().startswith(b"\x89PNG")
            steps += 1
        assert trace.steps[-1].record.action == Finish("success")
    print(f"gt traces: {len(droidtask_gt_traces)} traces, {steps} steps")


def test_rendered_screenshot_has_the_screen_size(
    droidtask_import: ImportResult, droidtask_gt_traces: list[Path]
) -> None:
    trace = read_trace(droidtask_gt_traces[0])
    step = trace.steps[0]
    assert step.record.extra["screenshot"] == "rendered"  # DroidTask has no screenshots
    img = Image.open(io.BytesIO(step.screenshot_png()))
    assert img.size == (step.record.width, step.record.height)


def test_write_path_trace_for_an_arbitrary_path(
    droidtask_import: ImportResult, tmp_path: Path
) -> None:
    """Synthesise a trace for a path that follows recorded transitions (not a task's)."""
    task = droidtask_import.suite.get("notes-task1")
    world = load_world(droidtask_import.worlds["notes"])
    path = [world.apps[0].start_state]
    actions = []
    for _ in range(3):
        edges = [t for t in world.outgoing(path[-1]) if t.target != path[-1]]
        if not edges:
            break
        actions.append(edges[0].action)
        path.append(edges[0].target)
    out = write_path_trace(
        world, task, path, actions, tmp_path / "wander", episode_id="wander", status="step_limit"
    )
    trace = read_trace(out)
    assert trace.manifest.episode_id == "wander"
    assert trace.manifest.status == "step_limit"
    assert [s.record.extra["state_id"] for s in trace] == path
    assert [s.record.action for s in trace][:-1] == [action_from_json(a) for a in actions]
    assert trace.steps[-1].record.action is None


def test_write_path_trace_rejects_bad_input(droidtask_import: ImportResult, tmp_path: Path) -> None:
    task = droidtask_import.suite.get("notes-task1")
    world = load_world(droidtask_import.worlds["notes"])
    sid = task.gt_states[0]
    with pytest.raises(SchemaError) as e1:
        write_path_trace(world, task, [sid, "nope"], [{"action": "wait"}], tmp_path / "a")
    assert e1.value.field == "gt_states[1]"
    with pytest.raises(SchemaError) as e2:
        write_path_trace(world, task, [sid], [{"action": "explode"}], tmp_path / "b")
    assert e2.value.field == "gt_actions[0]"
    with pytest.raises(SchemaError) as e3:
        write_path_trace(world, task, [sid], [{"action": "wait"}] * 3, tmp_path / "c")
    assert "3 actions for 1 states" in str(e3.value)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
