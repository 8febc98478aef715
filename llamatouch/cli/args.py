"""Argument types shared by the subcommands: ranges and paths checked when the command line
is parsed, so a bad argument is one clear line (``argument --port: 99999 is not a port
(1..65535)``) and exit status 2, never a traceback or a silent fallback.

Use them as ``type=`` of ``add_argument``::

    parser.add_argument("--port", type=args.port, default=8765)
    parser.add_argument("--out", type=args.output_file)

Only the standard library is imported here (``--help`` stays fast).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

ArgumentTypeError = argparse.ArgumentTypeError


def _int(text: str) -> int:
    try:
        return int(text, 10)
    except ValueError:
        raise ArgumentTypeError(f"{text!r} is not a whole number") from None


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def port(text: str) -> int:
    """A TCP port, 1..65535."""
    value = _int(text)
    if not 1 <= value <= 65535:
        raise ArgumentTypeError(f"{value} is not a port (1..65535)")
    return value


def port_or_any(text: str) -> int:
    """A TCP port to listen on, 1..65535, or 0 for any free port."""
    value = _int(text)
    if not 0 <= value <= 65535:
        raise ArgumentTypeError(f"{value} is not a port (1..65535, or 0 for any free port)")
    return value


def positive_int(text: str) -> int:
    """A whole number >= 1."""
    value = _int(text)
    if value < 1:
        raise ArgumentTypeError(f"{value} must be at least 1")
    return value


def non_negative_int(text: str) -> int:
    """A whole number >= 0."""
    value = _int(text)
    if value < 0:
        raise ArgumentTypeError(f"{value} must be 0 or more")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = _float(text)
    if value <= 0:
        raise ArgumentTypeError(f"{text} must be more than 0")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0."""
    value = _float(text)
    if value < 0:
        raise ArgumentTypeError(f"{text} must be 0 or more")
    return value


def int_range(low: int, high: int) -> Callable[[str], int]:
    """A whole number in ``[low, high]``."""

    def check(text: str) -> int:
        value = _int(text)
        if not low <= value <= high:
            raise ArgumentTypeError(f"{value} is not in {low}..{high}")
        return value

    check.__name__ = f"int_{low}_{high}"
    return check


def fraction(text: str) -> float:
    """A number in ``[0, 1]``."""
    value = _float(text)
    if not 0.0 <= value <= 1.0:
        raise ArgumentTypeError(f"{text} is not in 0..1")
    return value


def _path(text: str) -> Path:
    if not text:
        raise ArgumentTypeError("an empty path")
    if "\x00" in text:
        raise ArgumentTypeError("a path with a NUL byte")
    return Path(text)


def _file_ancestor(path: Path) -> Path | None:
    """The first existing ancestor of ``path`` that is not a folder (nothing can be created
    below it), else ``None``."""
    for parent in path.absolute().parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def output_dir(text: str) -> Path:
    """A folder to write into: missing (it is created) or a folder; never an existing file."""
    path = _path(text)
    if path.exists() and not path.is_dir():
        raise ArgumentTypeError(f"{text} is a file, not a folder")
    blocker = _file_ancestor(path)
    if blocker is not None:
        raise ArgumentTypeError(f"{text}: {blocker} is a file, not a folder")
    return path


def output_file(text: str) -> Path:
    """A file to write: missing or a file; never an existing folder, nor below a file."""
    path = _path(text)
    if path.is_dir():
        raise ArgumentTypeError(f"{text} is a folder, not a file")
    if path.exists() and not path.is_file():
        raise ArgumentTypeError(f"{text} is not a regular file")
    blocker = _file_ancestor(path)
    if blocker is not None:
        raise ArgumentTypeError(f"{text}: {blocker} is a file, not a folder")
    return path


def existing_dir(text: str) -> Path:
    """An existing folder."""
    path = _path(text)
    if not path.exists():
        raise ArgumentTypeError(f"{text} does not exist")
    if not path.is_dir():
        raise ArgumentTypeError(f"{text} is not a folder")
    return path


def existing_file(text: str) -> Path:
    """An existing regular file."""
    path = _path(text)
    if not path.exists():
        raise ArgumentTypeError(f"{text} does not exist")
    if not path.is_file():
        raise ArgumentTypeError(f"{text} is not a file")
    return path


def existing_path(text: str) -> Path:
    """An existing file or folder."""
    path = _path(text)
    if not path.exists():
        raise ArgumentTypeError(f"{text} does not exist")
    return path


def text_arg(max_len: int = 4096) -> Callable[[str], str]:
    """Free text without NUL bytes, at most ``max_len`` characters."""

    def check(text: str) -> str:
        if "\x00" in text:
            raise ArgumentTypeError("text with a NUL byte")
        if len(text) > max_len:
            raise ArgumentTypeError(f"longer than {max_len} characters")
        return text

    check.__name__ = "text"
    return check


def as_text(check: Callable[[str], Path]) -> Callable[[str], str]:
    """``check`` (one of the path types above) keeping the argument as the text given, for
    settings recorded as strings (e.g. ``eval --annotations``, compared on ``--resume``)."""

    def text(value: str) -> str:
        check(value)
        return value

    text.__name__ = getattr(check, "__name__", "path")
    return text
