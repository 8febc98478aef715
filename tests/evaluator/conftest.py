"""Fixtures for the evaluator tests: DroidTask imported once, variant traces written once."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest

from llamatouch.datasets.droidtask import ImportResult, import_droidtask
from llamatouch.evaluator.pathgen import write_variants
from llamatouch.paths import annotations_dir
from llamatouch.tasks import Task
from llamatouch.world import World, load_world


@pytest.fixture(scope="session")
def droidtask_import(droidtask_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> ImportResult:
    out = tmp_path_factory.mktemp("droidtask-import")
    return import_droidtask(droidtask_dir, out)


@pytest.fixture(scope="session")
def droidtask_worlds(droidtask_import: ImportResult) -> dict[str, World]:
    return {
        t.world: load_world(droidtask_import.out_dir / "worlds" / t.world)
        for t in droidtask_import.suite.tasks
    }


@pytest.fixture(scope="session")
def droidtask_annotations() -> Path:
    return annotations_dir() / "droidtask"


@pytest.fixture(scope="session")
def variant_traces(
    droidtask_import: ImportResult,
    droidtask_worlds: dict[str, World],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, tuple[Task, str]]]:
    """Every variant (gt, short, half, wrong, recover, detour, wander) of every resolved task,
    written as traces. fsync is skipped while writing these throw-away test files."""
    out = tmp_path_factory.mktemp("variants")
    index: dict[str, tuple[Task, str]] = {}
    with mock.patch("os.fsync"):
        for task in droidtask_import.fully_resolved:
            for eid, v, _ in write_variants(droidtask_worlds[task.world], task, out):
                index[eid] = (task, v.kind)
    return out, index
