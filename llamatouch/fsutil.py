"""Atomic writes and root-confined path joins."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from llamatouch.errors import JsonFormatError, PathEscapeError


def load_json_file(path: str | Path) -> Any:
    """Read a JSON file; unreadable or malformed files raise :class:`JsonFormatError`."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise JsonFormatError(p, f"cannot read: {exc.strerror or exc}") from exc
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise JsonFormatError(p, f"malformed JSON: {exc}") from exc
    except RecursionError as exc:
        raise JsonFormatError(p, "malformed JSON: nested too deeply") from exc


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder + fsync + rename.

    Readers never see a half-written file: they see the old content or the new one.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """UTF-8 text version of :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Pretty, stable JSON (sorted keys off: field order is meaningful) written atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def safe_join(root: str | Path, *parts: str) -> Path:
    """Join ``parts`` under ``root`` and refuse any result outside ``root``.

    Absolute parts, ``..`` segments and symlinks that lead outside all raise
    :class:`PathEscapeError`.
    """
    base = Path(root).resolve()
    candidate = base.joinpath(*parts).resolve()
    if candidate != base and base not in candidate.parents:
        raise PathEscapeError(f"path {'/'.join(parts)!r} escapes its root {str(base)!r}")
    return candidate
