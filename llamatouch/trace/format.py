"""Trace format v1: one directory per episode.

::

    <episode>/manifest.json           written last, atomically, after every step
    <episode>/steps/0000/step.json    the step record (activity, action, timings, ...)
    <episode>/steps/0000/screen.png   the screenshot
    <episode>/steps/0000/screen.xml   the ``uiautomator dump`` hierarchy

Step *i* is the screen observed before action *i*, and that action (``null`` on the final
screen of an episode that did not end with ``finish``). A step folder is first written as
``steps/.0000.tmp`` and renamed into place when complete, so readers never take a half-written
step as whole; the manifest's ``num_steps`` counts only complete steps. See
``docs/trace-format.md``.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llamatouch.actions import Action, action_from_json
from llamatouch.errors import ActionError, ImageFormatError, InputFormatError, SchemaError
from llamatouch.fsutil import atomic_write_json
from llamatouch.ui.droidbot import load_json_file
from llamatouch.ui.node import UIScreen
from llamatouch.ui.xmlio import read_uiautomator_xml

TRACE_SCHEMA = "llamatouch.trace/1"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass(slots=True)
class StepRecord:
    """One step of an episode (``step.json``).

    Attributes:
        index: 0-based step number.
        activity: foreground activity on this screen, ``package/.Activity``.
        package: foreground package.
        action: the action taken on this screen (action JSON), or ``None``.
        action_result: the device's :class:`~llamatouch.device.base.ActResult` as a dict.
        reasoning: the agent's stated reasoning (free text).
        observed_at, acted_at: wall-clock seconds.
        timings: seconds per call (``observe``, ``screenshot``, ``dump``, ``act``, ``agent``...).
        llm: LLM usage of this step (``calls``, ``prompt_tokens``, ``completion_tokens``,
            ``prefill_s``, ``decode_s``).
        installed_packages: system state at this step, when recorded.
        has_screenshot, has_hierarchy: which files the step folder holds.
        width, height: screen size.
        error: an infrastructure or agent error that happened at this step, if any.
        extra: anything else a producer wants to keep (e.g. the source dataset's ids).
    """

    index: int
    activity: str = ""
    package: str = ""
    action: dict[str, Any] | None = None
    action_result: dict[str, Any] | None = None
    reasoning: str = ""
    observed_at: float = 0.0
    acted_at: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    llm: dict[str, Any] = field(default_factory=dict)
    installed_packages: list[str] | None = None
    has_screenshot: bool = False
    has_hierarchy: bool = False
    width: int = 0
    height: int = 0
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def parsed_action(self) -> Action | None:
        return None if self.action is None else action_from_json(self.action)


@dataclass(slots=True)
class TraceManifest:
    """``manifest.json`` of an episode.

    Attributes:
        episode_id: unique id (``<task>__<agent>__t<trial>`` for eval runs).
        task: ``{"id", "suite", "app", "instruction"}``.
        agent: ``{"name", ...config}`` (never API keys).
        device: ``{"serial", "kind", "width", "height"}``.
        status: ``running`` | ``finished`` (agent declared completion or the episode ended
            normally) | ``step_limit`` | ``agent_error`` | ``infra_error``.
        num_steps: complete steps on disk.
        started_at, finished_at: wall-clock seconds.
        verdict: filled in by the evaluator (``None`` until scored).
        usage: totals (``llm_calls``, ``prompt_tokens``, ``completion_tokens``, seconds...).
        error: the reason for ``agent_error`` / ``infra_error``.
        schema: :data:`TRACE_SCHEMA`.
    """

    episode_id: str
    task: dict[str, Any] = field(default_factory=dict)
    agent: dict[str, Any] = field(default_factory=dict)
    device: dict[str, Any] = field(default_factory=dict)
    status: str = "running"
    num_steps: int = 0
    started_at: float = 0.0
    finished_at: float = 0.0
    verdict: dict[str, Any] | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    schema: str = TRACE_SCHEMA


def _step_dir(root: Path, index: int) -> Path:
    return root / "steps" / f"{index:04d}"


class TraceWriter:
    """Writes an episode step by step, atomically.

    ``TraceWriter(path, manifest)`` starts a fresh episode (an existing half-written one at
    ``path`` is removed: an unfinished episode is restarted clean, never continued).
    """

    def __init__(self, root: str | Path, manifest: TraceManifest) -> None:
        self.root = Path(root)
        if self.root.exists():
            shutil.rmtree(self.root)
        (self.root / "steps").mkdir(parents=True)
        self.manifest = manifest
        if not manifest.started_at:
            manifest.started_at = time.time()
        self._write_manifest()

    def _write_manifest(self) -> None:
        atomic_write_json(self.root / "manifest.json", asdict(self.manifest))

    def write_step(
        self, record: StepRecord, screenshot_png: bytes | None, hierarchy_xml: bytes | None
    ) -> None:
        """Write one complete step, then bump ``num_steps`` in the manifest."""
        if record.index != self.manifest.num_steps:
            raise ValueError(f"step {record.index} written out of order")
        tmp = self.root / "steps" / f".{record.index:04d}.tmp"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        record.has_screenshot = screenshot_png is not None
        record.has_hierarchy = hierarchy_xml is not None
        if screenshot_png is not None:
            (tmp / "screen.png").write_bytes(screenshot_png)
        if hierarchy_xml is not None:
            (tmp / "screen.xml").write_bytes(hierarchy_xml)
        atomic_write_json(tmp / "step.json", asdict(record))
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, _step_dir(self.root, record.index))
        self.manifest.num_steps += 1
        self._write_manifest()

    def update(self, **changes: Any) -> None:
        """Change manifest fields (status, verdict, usage ...) and rewrite it atomically."""
        for k, v in changes.items():
            if not hasattr(self.manifest, k):
                raise AttributeError(f"TraceManifest has no field {k!r}")
            setattr(self.manifest, k, v)
        self._write_manifest()

    def finish(self, status: str, error: str | None = None) -> None:
        self.update(status=status, error=error, finished_at=time.time())


@dataclass(slots=True)
class TraceStep:
    """A step read back: its record plus lazy access to its files."""

    record: StepRecord
    folder: Path

    @property
    def index(self) -> int:
        return self.record.index

    def screenshot_png(self) -> bytes:
        path = self.folder / "screen.png"
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImageFormatError(path, f"cannot read: {exc.strerror or exc}") from exc
        if not data.startswith(PNG_MAGIC):
            raise ImageFormatError(path, "not a PNG file")
        return data

    def hierarchy_xml(self) -> bytes:
        path = self.folder / "screen.xml"
        try:
            return path.read_bytes()
        except OSError as exc:
            raise InputFormatError(path, f"cannot read: {exc.strerror or exc}") from exc

    def screen(self) -> UIScreen:
        return read_uiautomator_xml(
            self.hierarchy_xml(),
            self.folder / "screen.xml",
            width=self.record.width,
            height=self.record.height,
            activity=self.record.activity,
        )

    def action(self) -> Action | None:
        try:
            return self.record.parsed_action()
        except ActionError as exc:
            raise SchemaError(self.folder / "step.json", "action", str(exc)) from exc


@dataclass(slots=True)
class Trace:
    """An episode read back from disk."""

    root: Path
    manifest: TraceManifest
    steps: list[TraceStep]

    def __iter__(self) -> Iterator[TraceStep]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def complete(self) -> bool:
        return self.manifest.status != "running"


def _manifest_from(data: Any, path: Path) -> TraceManifest:
    if not isinstance(data, dict):
        raise SchemaError(path, "<top>", "not an object")
    if data.get("schema") != TRACE_SCHEMA:
        raise SchemaError(path, "schema", f"expected {TRACE_SCHEMA!r}, got {data.get('schema')!r}")
    if not isinstance(data.get("episode_id"), str):
        raise SchemaError(path, "episode_id", "missing or not a string")
    try:
        return TraceManifest(**data)
    except TypeError as exc:
        raise SchemaError(path, "<top>", str(exc)) from exc


def read_trace(root: str | Path) -> Trace:
    """Read and validate an episode. Only complete steps (``num_steps``) are read.

    Raises :class:`InputFormatError` subclasses naming the file and field at fault.
    """
    base = Path(root)
    mpath = base / "manifest.json"
    manifest = _manifest_from(load_json_file(mpath), mpath)
    steps: list[TraceStep] = []
    for i in range(manifest.num_steps):
        folder = _step_dir(base, i)
        spath = folder / "step.json"
        data = load_json_file(spath)
        if not isinstance(data, dict):
            raise SchemaError(spath, "<top>", "not an object")
        try:
            record = StepRecord(**data)
        except TypeError as exc:
            raise SchemaError(spath, "<top>", str(exc)) from exc
        if record.index != i:
            raise SchemaError(spath, "index", f"expected {i}, got {record.index}")
        steps.append(TraceStep(record=record, folder=folder))
    return Trace(root=base, manifest=manifest, steps=steps)


def is_trace_dir(path: str | Path) -> bool:
    return (Path(path) / "manifest.json").is_file()


def find_traces(root: str | Path) -> list[Path]:
    """Every episode folder below ``root`` (``root`` itself if it is one), sorted."""
    base = Path(root)
    if is_trace_dir(base):
        return [base]
    return sorted(p.parent for p in base.rglob("manifest.json") if (p.parent / "steps").is_dir())
