"""The import rules of docs/architecture.md hold (import-linter contracts in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_import_contracts_are_kept() -> None:
    run = _lint()
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout
    for name in (
        "llamatouch packages import only downwards",
        "the llamatouch core does not import the shipped agents",
        "the virtual device does not import the runner or the CLI",
        "agents do not import the runner or the CLI",
    ):
        assert f"{name} KEPT" in run.stdout, run.stdout
    # The layers and the agents' boundaries both ways hold with no exception (no
    # ignore_imports entry): `eval --offline-stepwise` reaches AutoDroid through the Agent ABC.
    lines = run.stdout.splitlines()
    assert "llamatouch packages import only downwards KEPT" in lines
    assert "agents do not import the runner or the CLI KEPT" in lines
    assert "the llamatouch core does not import the shipped agents KEPT" in lines


def test_a_wrong_way_import_is_reported(tmp_path: Path) -> None:
    # The same tool on a contract the code breaks on purpose (the CLI imports the runner):
    # proves the checker reads the real import graph rather than passing vacuously.
    config = tmp_path / "contracts.toml"
    config.write_text(
        "[tool.importlinter]\n"
        'root_packages = ["llamatouch"]\n'
        "[[tool.importlinter.contracts]]\n"
        'name = "runner below cli, inverted"\n'
        'type = "forbidden"\n'
        'source_modules = ["llamatouch.cli"]\n'
        'forbidden_modules = ["llamatouch.runner"]\n',
        encoding="utf-8",
    )
    run = _lint("--config", str(config))
    assert run.returncode == 1, run.stdout + run.stderr
    assert "runner below cli, inverted BROKEN" in run.stdout
    assert "llamatouch.cli" in run.stdout and "llamatouch.runner" in run.stdout
