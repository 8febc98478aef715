"""Whole DroidTask ground-truth traces (real recorded apps, from ../shared) observed and acted
through AdbDevice → real adb → our ADB server, compared step by step with the in-process
VirtualDevice replaying the same world."""

from __future__ import annotations

from pathlib import Path

import pytest

from llamatouch.actions import Finish, action_from_json
from llamatouch.datasets.droidtask import import_app
from llamatouch.tasks import Task
from llamatouch_emulator.harness import AdbSession, SessionConfig
from llamatouch_emulator.virtual import VirtualDevice

pytestmark = pytest.mark.slow


def _start(v: VirtualDevice, task: Task) -> None:
    if task.start_state:
        v.reset_to_state(task.start_state)
    else:
        v.reset(task.app or None)


@pytest.mark.parametrize("app", ["notes", "clock"])
def test_droidtask_ground_truth_through_adb(droidtask_dir: Path, app: str) -> None:
    world, tasks, _summary = import_app(droidtask_dir / app, droidtask_dir, [])
    assert world is not None
    full = [t for t in tasks if t.meta.get("fully_resolved") and t.gt_actions]
    assert full, f"no fully resolved DroidTask task for {app}"
    reference = VirtualDevice(world, seed=0)
    served = VirtualDevice(world, seed=0, serial=f"droidtask-{app}")
    reached = 0
    steps = 0
    with AdbSession(served, SessionConfig(adb_config={"use_u2": "off"})) as s:
        dev = s.device
        for task in full:
            _start(reference, task)
            _start(served, task)
            for raw in task.gt_actions:
                obs = dev.observe()
                assert obs.hierarchy_xml == reference.dump_xml(), (task.id, raw)
                assert obs.activity == reference.foreground_activity()
                action = action_from_json(raw)
                dev.act(action)
                reference.act(action)
                steps += 1
                if isinstance(action, Finish):
                    break
                assert served.current_state == reference.current_state, (task.id, raw)
            reached += served.current_state == task.gt_states[-1]
    assert steps >= len(full)
    assert reached >= 1, "no ground-truth trace reached its final recorded state"
