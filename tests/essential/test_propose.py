"""The proposer on real DroidTask ground-truth traces."""

from __future__ import annotations

from pathlib import Path

import pytest

from llamatouch.annotating.propose import propose_annotation
from llamatouch.annotating.selftest import self_test
from llamatouch.datasets.droidtask import ImportResult, import_droidtask
from llamatouch.datasets.gt_trace import write_gt_trace
from llamatouch.essential.schema import ClickPrimitive, load_annotation, save_annotation
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
    comps = [p.named_component() for c in ann.checkpoints for p in c.primitives]
    texts = [comp.text for comp in comps if comp is not None]
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
    prims = [p for c in ann.checkpoints for p in c.primitives]
    clicks = [p.component.text for p in prims if isinstance(p, ClickPrimitive)]
    assert "3 columns" in clicks
    st = self_test(ann, tr)
    assert st.ok, st.to_json()


def test_proposal_never_uses_side_files(imported, tmp_path):
    task, tr = _gt(imported, "calendar-task10", tmp_path)
    ann = propose_annotation(tr, task)
    comps = [p.named_component() for c in ann.checkpoints for p in c.primitives]
    for comp in comps:
        if comp is not None:
            assert comp.locators() or comp.bounds
    state = [comp for comp in comps if comp is not None and comp.checked is not None]
    assert state and state[0].checked is True


def test_page_goal_needs_the_page_at_the_end_and_state_goal_persists(imported, tmp_path):
    """'open the clock page' then leaving fails; a setting reached then undone fails."""
    from llamatouch.datasets.failure_modes import generate_variants
    from llamatouch.datasets.replay_check import replay_task
    from llamatouch.evaluator.matcher import evaluate

    task = imported.suite.get("clock-task2")
    world = load_world(imported.out_dir / "worlds" / task.world)
    gt = read_trace(replay_task(world, task, tmp_path / "gt", screenshots=False))
    ann = propose_annotation(gt, task, world=world)
    assert ann.checkpoints[-1].final
    variants = {v.mode: v for v in generate_variants(world, task, tmp_path / "v", page_goal=True)}
    assert evaluate(read_trace(variants["visit_leave"].trace_dir), ann).status == "fail"
    assert evaluate(read_trace(variants["extras"].trace_dir), ann).status == "success"
    assert self_test(ann, gt).ok


@pytest.mark.slow
def test_failure_mode_study_on_three_apps(imported, tmp_path):
    """Leave-one-app-out F1 of the proposals on labelled failure-mode traces (3 apps; the
    whole study is benchmarks/bench_proposer_generalisation.py)."""
    from llamatouch.annotating.generalisation import run_study

    study = run_study(imported.out_dir, tmp_path, apps={"clock", "dialer", "notes"})
    modes = {c.mode for c in study.cases}
    assert {"gt", "no_finish", "extras", "visit_leave", "sibling", "diverged"} <= modes
    assert {c.app for c in study.cases} == {"clock", "dialer", "notes"}
    overall = study.overall(study.loao)
    assert overall.f1 >= 0.95, overall.to_json()
    per = study.per_mode(study.loao)
    assert per["visit_leave"]["accuracy"] == 1.0
    assert per["gt"]["accuracy"] == 1.0
    # without world and goal knowledge, visiting a page and leaving it passes
    assert study.per_mode(study.baseline)["visit_leave"]["accuracy"] == 0.0
    assert set(study.chosen) == {"clock", "dialer", "notes"}
