"""The proposer on real DroidTask ground-truth traces."""

from __future__ import annotations

from pathlib import Path

import pytest

from llamatouch.datasets.droidtask import ImportResult, import_droidtask
from llamatouch.datasets.gt_trace import write_gt_trace
from llamatouch.essential.propose import propose_annotation
from llamatouch.essential.schema import load_annotation, save_annotation
from llamatouch.essential.selftest import self_test
from llamatouch.trace.format import read_trace
from llamatouch.world import load_world


@pytest.fixture(scope="module")
def imported(droidtask_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> ImportResult:
    return import_droidtask(droidtask_dir, tmp_path_factory.mktemp("dt"))


def _gt(imported: ImportResult, task_id: str, tmp_path: Path):
    task = imported.suite.get(task_id)
    world = load_world(imported.out_dir / "worlds" / task.world)
    return task, read_trace(write_gt_trace(world, task, tmp_path / task_id))


def test_proposal_for_a_note_creation(imported, tmp_path):
    task, tr = _gt(imported, "notes-task1", tmp_path)
    ann = propose_annotation(tr, task)
    types = [p.type for c in ann.checkpoints for p in c.primitives]
    assert "type" in types
    texts = [p.component.text for c in ann.checkpoints for p in c.primitives if p.component]
    assert "NewTextNote" in texts
    assert ann.provenance["method"] == "proposed"
    assert ann.gt_actions == task.gt_actions
    st = self_test(ann, tr)
    assert st.ok, st.to_json()
    save_annotation(ann, tmp_path / "a.json")
    assert load_annotation(tmp_path / "a.json").task_id == "notes-task1"


def test_invisible_effect_gets_a_click_checkpoint(imported, tmp_path):
    """Changing the column count leaves the recorded screen unchanged: the proposal must rest
    on the choice itself, or the first screen alone would already pass."""
    task, tr = _gt(imported, "applauncher-task3", tmp_path)
    ann = propose_annotation(tr, task)
    clicks = [p.component.text for c in ann.checkpoints for p in c.primitives if p.type == "click"]
    assert "3 columns" in clicks
    st = self_test(ann, tr)
    assert st.ok, st.to_json()


def test_proposal_never_uses_side_files(imported, tmp_path):
    task, tr = _gt(imported, "calendar-task10", tmp_path)
    ann = propose_annotation(tr, task)
    for c in ann.checkpoints:
        for p in c.primitives:
            if p.component is not None:
                assert p.component.locators() or p.component.bounds
    state = [
        p
        for c in ann.checkpoints
        for p in c.primitives
        if p.component is not None and p.component.checked is not None
    ]
    assert state and state[0].component.checked is True
