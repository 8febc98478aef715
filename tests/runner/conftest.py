"""Fixtures for the runner tests: the DroidTask import (once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def droidtask_suite(droidtask_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real DroidTask data imported into worlds + a suite (``droidtask.json``)."""
    from llamatouch.datasets.droidtask import import_droidtask

    out = tmp_path_factory.mktemp("droidtask-import")
    result = import_droidtask(droidtask_dir, out)
    return result.suite_path
