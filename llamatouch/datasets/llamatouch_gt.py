"""Readers for the LlamaTouch dataset layouts, converted into trace format v1.

Facts about the layouts come from the LlamaTouch dataset README and its evaluator
(github.com/LlamaTouch/LlamaTouch ``dataset/README.md``, github.com/LlamaTouch/Evaluator
``evaluator/task_trace.py``); the code here is our own.

Ground-truth episode folder (``<category>/trace_<n>/``)::

    <i>.png         screenshot of screen i
    <i>.xml         ``uiautomator dump`` of screen i
    <i>.vh          the same hierarchy as DroidBot-style JSON (a list of views)
    <i>.json        the simplified, indexed component list (``.ess`` indices point into it)
    <i>.activity    foreground activity (first line)
    <i>.ess         essential-state annotation of screen i (optional)
    eventStructs.txt  one action per line, action i taken on screen i
    instruction.txt   line 1: the episode id (a string), line 2: the task description

``eventStructs.txt`` lines come in a Chinese form (``【点击事件】屏幕大小：（w320，h720），
触摸位置：（x204，y170）``, ``【滑动事件】…起始位置…结束位置…``, ``【键盘输入】text``,
``【Home键】``, ``【Back键】``) and an English form (``[Click] Screen Resolution (320, 720),
Click Position (204, 170)``, ``[Home]`` ...). Coordinates are in the stated resolution and
are scaled to the screenshot's pixels.

AgentEnv execution trace folder::

    screenshot/<i>.png  xml/<i>.xml  activity/<i>.activity  action/<i>.action
    installed_apps/installed_apps.txt

``<i>.action`` is ``TYPE|text|NULL|w|h``, ``CLICK|[x y]|NULL|w|h`` (x, y as fractions of the
screen), ``SWIPE|[x y]|[x y]|w|h``, ``PRESS_BACK|NULL|NULL|w|h`` (also ``PRESS_HOME``,
``PRESS_ENTER``, ``STATUS_TASK_COMPLETE``, ``STATUS_TASK_IMPOSSIBLE``).

The metadata TSV (``episode category path description nsteps app``) keeps episode ids as
strings: some start with ``0`` and some exceed 64-bit integers.
"""

from __future__ import annotations

import csv
import io
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llamatouch.actions import Finish, Key, Swipe, Tap, Type
from llamatouch.agent import DeviceCapabilities
from llamatouch.datasets.llamatouch_vh import read_vh_file
from llamatouch.errors import ImageFormatError, InputFormatError, SchemaError
from llamatouch.fsutil import load_json_file
from llamatouch.tasks import Task
from llamatouch.trace.format import PNG_MAGIC, StepRecord, TraceManifest, TraceWriter
from llamatouch.trace.records import TaskRef, action_from_record
from llamatouch.ui.node import UIScreen
from llamatouch.ui.xmlio import read_uiautomator_file, write_uiautomator_xml

METADATA_COLUMNS = ("episode", "category", "path", "description", "nsteps", "app")
_SAFE_ID_RE = re.compile(r"[^A-Za-z0-9_.-]+")


# -- metadata TSV ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EpisodeMeta:
    """One row of ``llamatouch_task_metadata.tsv``.

    Attributes:
        episode: the episode id, kept as a string exactly as written.
        category: ``general``, ``googleapps``, ``install``, ``webshopping`` or ``generated``.
        path: the episode folder relative to the dataset root (``general/trace_11``).
        description: the task instruction.
        nsteps: number of actions of the ground-truth trace.
        app: the app's name as written (not a package).
    """

    episode: str
    category: str
    path: str
    description: str
    nsteps: int
    app: str


