"""Finding worlds by name: ``demo`` (shipped with the package) or a folder on disk.

A folder is any world written with :meth:`llamatouch.world.World.save`, e.g. one app of
DroidTask imported by ``llamatouch datasets import``.
"""

from __future__ import annotations

from pathlib import Path

from llamatouch.errors import SchemaError
from llamatouch.world import World, load_world

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


def load_named_world(name_or_path: str | Path) -> World:
    """``"demo"`` (or another shipped name) → that world; a folder path → :func:`load_world`.

    A name that is neither a shipped world nor a folder holding ``world.json`` raises
    :class:`~llamatouch.errors.SchemaError` naming it.
    """
    text = str(name_or_path)
    path = Path(text).expanduser()
    if text in shipped_worlds() and not (path / "world.json").is_file():
        return load_world(WORLDS_DIR / text)
    if (path / "world.json").is_file():
        return load_world(path)
    if path.name == "world.json" and path.is_file():
        return load_world(path.parent)
    known = ", ".join(shipped_worlds()) or "none"
    raise SchemaError(
        text, "world", f"not a shipped world (known: {known}) nor a folder with world.json"
    )
