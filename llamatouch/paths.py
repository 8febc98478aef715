"""Where things are: the repository, the shared real data, shipped data folders."""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable that points at the shared real-data folder (the one with ``data/``).
SHARED_ENV = "LLAMATOUCH_SHARED"

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent


def shared_data_dir() -> Path:
    """The shared real-data folder: ``$LLAMATOUCH_SHARED`` or ``../shared`` beside the repo."""
    env = os.environ.get(SHARED_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return (REPO_DIR.parent / "shared").resolve()


def droidtask_dir() -> Path:
    """The DroidTask folder inside the shared data (one sub-folder per app)."""
    return shared_data_dir() / "data" / "droidtask"


def annotations_dir() -> Path:
    """The shipped essential-state annotations (``annotations/<suite>/<task>.json``)."""
    return REPO_DIR / "annotations"


def tasks_dir() -> Path:
    """The shipped task suites (``tasks/<suite>.json``)."""
    return REPO_DIR / "tasks"