def read_task_metadata(path: str | Path) -> list[EpisodeMeta]:
    """Read the metadata TSV; errors name the file, line and column."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFormatError(p, f"cannot read: {exc}") from exc
    rows = list(csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows or tuple(c.strip() for c in rows[0]) != METADATA_COLUMNS:
        raise SchemaError(p, "header", f"expected columns {'/'.join(METADATA_COLUMNS)}")
    out: list[EpisodeMeta] = []
    seen: set[str] = set()
    for line, row in enumerate(rows[1:], start=2):
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) != len(METADATA_COLUMNS):
            raise SchemaError(p, f"line {line}", f"{len(row)} columns, expected 6")
        episode, category, rel_path, description, nsteps, app = (c.strip() for c in row)
        if not episode or not episode.isdigit():
            raise SchemaError(p, f"line {line}.episode", f"not a digit string: {episode!r}")
        if episode in seen:
            raise SchemaError(p, f"line {line}.episode", f"duplicate episode {episode!r}")
        seen.add(episode)
        try:
            steps = int(nsteps)
        except ValueError as exc:
            raise SchemaError(p, f"line {line}.nsteps", f"not an integer: {nsteps!r}") from exc
        out.append(EpisodeMeta(episode, category, rel_path, description, steps, app))
    return out


def task_id_for(meta: EpisodeMeta) -> str:
    """A file-name-safe task id: ``llamatouch-<category>-<episode>``."""
    return _SAFE_ID_RE.sub("_", f"llamatouch-{meta.category}-{meta.episode}")


def metadata_tasks(path: str | Path) -> list[Task]:
    """The metadata TSV as :class:`Task` records (no ground truth: the traces hold it).

    LlamaTouch names apps, not packages, so ``app`` and ``app_label`` both carry the name.
    """
    tasks = []
    for m in read_task_metadata(path):
        tasks.append(
            Task(
                id=task_id_for(m),
                app=m.app or "unknown",
                instruction=m.description,
                max_steps=max(15, 2 * m.nsteps),
                app_label=m.app,
                meta={
                    "dataset": "llamatouch",
                    "episode": m.episode,
                    "category": m.category,
                    "path": m.path,
                    "nsteps": m.nsteps,
                },
            )
        )
    return tasks


# -- eventStructs.txt ------------------------------------------------------------------------

_TAG_RE = re.compile(r"^\s*(?:【(?P<zh>[^】]+)】|\[(?P<en>[^\]]+)\])\s*(?P<rest>.*)$")
_NUM_PAIR_RE = re.compile(r"[（(]\s*[wx]?(-?\d+)\s*[，,]\s*[hy]?(-?\d+)\s*[）)]")
_KIND = {
    "点击事件": "click",
    "click": "click",
    "tap": "click",
    "滑动事件": "swipe",
    "swipe": "swipe",
    "scroll": "swipe",
    "键盘输入": "type",
    "type": "type",
    "input": "type",
    "keyboard input": "type",
    "home键": "home",
    "home": "home",
    "back键": "back",
    "back": "back",
    "enter": "enter",
    "enter键": "enter",
}


@dataclass(frozen=True, slots=True)
class RecordedAction:
    """One ``eventStructs.txt`` line, parsed but not yet scaled.

    Attributes:
        kind: ``click``, ``swipe``, ``type``, ``home``, ``back`` or ``enter``.
        resolution: the coordinate space ``(w, h)`` of the points (``None`` without points).
        points: the touch points in that space (one for a click, two for a swipe).
        text: the typed text of a ``type`` line.
    """

    kind: str
    resolution: tuple[int, int] | None = None
    points: tuple[tuple[int, int], ...] = ()
    text: str = ""

    def to_action(self, width: int, height: int) -> dict[str, Any]:
        """The typed action in pixels of a ``width`` x ``height`` screen."""
        if self.kind in ("home", "back", "enter"):
            return Key(key=self.kind).to_json()
        if self.kind == "type":
            return Type(text=self.text).to_json()
        rw, rh = self.resolution or (width, height)
        pts = [
            (round(x * width / rw) if rw else x, round(y * height / rh) if rh else y)
            for x, y in self.points
        ]
        pts = [(min(max(x, 0), width - 1), min(max(y, 0), height - 1)) for x, y in pts]
        if self.kind == "click":
            return Tap(x=pts[0][0], y=pts[0][1]).to_json()
        (x1, y1), (x2, y2) = pts[0], pts[1]
        return Swipe(x1=x1, y1=y1, x2=x2, y2=y2).to_json()


def parse_event_structs(text: str, source: str | Path = "eventStructs.txt") -> list[RecordedAction]:
    """Parse ``eventStructs.txt``; an unknown or malformed line raises :class:`SchemaError`
    naming the line."""
    out: list[RecordedAction] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        m = _TAG_RE.match(line)
        if m is None:
            raise SchemaError(source, f"line {lineno}", f"no [action] tag in {line!r}")
        tag = (m.group("zh") or m.group("en") or "").strip()
        kind = _KIND.get(tag.lower())
        if kind is None:
            raise SchemaError(source, f"line {lineno}", f"unknown action {tag!r}")
        rest = m.group("rest")
        if kind == "type":
            out.append(RecordedAction("type", text=rest.rstrip("\r\n")))
            continue
        if kind in ("home", "back", "enter"):
            out.append(RecordedAction(kind))
            continue
        pairs = [(int(a), int(b)) for a, b in _NUM_PAIR_RE.findall(rest)]
        need = 2 if kind == "click" else 3
        if len(pairs) < need:
            raise SchemaError(
                source, f"line {lineno}", f"{kind}: expected resolution and point(s) in {line!r}"
            )
        out.append(RecordedAction(kind, resolution=pairs[0], points=tuple(pairs[1:need])))
    return out


# -- ground-truth episode folder -------------------------------------------------------------


def png_size(data: bytes, source: str | Path) -> tuple[int, int]:
    """Width and height from a PNG header; a file that is not a PNG raises
    :class:`ImageFormatError`."""
    if not data.startswith(PNG_MAGIC) or len(data) < 24 or data[12:16] != b"IHDR":
        raise ImageFormatError(source, "not a PNG file")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFormatError(path, f"cannot read: {exc}") from exc


def first_line(path: Path) -> str:
    """The first non-blank line of a text file (stripped); unreadable → ``InputFormatError``."""
    lines = [x.strip() for x in _read_text(path).splitlines() if x.strip()]
    return lines[0] if lines else ""


def _optional_first_line(path: Path) -> str:
    return first_line(path) if path.is_file() else ""


def _read_png(path: Path) -> tuple[bytes, int, int]:
    """A PNG file's bytes and size; unreadable or not a PNG → ``ImageFormatError``."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageFormatError(path, f"cannot read: {exc}") from exc
    width, height = png_size(data, path)
    return data, width, height


