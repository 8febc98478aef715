"""The DroidTask annotations against real DroidTask traces: self-tests and faithfulness."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from llamatouch.annotating.selftest import self_test
from llamatouch.cli import main
from llamatouch.essential.schema import load_annotations_dir
from llamatouch.evaluator import score_dir, summarize
from llamatouch.evaluator.agreement import agreement, load_labels
from llamatouch.trace.format import read_trace

LABELS = Path(__file__).parent / "data" / "droidtask_labels.csv"

#: Tasks whose recorded ground truth does not do what the instruction says (the annotation
#: follows the instruction, so the recorded path scores fail; see annotations/droidtask).
GT_DISAGREES = {"filemanager-task13", "notes-task11"}


def test_every_resolved_task_is_annotated(droidtask_import, droidtask_annotations):
    anns = load_annotations_dir(droidtask_annotations)
    assert anns.errors == []
    resolved = {t.id for t in droidtask_import.fully_resolved}
    assert len(resolved) == 141
    assert set(anns) == resolved
    for ann in anns.values():
        assert ann.provenance["method"] == "proposed+reviewed"
        assert ann.provenance["review"]


def test_self_tests_on_every_annotated_task(variant_traces, droidtask_annotations):
    root, index = variant_traces
    anns = load_annotations_dir(droidtask_annotations)
    counts = {"gt": 0, "first": 0, "cut": 0}
    failing_gt = set()
    for eid, (task, kind) in index.items():
        if kind != "gt":
            continue
        st = self_test(anns[task.id], read_trace(root / eid))
        counts["gt"] += st.gt_ok
        counts["first"] += st.first_ok
        counts["cut"] += st.cut_ok
        if not st.gt_ok:
            failing_gt.add(task.id)
    print(f"\nself-tests over {len(anns)} tasks: {counts}")
    assert counts == {"gt": 139, "first": 141, "cut": 141}, failing_gt
    assert failing_gt == GT_DISAGREES, failing_gt


def test_faithfulness_against_human_labels(variant_traces, droidtask_annotations):
    root, index = variant_traces
    labels = load_labels(LABELS)
    assert set(labels) == set(index), "the labelled set and the generated traces differ"
    with LABELS.open() as fh:
        assert all(row["note"] for row in csv.DictReader(fh)), "every label carries a note"
    figures = {}
    for ev in ("essential", "exact", "lcs"):
        res = score_dir(root, droidtask_annotations, evaluator=ev)
        ag = agreement(res, labels)
        assert ag.errors == 0 and ag.missing == []
        figures[ev] = ag.overall
        print(
            f"\n{ev}: n={ag.overall.n} acc={ag.overall.accuracy:.3f} "
            f"P={ag.overall.precision:.3f} R={ag.overall.recall:.3f} F1={ag.overall.f1:.3f} "
            f"kappa={ag.overall.kappa:.3f} CI(F1)={ag.overall.intervals['f1']}"
        )
    assert figures["essential"].f1 >= 0.93
    assert figures["essential"].f1 > figures["lcs"].f1 + 0.02
    assert figures["essential"].f1 > figures["exact"].f1 + 0.2
    assert figures["essential"].kappa > figures["lcs"].kappa


def test_score_dir_counts_bad_traces_and_annotations(
    variant_traces, droidtask_annotations, tmp_path
):
    root, _index = variant_traces
    traces = tmp_path / "traces"
    anns = tmp_path / "anns"
    shutil.copytree(droidtask_annotations, anns)
    picked = [
        "notes-task1__gt",
        "notes-task1__short",
        "notes-task2__gt",
        "notes-task3__gt",
        "notes-task4__gt",
        "notes-task5__gt",
        "notes-task10__gt",
    ]
    for eid in picked:
        shutil.copytree(root / eid, traces / eid)
    # a corrupt manifest, a missing step file, missing hierarchies (one that the verdict
    # depends on, one that it does not), a broken annotation, a task with no annotation
    (traces / "notes-task2__gt" / "manifest.json").write_text("{not json")
    (traces / "notes-task3__gt" / "steps" / "0001" / "step.json").unlink()
    # the step that satisfies notes-task10's only checkpoint (a click: it needs the hierarchy)
    (needed,) = score_dir(traces / "notes-task10__gt", anns)[0].verdict.checkpoint_steps
    (traces / "notes-task10__gt" / "steps" / f"{needed:04d}" / "screen.xml").unlink()
    (traces / "notes-task4__gt" / "steps" / "0001" / "screen.xml").unlink()
    (anns / "notes-task5.json").write_text(json.dumps({"schema": "llamatouch.essential/1"}))
    shutil.copytree(root / "notes-task6__gt", traces / "orphan")
    (anns / "notes-task6.json").unlink()

    res = {r.episode_id: r for r in score_dir(traces, anns)}
    assert res["notes-task1__gt"].status == "success"
    assert res["notes-task1__short"].status == "fail"
    assert res["notes-task2__gt"].status == "error"
    assert "manifest.json" in res["notes-task2__gt"].reason
    assert res["notes-task3__gt"].status == "error"
    assert "step.json" in res["notes-task3__gt"].reason
    r10 = res["notes-task10__gt"]
    assert r10.status == "error" and "screen.xml" in r10.reason
    # step 1 of notes-task4 is checked by its action only (type): the missing hierarchy
    # cannot change the verdict, so it stays a success
    assert res["notes-task4__gt"].status == "success"
    assert res["notes-task5__gt"].status == "error"
    assert "annotation invalid" in res["notes-task5__gt"].reason
    assert "notes-task5.json" in res["notes-task5__gt"].reason
    assert res["notes-task6__gt"].status == "error"
    assert "no annotation" in res["notes-task6__gt"].reason
    s = summarize(list(res.values())).overall
    assert (s.total, s.success, s.fail, s.error) == (8, 2, 1, 5)


def test_cli_score_json_and_labels(variant_traces, droidtask_annotations, tmp_path, capsys):
    root, _index = variant_traces
    traces = tmp_path / "t"
    for eid in ("clock-task2__gt", "clock-task2__short", "clock-task2__detour"):
        shutil.copytree(root / eid, traces / eid)
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "episode,human,note\nclock-task2__gt,1,ok\nclock-task2__short,0,short\n"
        "clock-task2__detour,1,detour\n"
    )
    out = tmp_path / "out.json"
    rc = main(
        [
            "score",
            str(traces),
            "--annotations",
            str(droidtask_annotations),
            "--labels",
            str(labels),
            "--format",
            "json",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    data = json.loads(out.read_text())
    statuses = {r["episode"]: r["status"] for r in data["results"]}
    assert statuses == {
        "clock-task2__gt": "success",
        "clock-task2__short": "fail",
        "clock-task2__detour": "success",
    }
    assert data["agreement"]["overall"]["accuracy"] == 1.0
    assert data["summary"]["total"] == 3
    for ev in ("exact", "lcs"):
        rc = main(
            [
                "score",
                str(traces),
                "--annotations",
                str(droidtask_annotations),
                "--evaluator",
                ev,
                "--format",
                "csv",
                "--no-progress",
            ]
        )
        assert rc == 0
        text = capsys.readouterr()
        assert "episode,task,app,evaluator,status" in text.out
        assert f"Summary ({ev}): 3 traces" in text.err


@pytest.mark.parametrize("kind", ["short", "half", "wrong"])
def test_failed_verdicts_carry_evidence(variant_traces, droidtask_annotations, kind):
    root, _index = variant_traces
    res = [r for r in score_dir(root, droidtask_annotations) if r.episode_id.endswith(kind)]
    assert res
    for r in res:
        if r.status != "fail":
            continue
        assert r.verdict is not None
        assert any(e.passed is False for e in r.verdict.evidence), r.episode_id
        assert None in r.verdict.checkpoint_steps


def test_prefilter_is_sound_on_real_screens(variant_traces, droidtask_annotations):
    """The no-parse pre-check never rejects a component that parsing would find."""
    from llamatouch.evaluator.primitives import find_component, may_be_on_screen
    from llamatouch.evaluator.stepview import StepView, hierarchy_cache

    root, _index = variant_traces
    hierarchy_cache().clear()
    anns = load_annotations_dir(droidtask_annotations)
    prims = [p for a in anns.values() for c in a.checkpoints for p in c.primitives]
    named = [p.named_component() for p in prims]
    comps = [comp for comp in named if comp is not None]
    checked = rejected = 0
    for eid in sorted(_index)[::7]:
        for step in read_trace(root / eid).steps:
            fast = StepView(step)
            slow = StepView(step, screen=step.screen())  # parsed: no pre-check
            for comp in comps[::5]:
                checked += 1
                if not may_be_on_screen(fast, comp):
                    rejected += 1
                    assert find_component(slow, comp) == [], (eid, step.index, comp)
    assert checked > 1000 and rejected > checked // 2


def test_annotations_reference_existing_screens(variant_traces, droidtask_annotations):
    from llamatouch.annotating.selftest import check_against_trace

    root, _index = variant_traces
    anns = load_annotations_dir(droidtask_annotations)
    for tid, ann in anns.items():
        assert check_against_trace(ann, read_trace(root / f"{tid}__gt")) == [], tid
    ann = anns["notes-task1"]
    ann.checkpoints[-1].gt_step = 40
    (err,) = check_against_trace(ann, read_trace(root / "notes-task1__gt"))
    assert err.field == f"checkpoints[{len(ann.checkpoints) - 1}].gt_step"
    assert "references step 40" in str(err)


def _append_step(trace_dir: Path, copy_of: int, last_action: dict) -> None:
    """Re-take step ``copy_of``'s screen as a new last step; the old last step taps instead
    of finishing (the tap that leads to the re-taken screen)."""
    steps = trace_dir / "steps"
    n = len([p for p in steps.iterdir() if p.is_dir()])
    prev = json.loads((steps / f"{n - 1:04d}" / "step.json").read_text())
    prev["action"] = last_action
    (steps / f"{n - 1:04d}" / "step.json").write_text(json.dumps(prev))
    shutil.copytree(steps / f"{copy_of:04d}", steps / f"{n:04d}")
    new = json.loads((steps / f"{n:04d}" / "step.json").read_text())
    new.update(index=n, action={"action": "finish", "status": "success"})
    (steps / f"{n:04d}" / "step.json").write_text(json.dumps(new))
    manifest = json.loads((trace_dir / "manifest.json").read_text())
    manifest["num_steps"] = n + 1
    (trace_dir / "manifest.json").write_text(json.dumps(manifest))


def test_persist_on_real_screens_switch_turned_on_then_off(
    variant_traces, droidtask_annotations, tmp_path
):
    """calendar-task10 ("Use 24 hour formats"): the recorded switch turned on, then the
    recorded 'off' screen again. Without ``persist`` that still scores success; with it the
    undo fails, while going back to the main screen with the switch kept on succeeds."""
    from llamatouch.essential.schema import ANNOTATION_SCHEMA_1_1
    from llamatouch.evaluator import evaluate

    root, _index = variant_traces
    ann = load_annotations_dir(droidtask_annotations)["calendar-task10"]
    gt = root / "calendar-task10__gt"
    undo, keep = tmp_path / "undo", tmp_path / "keep"
    shutil.copytree(gt, undo)
    shutil.copytree(gt, keep)
    switch_tap = read_trace(gt).steps[2].record.action
    assert switch_tap is not None
    _append_step(undo, 2, switch_tap.to_json())  # the 'off' screen of Settings again
    _append_step(keep, 0, {"action": "key", "key": "back"})  # the main screen
    assert evaluate(read_trace(undo), ann).success  # the reported problem
    ann.checkpoints[-1].persist = True
    assert ann.to_json()["schema"] == ANNOTATION_SCHEMA_1_1
    v = evaluate(read_trace(undo), ann)
    assert v.status == "fail", v.reason
    assert "checkpoint 0 (the resulting state) was reached at step 3" in v.reason
    assert "no longer holds at step 4" in v.reason
    assert evaluate(read_trace(keep), ann).success
    assert evaluate(read_trace(gt), ann).success
