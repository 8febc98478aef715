"""Real data for the notebooks: DroidTask imported from ../shared, its labelled variant traces
(ground truth and six kinds of altered paths, as in tests/evaluator) scored with
``llamatouch score``, and two eval runs (replay, random) on the imported worlds."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from unittest import mock

import pytest

from llamatouch.cli import main
from llamatouch.datasets.droidtask import ImportResult, import_droidtask
from llamatouch.datasets.pathgen import write_variants
from llamatouch.paths import annotations_dir
from llamatouch.runner import EvalConfig, run_eval
from llamatouch.world import load_world


@pytest.fixture(scope="session")
def droidtask_import(droidtask_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> ImportResult:
    return import_droidtask(droidtask_dir, tmp_path_factory.mktemp("dt-import"))


@pytest.fixture(scope="session")
def scored_run(droidtask_import: ImportResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A score run folder: ``traces/`` (every variant trace of every resolved task, the
    labelled ones among them) + ``results.json``."""
    run = tmp_path_factory.mktemp("scored") / "droidtask-variants"
    worlds = {}
    with mock.patch("os.fsync"):  # throw-away files: no need to sync them
        for task in droidtask_import.fully_resolved:
            if task.world not in worlds:
                worlds[task.world] = load_world(droidtask_import.out_dir / "worlds" / task.world)
            write_variants(worlds[task.world], task, run / "traces")
    code = main(["score", str(run / "traces"), "--annotations",
                 str(annotations_dir() / "droidtask"), "--format", "json",
                 "--out", str(run / "results.json")])
    assert code == 0
    written = sum(1 for p in (run / "traces").iterdir() if p.is_dir())
    assert len(json.loads((run / "results.json").read_text())["results"]) == written >= 600
    return run


@pytest.fixture(scope="session")
def agent_runs(droidtask_import: ImportResult, tmp_path_factory: pytest.TempPathFactory
               ) -> list[Path]:
    """Eval runs of the replay and random agents over every DroidTask task (in process)."""
    base = tmp_path_factory.mktemp("agents")
    suite = str(droidtask_import.suite_path)
    runs = []
    for agent, steps in (("replay", None), ("random", 4)):
        out = base / agent
        run_eval(EvalConfig(agent=agent, out=out, tasks=suite, devices=("virtual",),
                            max_steps=steps))
        runs.append(out)
    return runs


@pytest.fixture(scope="session")
def venv_kernel(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A kernelspec in a temporary Jupyter path that runs this interpreter (the venv's), so the
    notebooks see the same llamatouch as the tests; nothing is installed anywhere else."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / "llamatouch-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "llamatouch (test venv)",
        "language": "python",
    }), encoding="utf-8")
    return "llamatouch-test", root
