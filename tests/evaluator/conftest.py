"""Fixtures for the evaluator tests: DroidTask imported once, variant traces written once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from evaluator_synth import H, W

from llamatouch.datasets.droidtask import ImportResult, import_droidtask
from llamatouch.datasets.pathgen import write_variants
from llamatouch.paths import annotations_dir
from llamatouch.tasks import Task
from llamatouch.trace.format import StepRecord, Trace, TraceManifest, TraceWriter, read_trace
from llamatouch.ui.node import UIScreen
from llamatouch.ui.xmlio import write_uiautomator_xml
from llamatouch.world import World, load_world


@pytest.fixture(scope="session")
def droidtask_import(droidtask_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> ImportResult:
    out = tmp_path_factory.mktemp("droidtask-import")
    return import_droidtask(droidtask_dir, out)


@pytest.fixture(scope="session")
def droidtask_worlds(droidtask_import: ImportResult) -> dict[str, World]:
    return {
        t.world: load_world(droidtask_import.out_dir / "worlds" / t.world)
        for t in droidtask_import.suite.tasks
    }


@pytest.fixture(scope="session")
def droidtask_annotations() -> Path:
    return annotations_dir() / "droidtask"


@pytest.fixture(scope="session")
def variant_traces(
    droidtask_import: ImportResult,
    droidtask_worlds: dict[str, World],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, tuple[Task, str]]]:
    """Every variant (gt, short, half, wrong, recover, detour, wander) of every resolved task,
    written as traces. fsync is skipped while writing these throw-away test files."""
    out = tmp_path_factory.mktemp("variants")
    index: dict[str, tuple[Task, str]] = {}
    with mock.patch("os.fsync"):
        for task in droidtask_import.fully_resolved:
            for eid, v, _ in write_variants(droidtask_worlds[task.world], task, out):
                index[eid] = (task, v.kind)
    return out, index


# -- small synthetic traces for unit tests --------------------------------------------------


MakeTrace = Callable[..., Trace]


@pytest.fixture
def make_trace(tmp_path: Path) -> MakeTrace:
    """``make_trace([(screen, action_or_None, {record fields}), ...], status=...)``."""
    counter = [0]

    def make(
        steps: list[tuple[UIScreen | None, dict[str, Any] | None, dict[str, Any]]],
        status: str = "finished",
        png: Callable[[int], bytes | None] | None = None,
    ) -> Trace:
        counter[0] += 1
        root = tmp_path / f"trace{counter[0]}"
        w = TraceWriter(
            root, TraceManifest(episode_id=f"ep{counter[0]}", task={"id": "t", "app": "com.app"})
        )
        for i, (scr, action, extra) in enumerate(steps):
            rec = StepRecord(
                index=i,
                activity=extra.pop("activity", "com.app/.Main"),
                action=action,
                width=W,
                height=H,
                **extra,
            )
            shot = png(i) if png is not None else None
            w.write_step(rec, shot, None if scr is None else write_uiautomator_xml(scr))
        w.finish(status)
        return read_trace(root)

    return make
