"""Finding worlds by name: ``demo`` (shipped with the package) or a folder on disk.

A folder is any world written with :meth:`llamatouch.world.World.save`, e.g. one app of
DroidTask imported by ``llamatouch datasets import``.
"""

from __future__ import annotations

from pathlib import Path

from llamatouch.world import World, resolve_world

#: Worlds shipped inside this package (``worlds/<name>/world.json``).
WORLDS_DIR = Path(__file__).resolve().parent / "worlds"


def demo_world_dir() -> Path:
    """Folder of the shipped demo world."""
    return WORLDS_DIR / "demo"


def shipped_worlds() -> list[str]:
    """Names of the worlds shipped with the package."""
    if not WORLDS_DIR.is_dir():
        return []
    return sorted(p.name for p in WORLDS_DIR.iterdir() if (p / "world.json").is_file())


def shipped_world_dirs() -> dict[str, Path]:
    """``{name: folder}`` of the worlds shipped here; registered in the ``llamatouch.worlds``
    entry-point group, which :func:`llamatouch.world.resolve_world` reads."""
    return {name: WORLDS_DIR / name for name in shipped_worlds()}


def load_named_world(name_or_path: str | Path) -> World:
    """``"demo"`` (or another shipped name) → that world; a folder path → :func:`load_world`.

    The same lookup as :func:`llamatouch.world.resolve_world` (no base folder): a name that is
    neither a registered world nor a folder holding ``world.json`` raises
    :class:`~llamatouch.errors.SchemaError` naming it.
    """
    return resolve_world(name_or_path)
