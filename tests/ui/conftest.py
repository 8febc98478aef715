"""Fixtures of the UI-layer tests: every DroidTask state, read once per session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llamatouch.ui.droidbot import screen_from_droidbot
from llamatouch.ui.node import UIScreen


@pytest.fixture(scope="session")
def droidtask_states(droidtask_dir: Path) -> list[tuple[Path, dict, UIScreen]]:
    """``(path, raw state dict, screen)`` for every ``<app>/states/state_*.json``."""
    out = []
    for path in sorted(droidtask_dir.glob("*/states/state_*.json")):
        raw = json.loads(path.read_bytes())
        out.append((path, raw, screen_from_droidbot(raw, path)))
    assert len(out) >= 2000, f"expected the ~2,240 DroidTask states, found {len(out)}"
    return out


@pytest.fixture(scope="session")
def screens_by_hash(droidtask_states: list[tuple[Path, dict, UIScreen]]) -> dict[str, UIScreen]:
    """Screens keyed by their DroidBot ``state_str`` content hash."""
    return {raw["state_str"]: screen for _, raw, screen in droidtask_states}


@pytest.fixture(scope="session")
def click_case_xml(llamatouch_data_dir: Path) -> Path:
    path = llamatouch_data_dir / "cases" / "click_case1" / "10.xml"
    assert path.is_file(), path
    return path
