"""Session-scoped imports of the real shared data (each import runs once per test session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llamatouch.datasets.droidbot import DroidBotImport, import_droidbot
from llamatouch.datasets.droidtask import ImportResult, import_droidtask
from llamatouch.datasets.gt_trace import write_gt_traces


@pytest.fixture(scope="session")
def droidtask_import(droidtask_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> ImportResult:
    """The whole DroidTask dataset imported into a temporary folder."""
    return import_droidtask(droidtask_dir, tmp_path_factory.mktemp("droidtask-import"))


@pytest.fixture(scope="session")
def droidtask_gt_traces(droidtask_import: ImportResult) -> list[Path]:
    """Ground-truth traces of every fully resolved DroidTask task."""
    return write_gt_traces(
        droidtask_import.suite,
        droidtask_import.out_dir,
        droidtask_import.out_dir / "traces",
        tasks=droidtask_import.fully_resolved,
    )


@pytest.fixture(scope="session")
def qqmusic_import(qqmusic_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> DroidBotImport:
    """The DroidBot QQMusic exploration imported into a temporary folder."""
    return import_droidbot(qqmusic_dir, tmp_path_factory.mktemp("qqmusic-import"))
