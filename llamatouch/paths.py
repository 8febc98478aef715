"""Where things are: the shipped data inside the package, and the shared real data for tests.

Shipped data (task suites, essential-state annotations) is package data under
``llamatouch/data/`` and is found through :mod:`importlib.resources`, so it is there in a wheel
install as in a source checkout. No code finds data relative to the repository.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from llamatouch.errors import LlamaTouchError

#: Environment variable that points at the shared real-data folder (the one with ``data/``).
SHARED_ENV = "LLAMATOUCH_SHARED"

PACKAGE_DIR = Path(__file__).resolve().parent


def _package_data(*parts: str) -> Path:
    """A folder of the package's shipped data, as a real path on disk."""
    node = resources.files("llamatouch").joinpath("data", *parts)
    path = Path(str(node))
    if not path.is_dir():
        raise LlamaTouchError(
            f"llamatouch's shipped data folder {'/'.join(parts)!r} is missing from the "
            f"installed package ({path}): reinstall llamatouch"
        )
    return path


def shared_data_dir() -> Path:
    """The shared real-data folder (tests and benchmarks only): ``$LLAMATOUCH_SHARED``, else
    ``../shared`` beside a source checkout."""
    env = os.environ.get(SHARED_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return (PACKAGE_DIR.parent.parent / "shared").resolve()


def droidtask_dir() -> Path:
    """The DroidTask folder inside the shared data (one sub-folder per app)."""
    return shared_data_dir() / "data" / "droidtask"


def annotations_dir() -> Path:
    """The shipped essential-state annotations (``<suite>/<task>.json``)."""
    return _package_data("annotations")


def tasks_dir() -> Path:
    """The shipped task suites (``<suite>.json``)."""
    return _package_data("tasks")
