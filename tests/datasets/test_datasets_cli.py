"""``llamatouch datasets import`` and ``llamatouch tasks list`` through the real CLI entry."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llamatouch.cli import main
from llamatouch.datasets.droidtask import ImportResult


def test_import_droidtask_prints_counts(
    droidtask_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(
        [
            "datasets",
            "import",
            "droidtask",
            str(droidtask_dir),
            "--out",
            str(tmp_path),
            "--no-traces",
        ]
    )
    out = capsys.readouterr()
    assert rc == 0
    assert "apps:            11" in out.out
    assert "tasks:           141" in out.out
    assert "fully resolved:  141" in out.out
    assert "malformed_json" in out.out
    assert "apps: 100%" in out.err  # the progress bar goes to stderr
    report = json.loads((tmp_path / "import-report.json").read_text())
    # 888 recorded states, plus one start-screen copy per task that needs its own (3)
    assert report["totals"]["states"] - report["totals"]["state_variants"] == 888
    assert report["totals"]["state_variants"] == 3
    assert report["totals"]["flagged"] == 2
    assert (tmp_path / "droidtask.json").is_file()


def test_import_droidbot_and_missing_folder(
    qqmusic_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["datasets", "import", "droidbot", str(qqmusic_dir), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "states:          15 (15 with their real screenshot)" in out
    assert "trace steps:     15" in out
    # a missing input folder is a usage error: one line, exit 2 (shared CLI argument types)
    with pytest.raises(SystemExit) as exc:
        main(["datasets", "import", "droidbot", str(tmp_path / "nope"), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "nope" in err and "does not exist" in err
    # a folder that exists but is not DroidBot output is the importer's error (exit 1)
    (tmp_path / "empty").mkdir()
    rc = main(["datasets", "import", "droidbot", str(tmp_path / "empty"), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc in (1, 2) and "not a DroidBot output folder" in err


def test_tasks_list_on_an_imported_suite(
    droidtask_import: ImportResult, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tasks", "list", str(droidtask_import.suite_path)]) == 0
    out = capsys.readouterr().out
    assert "notes-task1 " in out
    assert "Create a text note named 'NewTextNote'" in out
    # the two tasks whose recorded ground truth does not meet its annotation are flagged on
    # import and left out of the default listing / runs (load_suite(include_flagged=True))
    flagged = [t.id for t in droidtask_import.suite.tasks if t.flagged]
    assert sorted(flagged) == ["filemanager-task13", "notes-task11"]
    assert "139 task(s) in suite 'droidtask' (139 with a ground truth)" in out
    assert "notes-task11 " not in out


def test_tasks_list_shipped_suites_via_console_script() -> None:
    exe = Path(sys.executable).with_name("llamatouch")
    proc = subprocess.run([str(exe), "tasks", "list"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "demo" in proc.stdout and "suite(s) in" in proc.stdout
