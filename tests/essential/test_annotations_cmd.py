"""``llamatouch annotations propose``: one annotation per task, self-tests run and reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llamatouch.cli import main
from llamatouch.essential.schema import load_annotation


@pytest.fixture(scope="module")
def small_import(droidtask_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two DroidTask apps (linked, not copied) imported with their ground-truth traces."""
    src = tmp_path_factory.mktemp("dt-src")
    for app in ("applauncher", "clock"):
        (src / app).symlink_to(droidtask_dir / app, target_is_directory=True)
    out = tmp_path_factory.mktemp("dt-import")
    assert main(["datasets", "import", "droidtask", str(src), "--out", str(out)]) == 0
    return out


def test_propose_writes_one_annotation_per_task_and_reports_self_tests(
    small_import: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    rc = main([
        "annotations", "propose", str(small_import / "traces"),
        "--tasks", str(small_import / "droidtask.json"), "--out", str(tmp_path / "ann"),
    ])
    out = capsys.readouterr()
    assert rc == 0
    suite = json.loads((small_import / "droidtask.json").read_text())
    ids = {t["id"] for t in suite["tasks"] if not t.get("flagged")}
    written = {p.stem for p in (tmp_path / "ann").glob("*-task*.json")}
    assert written == ids and len(ids) == 17  # 5 applauncher + 12 clock tasks
    report = json.loads((tmp_path / "ann" / "selftest-report.json").read_text())
    assert report["proposed"] == len(ids)
    assert {r["task_id"] for r in report["selftests"]} == ids
    assert f"self-tests ok:    {report['selftests_ok']}/{len(ids)}" in out.out
    assert report["selftests_ok"] >= len(ids) - 2
    assert "proposals: 100%" in out.err  # the progress bar
    # a page goal ("open the clock page") gets a final checkpoint on the page
    page = load_annotation(tmp_path / "ann" / "clock-task2.json")
    assert page.checkpoints[-1].final
    # a state goal gets a persisting final checkpoint
    state = load_annotation(tmp_path / "ann" / "clock-task12.json")
    assert state.checkpoints[-1].persist and not state.checkpoints[-1].final


def test_missing_traces_and_bad_arguments(
    small_import: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    rc = main([
        "annotations", "propose", str(tmp_path / "empty"),
        "--tasks", str(small_import / "droidtask.json"), "--out", str(tmp_path / "ann"),
    ])
    err = capsys.readouterr().err
    assert rc == 1 and "no task had a ground-truth trace" in err
    with pytest.raises(SystemExit) as exc:
        main(["annotations", "propose", str(tmp_path / "nope"), "--tasks", "x.json",
              "--out", str(tmp_path / "ann")])
    assert exc.value.code == 2
