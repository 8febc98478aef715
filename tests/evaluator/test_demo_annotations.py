"""The demo annotations (annotations/demo) against ground-truth traces of the demo world."""

from __future__ import annotations

from pathlib import Path

import pytest

from llamatouch.annotating.selftest import check_against_trace, self_test
from llamatouch.datasets.gt_trace import write_gt_trace
from llamatouch.essential.schema import load_annotations_dir
from llamatouch.paths import annotations_dir
from llamatouch.tasks import Task, load_suite
from llamatouch.trace.format import read_trace
from llamatouch_emulator.worlds import load_named_world

DEMO_TASKS: list[Task] = list(load_suite("demo").tasks)


@pytest.fixture(scope="module")
def demo_traces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    world = load_named_world("demo")
    root = tmp_path_factory.mktemp("demo-gt")
    for task in DEMO_TASKS:
        write_gt_trace(world, task, root / task.id, suite="demo")
    return root


def test_every_demo_task_has_a_reviewed_annotation() -> None:
    anns = load_annotations_dir(annotations_dir() / "demo")
    assert anns.errors == []
    assert set(anns) == {t.id for t in DEMO_TASKS}
    assert len(anns) >= 10
    for ann in anns.values():
        assert ann.provenance["method"] == "proposed+reviewed"
        assert ann.provenance["review"]
        assert all(cp.note for cp in ann.checkpoints)


@pytest.mark.parametrize("task", DEMO_TASKS, ids=lambda t: t.id)
def test_demo_annotation_self_tests(task: Task, demo_traces: Path) -> None:
    ann = load_annotations_dir(annotations_dir() / "demo")[task.id]
    trace = read_trace(demo_traces / task.id)
    assert check_against_trace(ann, trace) == []
    st = self_test(ann, trace)
    assert st.gt.status == "success", st.gt.reason
    assert st.first_screen.status == "fail", st.first_screen.reason
    assert st.cut is not None and st.cut.status == "fail", st.cut