@dataclass(slots=True)
class GtScreen:
    """One screen of a ground-truth episode.

    Attributes:
        index: the screen number ``i``.
        png: the screenshot bytes.
        screen: the hierarchy (from ``<i>.xml``, else ``<i>.vh``).
        activity: from ``<i>.activity`` (``""`` when missing).
        ess: the raw ``<i>.ess`` annotation, or ``None``.
        components: the ``<i>.json`` component list, or ``None``.
    """

    index: int
    png: bytes
    screen: UIScreen
    activity: str = ""
    ess: str | None = None
    components: list[Any] | None = None


@dataclass(slots=True)
class GtEpisode:
    """A LlamaTouch ground-truth episode folder, read and validated.

    Attributes:
        folder: the folder.
        episode: the episode id from ``instruction.txt`` (a string).
        instruction: the task description.
        screens: the screens in order.
        actions: one typed action per screen (the last screen's is ``finish`` when
            ``eventStructs.txt`` has one action fewer than there are screens).
    """

    folder: Path
    episode: str
    instruction: str
    screens: list[GtScreen] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)


def _screen_indices(folder: Path) -> list[int]:
    return sorted(int(p.stem) for p in folder.glob("*.png") if p.stem.isdigit())


def _read_hierarchy(folder: Path, i: int, width: int, height: int, activity: str) -> UIScreen:
    xml = folder / f"{i}.xml"
    if xml.is_file():
        return read_uiautomator_file(xml, width=width, height=height, activity=activity)
    vh = folder / f"{i}.vh"
    if vh.is_file():
        return read_vh_file(vh, width=width, height=height, activity=activity)
    raise InputFormatError(folder / f"{i}.xml", f"screen {i} has neither {i}.xml nor {i}.vh")


