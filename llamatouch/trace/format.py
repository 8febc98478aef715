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

import json
import os
import shutil
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llamatouch.actions import Action
from llamatouch.agent import DeviceCapabilities, LLMUsageSummary
from llamatouch.device.base import ActResult
from llamatouch.errors import ImageFormatError, InputFormatError, JsonFormatError, SchemaError
from llamatouch.fsutil import atomic_write_json
from llamatouch.trace.fields import Fields
from llamatouch.trace.records import (
    MAX_TEXT,
    EpisodeStatus,
    EpisodeUsage,
    TaskRef,
    VerdictRecord,
    act_result_from_json,
    act_result_to_json,
    action_from_record,
    action_to_json,
    device_from_json,
    device_to_json,
    llm_from_json,
    llm_to_json,
)
from llamatouch.ui.node import UIScreen
from llamatouch.ui.xmlio import read_uiautomator_xml

TRACE_SCHEMA = "llamatouch.trace/1"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: Largest ``num_steps`` accepted in a manifest (a bound against absurd values).
MAX_STEPS = 100_000


@dataclass(slots=True)
class StepRecord:
    """One step of an episode (``step.json``).

    Dict values given for ``action``, ``action_result`` and ``llm`` (the JSON form) are
    converted to their records on construction and on writing.

    Attributes:
        index: 0-based step number.
        activity: foreground activity on this screen, ``package/.Activity``.
        package: foreground package.
        action: the action taken on this screen, or ``None``.
        action_result: what the device reported for it, or ``None``.
        reasoning: the agent's stated reasoning (free text).
        observed_at, acted_at: wall-clock seconds.
        timings: seconds per call (``observe``, ``screenshot``, ``dump``, ``act``, ``agent``...).
        llm: LLM usage of this step.
        installed_packages: system state at this step, when recorded.
        has_screenshot, has_hierarchy: which files the step folder holds.
        width, height: screen size.
        error: an infrastructure or agent error that happened at this step, if any.
        extra: anything else a producer wants to keep (e.g. the source dataset's ids).
    """

    index: int
    activity: str = ""
    package: str = ""
    action: Action | None = None
    action_result: ActResult | None = None
    reasoning: str = ""
    observed_at: float = 0.0
    acted_at: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    llm: LLMUsageSummary = field(default_factory=LLMUsageSummary)
    installed_packages: list[str] | None = None
    has_screenshot: bool = False
    has_hierarchy: bool = False
    width: int = 0
    height: int = 0
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._coerce()

    def _coerce(self) -> None:
        # producers written against the dict form still work (and are checked)
        src = "<step record>"
        if self.action is not None and not isinstance(self.action, Action):
            self.action = action_from_record(self.action, src)
        if self.action_result is not None and not isinstance(self.action_result, ActResult):
            self.action_result = act_result_from_json(self.action_result, src)
        if not isinstance(self.llm, LLMUsageSummary):
            self.llm = llm_from_json(self.llm, src)

    def parsed_action(self) -> Action | None:
        """The action (kept for callers of the dict-era API)."""
        return self.action

    def to_json(self) -> dict[str, Any]:
        """The ``step.json`` object."""
        self._coerce()
        return {
            "index": self.index,
            "activity": self.activity,
            "package": self.package,
            "action": action_to_json(self.action),
            "action_result": act_result_to_json(self.action_result),
            "reasoning": self.reasoning,
            "observed_at": self.observed_at,
            "acted_at": self.acted_at,
            "timings": dict(self.timings),
            "llm": llm_to_json(self.llm),
            "installed_packages": (None if self.installed_packages is None
                                   else list(self.installed_packages)),
            "has_screenshot": self.has_screenshot,
            "has_hierarchy": self.has_hierarchy,
            "width": self.width,
            "height": self.height,
            "error": self.error,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_json(cls, obj: object, source: str | Path = "<step.json>") -> StepRecord:
        """Read and check every field of a ``step.json`` object."""
        f = Fields(obj, source)
        _no_unknown(f, _STEP_KEYS)
        return cls(
            index=f.integer("index", low=0, high=MAX_STEPS),
            activity=f.text("activity", ""),
            package=f.text("package", ""),
            action=action_from_record(f.obj.get("action"), source),
            action_result=act_result_from_json(f.obj.get("action_result"), source),
            reasoning=f.text("reasoning", "", max_len=MAX_TEXT),
            observed_at=f.number("observed_at", 0.0, low=0.0),
            acted_at=f.number("acted_at", 0.0, low=0.0),
            timings=f.number_map("timings"),
            llm=llm_from_json(f.obj.get("llm"), source),
            installed_packages=f.opt_text_list("installed_packages"),
            has_screenshot=f.flag("has_screenshot", False),
            has_hierarchy=f.flag("has_hierarchy", False),
            width=f.integer("width", 0, low=0),
            height=f.integer("height", 0, low=0),
            error=f.opt_text("error"),
            extra=f.json_object("extra"),
        )


_STEP_KEYS = frozenset(
    {"index", "activity", "package", "action", "action_result", "reasoning", "observed_at",
     "acted_at", "timings", "llm", "installed_packages", "has_screenshot", "has_hierarchy",
     "width", "height", "error", "extra"}
)


@dataclass(slots=True)
class TraceManifest:
    """``manifest.json`` of an episode.

    Dict values given for ``task``, ``device``, ``usage`` and ``verdict`` (the JSON form) are
    converted to their records on construction and on writing.

    Attributes:
        episode_id: unique id (``<task>__<agent>__t<trial>`` for eval runs).
        task: what was attempted (id, suite, app, instruction, trial).
        agent: ``{"name", ...config}`` (never API keys): free-form agent configuration.
        device: the device the episode ran on (``None``: not recorded).
        status: how the episode ended (``running`` until it does).
        num_steps: complete steps on disk.
        started_at, finished_at: wall-clock seconds.
        verdict: filled in by the evaluator (``None`` until scored).
        usage: totals (LLM calls and tokens, seconds, actions, infrastructure attempts).
        error: the reason for ``agent_error`` / ``infra_error``.
        schema: :data:`TRACE_SCHEMA`.
    """

    episode_id: str
    task: TaskRef = field(default_factory=TaskRef)
    agent: dict[str, Any] = field(default_factory=dict)
    device: DeviceCapabilities | None = None
    status: EpisodeStatus = EpisodeStatus.RUNNING
    num_steps: int = 0
    started_at: float = 0.0
    finished_at: float = 0.0
    verdict: VerdictRecord | None = None
    usage: EpisodeUsage = field(default_factory=EpisodeUsage)
    error: str | None = None
    schema: str = TRACE_SCHEMA

    def __post_init__(self) -> None:
        self._coerce()

    def _coerce(self) -> None:
        for name in ("task", "device", "usage", "verdict", "status"):
            setattr(self, name, coerce_manifest_field(name, getattr(self, name)))

    def to_json(self) -> dict[str, Any]:
        """The ``manifest.json`` object."""
        self._coerce()
        return {
            "episode_id": self.episode_id,
            "task": self.task.to_json(),
            "agent": dict(self.agent),
            "device": device_to_json(self.device),
            "status": str(self.status),
            "num_steps": self.num_steps,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "verdict": None if self.verdict is None else self.verdict.to_json(),
            "usage": self.usage.to_json(),
            "error": self.error,
            "schema": self.schema,
        }

    @classmethod
    def from_json(cls, obj: object, source: str | Path = "<manifest.json>") -> TraceManifest:
        """Read and check every field of a ``manifest.json`` object."""
        f = Fields(obj, source)
        schema = f.obj.get("schema")
        if schema != TRACE_SCHEMA:
            raise f.error("schema", f"expected {TRACE_SCHEMA!r}, got {schema!r}")
        _no_unknown(f, _MANIFEST_KEYS)
        agent = f.json_object("agent")
        if not isinstance(agent.get("name", ""), str):
            raise f.error("agent.name", "expected a string")
        verdict = f.obj.get("verdict")
        return cls(
            episode_id=f.text("episode_id"),
            task=TaskRef.from_json(_object_or_empty(f.obj.get("task")), source),
            agent=agent,
            device=device_from_json(f.obj.get("device"), source),
            status=f.enum("status", EpisodeStatus, EpisodeStatus.RUNNING),
            num_steps=f.integer("num_steps", 0, low=0, high=MAX_STEPS),
            started_at=f.number("started_at", 0.0, low=0.0),
            finished_at=f.number("finished_at", 0.0, low=0.0),
            verdict=None if verdict is None else VerdictRecord.from_json(verdict, source),
            usage=EpisodeUsage.from_json(f.obj.get("usage"), source),
            error=f.opt_text("error"),
            schema=TRACE_SCHEMA,
        )


_MANIFEST_KEYS = frozenset(
    {"episode_id", "task", "agent", "device", "status", "num_steps", "started_at",
     "finished_at", "verdict", "usage", "error", "schema"}
)


def coerce_manifest_field(name: str, value: Any) -> Any:
    """``value`` for manifest field ``name`` as its record (the JSON form is read and checked;
    a record is returned as is)."""
    src = "<manifest>"
    if name == "task" and not isinstance(value, TaskRef):
        return TaskRef.from_json(value, src)
    if name == "device" and not isinstance(value, (DeviceCapabilities, type(None))):
        return device_from_json(value, src)
    if name == "usage" and not isinstance(value, EpisodeUsage):
        return EpisodeUsage.from_json(value, src)
    if name == "verdict" and not isinstance(value, (VerdictRecord, type(None))):
        return VerdictRecord.from_json(value, src)
    if name == "status":
        return EpisodeStatus(value)
    return value


def _object_or_empty(v: object) -> object:
    return {} if v is None else v


def _no_unknown(f: Fields, known: frozenset[str]) -> None:
    extra = sorted(set(f.obj) - known)
    if extra:
        raise f.error(extra[0], f"unknown field (known: {', '.join(sorted(known))})")


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
        atomic_write_json(self.root / "manifest.json", self.manifest.to_json())

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
        atomic_write_json(tmp / "step.json", record.to_json())
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, _step_dir(self.root, record.index))
        self.manifest.num_steps += 1
        self._write_manifest()

    def update(self, **changes: Any) -> None:
        """Change manifest fields (status, verdict, usage ...) and rewrite it atomically.

        Records or their JSON form are accepted (``usage={"infra_attempts": 2}`` is read as
        an :class:`EpisodeUsage`).
        """
        for k in changes:
            if k not in TraceManifest.__dataclass_fields__:
                raise AttributeError(f"TraceManifest has no field {k!r}")
        checked = {k: coerce_manifest_field(k, v) for k, v in changes.items()}  # all or none
        for k, v in checked.items():
            setattr(self.manifest, k, v)
        self._write_manifest()

    def finish(self, status: EpisodeStatus | str, error: str | None = None) -> None:
        self.update(status=EpisodeStatus(status), error=error, finished_at=time.time())


