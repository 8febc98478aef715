"""Ship an episode's trace folder from a remote worker to the driver, and install it atomically.

A worker on another machine writes the episode into a node-local folder, then :func:`pack`s it
into one uncompressed tar (screenshots are PNG already) that travels back with the outcome.
The driver :func:`install`\\ s it: unpacked into ``<run>/.incoming/`` (the same file system as
``<run>/traces/``), then renamed into ``traces/<episode id>``, replacing an earlier attempt's
folder. A reader (or a ``--resume`` after the driver was killed) sees either the old folder or
the complete new one, never a half-written trace.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from llamatouch.errors import LlamaTouchError

#: Folder of the run (beside ``traces/``) where shipped traces are unpacked before the rename.
INCOMING = ".incoming"


class TracePackError(LlamaTouchError):
    """A shipped trace could not be read or installed (names the episode)."""


def pack(folder: Path) -> bytes:
    """The episode folder ``folder`` as an uncompressed tar (paths relative to ``folder``).

    Symbolic links are refused: a trace holds regular files and folders only.
    """
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path in sorted(folder.rglob("*")):
            if path.is_symlink():
                raise TracePackError(f"{path}: a trace holds no symbolic links")
            tar.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)
    return buf.getvalue()


def _check_members(tar: tarfile.TarFile, episode_id: str) -> None:
    for member in tar.getmembers():
        name = PurePosixPath(member.name)
        if name.is_absolute() or ".." in name.parts or not (member.isfile() or member.isdir()):
            raise TracePackError(
                f"trace of {episode_id}: refused member {member.name!r} (only plain files and "
                "folders inside the episode folder)"
            )


def install(data: bytes, trace_root: Path, episode_id: str) -> Path:
    """Put the packed trace ``data`` at ``trace_root/episode_id`` atomically.

    Args:
        data: what :func:`pack` returned.
        trace_root: the run's ``traces/`` folder.
        episode_id: the episode (a plain folder name).

    Returns:
        The installed folder.

    Raises:
        TracePackError: ``data`` is not a trace tar, or names a path outside the folder.
    """
    if not episode_id or Path(episode_id).name != episode_id or episode_id in (".", ".."):
        raise TracePackError(f"refused episode id {episode_id!r} (not a plain folder name)")
    incoming = trace_root.parent / INCOMING
    incoming.mkdir(parents=True, exist_ok=True)
    trace_root.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f"{episode_id}.", dir=incoming))
    try:
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
                _check_members(tar, episode_id)
                tar.extractall(staged, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise TracePackError(f"trace of {episode_id}: unreadable ({exc})") from exc
        _fsync_tree(staged)
        final = trace_root / episode_id
        old: Path | None = None
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f"{episode_id}.old.", dir=incoming))
            os.replace(final, old / "trace")
        os.replace(staged, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return final
    finally:
        if staged.exists():
            shutil.rmtree(staged, ignore_errors=True)


def _fsync_tree(folder: Path) -> None:
    """Flush the unpacked files to disk before the rename makes them visible."""
    for path in folder.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def clear_incoming(run_dir: Path) -> None:
    """Remove leftovers of installs interrupted by a killed driver (``<run>/.incoming``)."""
    shutil.rmtree(run_dir / INCOMING, ignore_errors=True)
