"""The analysis notebooks run top to bottom (nbclient, a real ipykernel on this venv's python)
on real data: a scored DroidTask run with human labels and two agents' eval runs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
LABELS = Path(__file__).resolve().parents[1] / "evaluator" / "data" / "droidtask_labels.csv"


def _run(name: str, kernel: tuple[str, Path], env: dict[str, str],
         monkeypatch: pytest.MonkeyPatch) -> Any:
    kernel_name, jupyter_path = kernel
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter_path))
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    path = NOTEBOOKS / name
    nb = nbformat.read(path, as_version=4)
    # committed without outputs
    assert all(not c.get("outputs") and not c.get("execution_count")
               for c in nb.cells if c.cell_type == "code"), f"{name}: clear outputs first"
    client = NotebookClient(nb, kernel_name=kernel_name, timeout=120,
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    return nb


def _text(nb: Any) -> str:
    parts = []
    for c in nb.cells:
        for o in c.get("outputs", []):
            parts.append(o.get("text", ""))
            parts.append(o.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def _which_python(kernel: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> str:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import sys, llamatouch; print(sys.executable); print(llamatouch.__file__)")])
    monkeypatch.setenv("JUPYTER_PATH", str(kernel[1]))
    NotebookClient(nb, kernel_name=kernel[0], timeout=60).execute()
    return _text(nb)


def test_kernel_is_this_venv(venv_kernel: tuple[str, Path],
                             monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import llamatouch

    out = _which_python(venv_kernel, monkeypatch).split()
    assert out[0] == sys.executable and out[1] == llamatouch.__file__


def test_run_overview(scored_run: Path, venv_kernel: tuple[str, Path], tmp_path: Path,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    nb = _run("01_run_overview.ipynb", venv_kernel,
              {"LLAMATOUCH_RUN_DIR": str(scored_run), "LLAMATOUCH_FIG_DIR": str(tmp_path)},
              monkeypatch)
    text = _text(nb)
    n = len(json.loads((scored_run / "results.json").read_text())["results"])
    assert f"{scored_run}: {n} episodes" in text
    assert "smsmessenger" in text and "failed episodes" in text
    for fig in ("success_by_app.png", "steps.png"):
        assert (tmp_path / fig).stat().st_size > 5_000


def test_evaluators_vs_humans(scored_run: Path, venv_kernel: tuple[str, Path], tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    nb = _run("02_evaluators_vs_humans.ipynb", venv_kernel,
              {"LLAMATOUCH_RUN_DIR": str(scored_run), "LLAMATOUCH_LABELS": str(LABELS),
               "LLAMATOUCH_FIG_DIR": str(tmp_path)}, monkeypatch)
    text = _text(nb)
    from llamatouch.evaluator.agreement import load_labels

    assert f"labels: {len(load_labels(LABELS))} from" in text
    # the metrics table names all three evaluators, and the disagreements are counted
    for ev in ("essential", "exact", "lcs"):
        assert ev in text
    assert "disagreements of the essential-state evaluator" in text
    assert (tmp_path / "agreement.png").stat().st_size > 5_000
    # the figures in the notebook are those of the library (same data, same functions)
    from llamatouch.evaluator import score_dir
    from llamatouch.evaluator.agreement import agreement
    from llamatouch.paths import annotations_dir

    ag = agreement(score_dir(scored_run / "traces", annotations_dir() / "droidtask"),
                   load_labels(LABELS))
    assert f"{ag.overall.f1:.3f}".rstrip("0") in text
    assert f"{len(ag.disagreements)} disagreements" in text


def test_compare_agents(agent_runs: list[Path], venv_kernel: tuple[str, Path], tmp_path: Path,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    nb = _run("03_compare_agents.ipynb", venv_kernel,
              {"LLAMATOUCH_RUN_DIRS": os.pathsep.join(map(str, agent_runs)),
               "LLAMATOUCH_FIG_DIR": str(tmp_path)}, monkeypatch)
    text = _text(nb)
    n = sum(len(json.loads((r / "results.json").read_text())) for r in agent_runs)
    assert n > 200 and f"2 runs, {n} episodes, agents: ['random', 'replay']" in text
    assert "tasks have different outcomes across agents" in text
    for fig in ("agents_by_app.png", "agents_steps.png"):
        assert (tmp_path / fig).stat().st_size > 5_000