def read_gt_episode(folder: str | Path) -> GtEpisode:
    """Read a ground-truth episode folder (see the module docstring)."""
    base = Path(folder)
    instr = base / "instruction.txt"
    lines = [x.strip() for x in _read_text(instr).splitlines() if x.strip()]
    if len(lines) < 2:
        raise SchemaError(instr, "lines", "expected the episode id, then the description")
    episode, description = lines[0], " ".join(lines[1:])
    indices = _screen_indices(base)
    if not indices:
        raise InputFormatError(base, "no <i>.png screens")
    if indices != list(range(len(indices))):
        raise SchemaError(base, "screens", f"screen numbers are not 0..n-1: {indices}")
    events = base / "eventStructs.txt"
    recorded = parse_event_structs(_read_text(events), events)
    if len(recorded) not in (len(indices), len(indices) - 1):
        raise SchemaError(events, "lines", f"{len(recorded)} actions for {len(indices)} screens")
    ep = GtEpisode(base, episode, description)
    for i in indices:
        png_path = base / f"{i}.png"
        png, width, height = _read_png(png_path)
        activity = _optional_first_line(base / f"{i}.activity")
        ess_path = base / f"{i}.ess"
        comp_path = base / f"{i}.json"
        components = load_json_file(comp_path) if comp_path.is_file() else None
        if components is not None and not isinstance(components, list):
            raise SchemaError(comp_path, "<top>", "expected a list of components")
        ep.screens.append(
            GtScreen(
                index=i,
                png=png,
                screen=_read_hierarchy(base, i, width, height, activity),
                activity=activity,
                ess=_read_text(ess_path).strip() if ess_path.is_file() else None,
                components=components,
            )
        )
        if i < len(recorded):
            ep.actions.append(recorded[i].to_action(width, height))
    if len(ep.actions) < len(ep.screens):
        ep.actions.append(Finish().to_json())
    return ep


def _write(
    out_dir: Path,
    episode_id: str,
    task: dict[str, Any],
    agent: dict[str, Any],
    steps: list[tuple[StepRecord, bytes, bytes]],
    status: str,
) -> Path:
    first = steps[0][0] if steps else None
    manifest = TraceManifest(
        episode_id=episode_id,
        task=TaskRef.from_json(task, out_dir / "manifest.json"),
        agent=agent,
        device=DeviceCapabilities(
            serial="",
            kind="recorded",
            width=first.width if first else 0,
            height=first.height if first else 0,
        ),
    )
    writer = TraceWriter(out_dir, manifest)
    for record, png, xml in steps:
        writer.write_step(record, png, xml)
    writer.finish(status)
    return out_dir


def convert_gt_episode(
    folder: str | Path, out_dir: str | Path, *, meta: EpisodeMeta | None = None
) -> Path:
    """Convert a ground-truth episode folder into a trace (format v1) at ``out_dir``.

    The ``.ess`` annotation and the ``<i>.json`` component list of each screen are kept in
    the step's ``extra`` (``ess``, ``components``) so annotation tools can show them.
    """
    ep = read_gt_episode(folder)
    steps = []
    for scr, action in zip(ep.screens, ep.actions, strict=True):
        extra: dict[str, Any] = {"source": str(Path(folder) / f"{scr.index}.png")}
        if scr.ess is not None:
            extra["ess"] = scr.ess
        if scr.components is not None:
            extra["components"] = scr.components
        record = StepRecord(
            index=scr.index,
            activity=scr.activity,
            package=scr.screen.package,
            action=action_from_record(action, folder),
            width=scr.screen.width,
            height=scr.screen.height,
            extra=extra,
        )
        steps.append((record, scr.png, write_uiautomator_xml(scr.screen)))
    task = {
        "id": task_id_for(meta) if meta else f"llamatouch-{ep.episode}",
        "suite": "llamatouch",
        "app": meta.app if meta else "",
        "instruction": ep.instruction,
        "episode": ep.episode,
    }
    return _write(
        Path(out_dir),
        f"{task['id']}__ground_truth",
        task,
        {"name": "ground_truth"},
        steps,
        "finished",
    )


# -- AgentEnv execution traces ---------------------------------------------------------------

_AE_KEYS = {"PRESS_BACK": "back", "PRESS_HOME": "home", "PRESS_ENTER": "enter"}
_FRACTION_PAIR_RE = re.compile(r"\[\s*(-?\d+(?:\.\d+)?)\s*,?\s+(-?\d+(?:\.\d+)?)\s*\]")