@dataclass(slots=True)
class TraceStep:
    """A step read back: its record plus lazy access to its files."""

    record: StepRecord
    folder: Path

    @property
    def index(self) -> int:
        return self.record.index

    def screenshot_png(self) -> bytes:
        """The screenshot's bytes (checked to be a PNG; not decoded)."""
        path = self.folder / "screen.png"
        data = _read_inside(path, ImageFormatError)
        if not data.startswith(PNG_MAGIC):
            raise ImageFormatError(path, "not a PNG file")
        return data

    def hierarchy_xml(self) -> bytes:
        """The ``uiautomator dump`` bytes."""
        return _read_inside(self.folder / "screen.xml", InputFormatError)

    def screen(self) -> UIScreen:
        return read_uiautomator_xml(
            self.hierarchy_xml(),
            self.folder / "screen.xml",
            width=self.record.width,
            height=self.record.height,
            activity=self.record.activity,
        )

    def action(self) -> Action | None:
        """The step's action (checked when the trace was read)."""
        return self.record.action


def _read_inside(path: Path, error: type[InputFormatError]) -> bytes:
    """Read a file of a trace without following a symbolic link out of it."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        if path.is_symlink():
            raise error(path, "is a symbolic link (refused: trace files must be inside the "
                        "trace)") from exc
        raise error(path, f"cannot read: {exc.strerror or exc}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(path, "not a regular file")
        chunks = [os.read(fd, st.st_size + 1)]
        while chunks[-1]:  # the file grew since fstat: read on to its end
            chunks.append(os.read(fd, 1 << 20))
        return b"".join(chunks)
    except OSError as exc:
        raise error(path, f"cannot read: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)


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


def _refuse_links(base: Path, *paths: Path) -> None:
    """A trace is read only from inside its folder: a symbolic link below it is refused."""
    for p in paths:
        if p.is_symlink():
            raise InputFormatError(p, "is a symbolic link (refused: a trace must not point "
                                   "outside its folder)")


def _links_in(folder: Path) -> frozenset[str]:
    """Names of the symbolic links in ``folder`` (one directory scan)."""
    try:
        with os.scandir(folder) as it:
            return frozenset(e.name for e in it if e.is_symlink())
    except OSError as exc:
        raise InputFormatError(folder, f"cannot read: {exc.strerror or exc}") from exc


def _load_json(path: Path) -> Any:
    data = _read_inside(path, JsonFormatError)
    try:
        return json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise JsonFormatError(path, f"malformed JSON: {exc}") from exc
    except RecursionError as exc:
        raise JsonFormatError(path, "malformed JSON: nested too deeply") from exc


def read_trace(root: str | Path) -> Trace:
    """Read and validate an episode. Only complete steps (``num_steps``) are read.

    Every field of the manifest and of each step record is checked. Symbolic links inside
    the trace are refused: the ``steps`` folder, a step folder or a ``step.json`` here, a
    step's ``screen.png`` / ``screen.xml`` when they are read (``O_NOFOLLOW``). Raises
    :class:`InputFormatError` subclasses naming the file and field at fault.
    """
    base = Path(root)
    mpath = base / "manifest.json"
    _refuse_links(base, mpath)
    manifest = TraceManifest.from_json(_load_json(mpath), mpath)
    steps: list[TraceStep] = []
    links: frozenset[str] = frozenset()
    if manifest.num_steps:
        sdir = base / "steps"
        _refuse_links(base, sdir)
        links = _links_in(sdir)
    for i in range(manifest.num_steps):
        folder = _step_dir(base, i)
        if folder.name in links:
            _refuse_links(base, folder)
        spath = folder / "step.json"  # opened with O_NOFOLLOW: a link is refused
        record = StepRecord.from_json(_load_json(spath), spath)
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
