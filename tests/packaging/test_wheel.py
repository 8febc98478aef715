"""The wheel carries its data: built with pip, installed (not editable) into a fresh virtual
environment, and run from a folder outside the repository, the demo suite scores 15/15 with the
replay agent.

The fresh environment is a real install: pip resolves the wheel's declared dependencies (from
its cache or the index), and llama-cpp-python comes from the portable build's wheel folder
(``scripts/llama_build.sh``), never compiled again with the host's flags. About 90 s here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
        check=True,
        timeout=600,
    )
    (found,) = out.glob("llamatouch-*.whl")
    return found


@pytest.fixture(scope="module")
def venv_python(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    py = root / "bin" / "python"
    llama_wheels = subprocess.run(
        ["bash", str(REPO / "scripts" / "llama_build.sh"), "--print-wheel-dir"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    assert list(Path(llama_wheels).glob("llama_cpp_python-*.whl")), (
        f"no portable llama-cpp-python wheel in {llama_wheels}: run make setup"
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "-q",
         "--find-links", llama_wheels, str(wheel)],
        check=True,
        timeout=900,
    )
    return py


def test_wheel_holds_the_shipped_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "llamatouch/data/tasks/demo.json" in names
    assert any(n.startswith("llamatouch/data/annotations/demo/") for n in names)
    assert any(n.startswith("llamatouch/data/annotations/droidtask/") for n in names)
    assert "llamatouch_emulator/worlds/demo/world.json" in names


def test_installed_wheel_runs_the_demo_from_another_folder(
    venv_python: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LLAMATOUCH_SHARED")}
    env["ADB_MDNS"] = "0"
    where = subprocess.run(
        [str(venv_python), "-c", "import llamatouch, llamatouch_emulator; "
         "print(llamatouch.__file__); print(llamatouch_emulator.__file__)"],
        cwd=tmp_path, env=env, check=True, capture_output=True, text=True,
    ).stdout.split()
    for path in where:
        assert str(REPO) not in path, f"imported from the checkout, not the wheel: {path}"
    run = subprocess.run(
        [str(venv_python), "-m", "llamatouch", "eval", "--agent", "replay", "--tasks", "demo",
         "--out", str(tmp_path / "run"), "--workers", "2"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    rows = json.loads((tmp_path / "run" / "results.json").read_text())
    rows = rows["rows"] if isinstance(rows, dict) else rows
    assert len(rows) == 15
    assert sum(1 for r in rows if r["verdict"] == "success") == 15, rows
