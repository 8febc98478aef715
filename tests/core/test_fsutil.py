"""Atomic writes and root-confined joins."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from llamatouch.errors import PathEscapeError
from llamatouch.fsutil import atomic_write_bytes, atomic_write_json, safe_join


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "f.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2})
    assert target.read_text().strip().endswith("}")
    assert '"a": 2' in target.read_text()
    assert [p.name for p in target.parent.iterdir()] == ["f.json"]


def test_atomic_write_failure_keeps_old_content(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old")

    with pytest.raises(TypeError):
        atomic_write_bytes(target, 12345)  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


@pytest.mark.parametrize("part", ["../x", "/etc/passwd", "a/../../x", "a/b/../../../x"])
def test_safe_join_refuses_escapes(tmp_path: Path, part: str) -> None:
    with pytest.raises(PathEscapeError):
        safe_join(tmp_path, part)


def test_safe_join_refuses_symlink_out(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    os.symlink("/etc", root / "link")
    with pytest.raises(PathEscapeError):
        safe_join(root, "link", "passwd")


def test_safe_join_accepts_inside(tmp_path: Path) -> None:
    assert safe_join(tmp_path, "a", "b.txt") == (tmp_path / "a" / "b.txt").resolve()
    assert safe_join(tmp_path, "a/../b") == (tmp_path / "b").resolve()