def parse_agentenv_action(text: str, source: str | Path) -> dict[str, Any]:
    """One AgentEnv ``<i>.action`` file as a typed action (fractions scaled to pixels)."""
    parts = text.strip().split("|")
    if len(parts) < 5:
        raise SchemaError(source, "action", f"expected TYPE|p1|p2|w|h, got {text.strip()!r}")
    kind, width_s, height_s = parts[0].strip().upper(), parts[-2], parts[-1]
    try:
        width, height = int(width_s), int(height_s)
    except ValueError as exc:
        raise SchemaError(
            source, "action.size", f"bad screen size {width_s!r}x{height_s!r}"
        ) from exc
    if kind in _AE_KEYS:
        return Key(key=_AE_KEYS[kind]).to_json()
    if kind == "STATUS_TASK_COMPLETE":
        return Finish(status="success").to_json()
    if kind == "STATUS_TASK_IMPOSSIBLE":
        return Finish(status="infeasible").to_json()
    if kind == "TYPE":
        return Type(text="|".join(parts[1:-3])).to_json()

    def point(raw: str, field_name: str) -> tuple[int, int]:
        m = _FRACTION_PAIR_RE.search(raw)
        if m is None:
            raise SchemaError(source, field_name, f"expected [x y] fractions, got {raw!r}")
        fx, fy = float(m.group(1)), float(m.group(2))
        x = min(max(round(fx * width), 0), max(width - 1, 0))
        y = min(max(round(fy * height), 0), max(height - 1, 0))
        return x, y

    if kind == "CLICK":
        x, y = point(parts[1], "action.point")
        return Tap(x=x, y=y).to_json()
    if kind == "SWIPE":
        x1, y1 = point(parts[1], "action.start")
        x2, y2 = point(parts[2], "action.end")
        return Swipe(x1=x1, y1=y1, x2=x2, y2=y2).to_json()
    raise SchemaError(source, "action.type", f"unknown action type {kind!r}")


def convert_agentenv_trace(
    folder: str | Path,
    out_dir: str | Path,
    *,
    task: dict[str, Any] | None = None,
    agent: str = "agentenv",
) -> Path:
    """Convert an AgentEnv execution trace folder into a trace (format v1) at ``out_dir``.

    Screens without an ``action/<i>.action`` file get no action; a trace whose last action is
    ``STATUS_TASK_COMPLETE`` / ``IMPOSSIBLE`` is ``finished``, else ``step_limit``.
    """
    base = Path(folder)
    shots = base / "screenshot"
    indices = sorted(int(p.stem) for p in shots.glob("*.png") if p.stem.isdigit())
    if not indices:
        raise InputFormatError(shots, "no screenshot/<i>.png")
    installed: list[str] | None = None
    inst_path = base / "installed_apps" / "installed_apps.txt"
    if inst_path.is_file():
        installed = [x.strip() for x in _read_text(inst_path).splitlines() if x.strip()]
    steps = []
    finished = False
    for n, i in enumerate(indices):
        png_path = shots / f"{i}.png"
        png, width, height = _read_png(png_path)
        activity = _optional_first_line(base / "activity" / f"{i}.activity")
        screen = read_uiautomator_file(
            base / "xml" / f"{i}.xml", width=width, height=height, activity=activity
        )
        action_path = base / "action" / f"{i}.action"
        action = (
            parse_agentenv_action(_read_text(action_path), action_path)
            if action_path.is_file()
            else None
        )
        finished = action is not None and action["action"] == "finish"
        record = StepRecord(
            index=n,
            activity=activity,
            package=screen.package,
            action=action_from_record(action, action_path),
            width=width,
            height=height,
            installed_packages=installed if n == len(indices) - 1 else None,
            extra={"source": str(png_path)},
        )
        steps.append((record, png, write_uiautomator_xml(screen)))
    task_info = dict(task or {"id": base.name, "suite": "", "app": "", "instruction": ""})
    return _write(
        Path(out_dir),
        f"{task_info.get('id', base.name)}__{agent}",
        task_info,
        {"name": agent},
        steps,
        "finished" if finished else "step_limit",
    )
