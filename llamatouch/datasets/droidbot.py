"""DroidBot exploration output → a world with the real screenshots, and an exploration trace.

Input: a DroidBot output folder (``states/state_<ts>.json`` + ``states/screen_<ts>.jpg``,
``events/event_<ts>.json``, optionally ``utg.js``). Output (under ``--out DIR``)::

    worlds/<name>/                   the UTG, screenshots converted from JPEG to PNG
    traces/<name>-exploration/       the exploration as a trace (format v1), in event order
    import-report.json

The trace has one step per event that acts on the UI (``kill_app`` / force-stops are app
stops, noted on the next step), on the screen the event started from: the state file whose
``state_str`` equals the event's ``start_state`` (the latest such file not after the event),
else the latest state file recorded up to the event (DroidBot does not write a state file for
every screen it hashes). The final step is the last event's ``stop_state`` with no action.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from llamatouch.agent import DeviceCapabilities
from llamatouch.datasets.droidbot_common import (
    EventFile,
    StateFile,
    StateIndex,
    convert_event,
    load_events,
    load_states,
    rel,
)
from llamatouch.datasets.problems import AppSummary, ImportProblem, ImportReport
from llamatouch.datasets.utg import AppContext, build_world
from llamatouch.errors import ImageFormatError, InputFormatError
from llamatouch.trace.format import StepRecord, TraceManifest, TraceWriter
from llamatouch.trace.records import TaskRef, action_from_record
from llamatouch.ui.xmlio import write_uiautomator_xml
from llamatouch.world import World

#: Largest screenshot accepted (pixels) — a guard against decompression bombs.
MAX_PIXELS = 40_000_000


@dataclass(slots=True)
class DroidBotImport:
    """What :func:`import_droidbot` wrote.

    Attributes:
        world: the world (in memory, with its PNG screenshots).
        world_dir: where it was saved.
        trace_dir: the exploration trace.
        report: counts and problems (also ``import-report.json``).
        steps: steps written to the trace.
    """

    world: World
    world_dir: Path
    trace_dir: Path
    report: ImportReport
    steps: int


def jpeg_to_png(path: Path) -> bytes:
    """Decode an image file and re-encode it as PNG; undecodable files raise
    :class:`ImageFormatError` naming the file."""
    try:
        with Image.open(path) as im:
            if im.width * im.height > MAX_PIXELS:
                raise ImageFormatError(path, f"{im.width}x{im.height} exceeds the pixel limit")
            im.load()
            rgb = im.convert("RGB")
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise ImageFormatError(path, f"cannot decode image: {exc}") from exc
    buf = io.BytesIO()
    rgb.save(buf, format="PNG")
    return buf.getvalue()


def read_utg_js(path: Path) -> dict[str, Any]:
    """DroidBot's ``utg.js`` (``var utg = {...}``) as a dict; malformed → ``InputFormatError``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFormatError(path, f"cannot read: {exc}") from exc
    start = text.find("{")
    if start < 0:
        raise InputFormatError(path, "no JSON object")
    try:
        data = json.loads(text[start:].rstrip().rstrip(";"))
    except json.JSONDecodeError as exc:
        raise InputFormatError(path, f"malformed JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InputFormatError(path, "not an object")
    return data


class _Screenshots:
    """Decodes each recorded ``screen_<tag>.jpg`` once; missing or broken ones are reported
    once and give ``None``."""

    def __init__(self, root: Path, problems: list[ImportProblem], app: str) -> None:
        self.root, self.problems, self.app = root, problems, app
        self._cache: dict[Path, bytes | None] = {}

    def png(self, sf: StateFile) -> bytes | None:
        jpg = sf.path.parent / f"screen_{sf.tag}.jpg"
        if jpg not in self._cache:
            self._cache[jpg] = self._decode(jpg)
        return self._cache[jpg]

    def _decode(self, jpg: Path) -> bytes | None:
        if not jpg.is_file():
            self.problems.append(
                ImportProblem(
                    "screenshot_missing", rel(jpg, self.root), "no screenshot recorded", self.app
                )
            )
            return None
        try:
            return jpeg_to_png(jpg)
        except ImageFormatError as exc:
            self.problems.append(
                ImportProblem("malformed_image", rel(jpg, self.root), exc.message, self.app)
            )
            return None


def import_droidbot(path: str | Path, out_dir: str | Path, *, name: str = "") -> DroidBotImport:
    """Import one DroidBot output folder (see the module docstring)."""
    src = Path(path).resolve()
    out = Path(out_dir)
    if not (src / "states").is_dir():
        raise InputFormatError(src, "not a DroidBot output folder (no states/)")
    name = name or src.name
    report = ImportReport("droidbot", str(src), str(out))
    problems = report.problems
    index, n_files = load_states(src / "states", src, problems, name)
    if not index.states:
        raise InputFormatError(src / "states", "no readable state file")
    events = load_events(src / "events", src, problems, name) if (src / "events").is_dir() else []
    ctx = AppContext(name, src, index, events, problems)
    utg = src / "utg.js"
    utg_meta: dict[str, Any] = {}
    if utg.is_file():
        try:
            utg_meta = read_utg_js(utg)
        except InputFormatError as exc:
            problems.append(ImportProblem("malformed_utg", "utg.js", exc.message, name))
    world = build_world(ctx, name)
    app_pkg = utg_meta.get("app_package")
    if isinstance(app_pkg, str) and app_pkg and world.apps and world.apps[0].package != app_pkg:
        problems.append(
            ImportProblem(
                "app_mismatch",
                "utg.js",
                f"utg.js names {app_pkg!r}, the events launched {world.apps[0].package!r}",
                name,
            )
        )
    shots = _Screenshots(src, problems, name)
    for sid, sf in index.states.items():
        png = shots.png(sf)
        if png is not None:
            world.screenshots[sid] = png
            world.states[sid].screenshot = True
    world_dir = world.save(out / "worlds" / name)
    trace_dir = out / "traces" / f"{name}-exploration"
    steps = _write_exploration(ctx, index, shots, trace_dir, utg_meta)
    report.apps.append(
        AppSummary(
            app=name,
            package=ctx.package,
            world=name,
            state_files=n_files,
            states=len(world.states),
            transitions=len(world.transitions),
        )
    )
    report.save(out / "import-report.json")
    return DroidBotImport(world, world_dir, trace_dir, report, steps)


def _screen_for(index: StateIndex, state_str: Any, tag: str | None) -> StateFile | None:
    """The state file shown when an event recorded at ``tag`` started (see the module doc);
    ``tag=None``: no time limit (the latest file of that state)."""
    sid = index.resolve(state_str)
    files = index.all_files
    before = files if tag is None else [f for f in files if f.tag <= tag]
    if sid is not None:
        same = [f for f in files if index.resolve(f.state_str) == sid]
        earlier = [f for f in same if tag is None or f.tag <= tag]
        return (earlier or same)[-1]
    return before[-1] if before else None


def _write_exploration(
    ctx: AppContext,
    index: StateIndex,
    shots: _Screenshots,
    trace_dir: Path,
    utg_meta: Mapping[str, Any],
) -> int:
    first = next(iter(index.states.values())).screen
    manifest = TraceManifest(
        episode_id=f"{ctx.app}-exploration",
        task=TaskRef(
            id=f"{ctx.app}-exploration",
            suite="",
            app=ctx.package,
            instruction="DroidBot exploration (no task)",
        ),
        agent={"name": "droidbot"},
        device=DeviceCapabilities(
            serial=str(utg_meta.get("device_serial") or ""),
            kind="recorded",
            width=first.width,
            height=first.height,
        ),
    )
    writer = TraceWriter(trace_dir, manifest)
    pending_stop: list[str] = []
    last: EventFile | None = None
    step = 0
    for ev in ctx.events:
        sf = _screen_for(index, ev.data.get("start_state"), ev.tag)
        conv = convert_event(ev.event, sf.screen if sf else None)
        if conv.stop:
            pending_stop.append(ev.tag)
            continue
        if conv.action is None or sf is None:
            ctx.problems.append(
                ImportProblem(
                    "trace_event_skipped",
                    rel(ev.path, ctx.root),
                    conv.problem or "no state file recorded before the event",
                    ctx.app,
                )
            )
            continue
        _write_step(writer, ctx, index, shots, sf, step, conv.action, ev, pending_stop)
        pending_stop = []
        step += 1
        last = ev
    if last is not None:
        sf = _screen_for(index, last.data.get("stop_state"), None)
        if sf is not None:
            _write_step(writer, ctx, index, shots, sf, step, None, None, pending_stop)
            step += 1
    writer.finish("finished")
    return step


def _write_step(
    writer: TraceWriter,
    ctx: AppContext,
    index: StateIndex,
    shots: _Screenshots,
    sf: StateFile,
    step: int,
    action: dict[str, Any] | None,
    ev: EventFile | None,
    stops: list[str],
) -> None:
    png = shots.png(sf)
    screen = sf.screen
    extra: dict[str, Any] = {
        "state_file": rel(sf.path, ctx.root),
        "state_id": index.resolve(sf.state_str),
    }
    if ev is not None:
        extra["event_file"] = rel(ev.path, ctx.root)
        extra["event_type"] = ev.event_type
    if stops:
        extra["app_stopped_before"] = stops
    writer.write_step(
        StepRecord(
            index=step,
            activity=screen.activity,
            package=screen.package,
            action=action_from_record(action, sf.path),
            width=screen.width,
            height=screen.height,
            extra=extra,
        ),
        png,
        write_uiautomator_xml(screen),
    )
