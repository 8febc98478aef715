"""DroidTask importer: per app a :class:`~llamatouch.world.World`, per task a :class:`Task`.

Input layout (one folder per app, as published with AutoDroid, MobiCom'24)::

    <app>/states/state_<ts>.json    DroidBot states (``state_str`` content hash)
    <app>/events/event_<ts>.json    DroidBot events (``start_state`` → ``stop_state``)
    <app>/task<N>.yaml              task records (``task_name``, ``step_num``, ``records``)

Output (under ``--out DIR``)::

    worlds/<world>/                 one world per app (:meth:`World.save`)
    droidtask.json                  the task suite; ``Task.world`` names the app's world folder
    import-report.json              counts per app and every problem found

A task is *fully resolved* when every record resolves to a state and an action; only then are
``gt_states`` / ``gt_actions`` filled in. Nothing here raises on a bad record: problems are
collected as :class:`~llamatouch.datasets.problems.ImportProblem` and the import finishes.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llamatouch.actions import Finish, Key, Tap, Type
from llamatouch.datasets.droidbot_common import (
    find_event_node,
    load_events,
    load_states,
    rel,
)
from llamatouch.datasets.problems import AppSummary, ImportProblem, ImportReport
from llamatouch.datasets.recorded_html import (
    RecordedElement,
    match_element,
    norm_text,
    parse_recorded_html,
)
from llamatouch.datasets.replay_check import check_annotation, make_replayable
from llamatouch.datasets.task_paths import add_task_edges, scroll_steps
from llamatouch.datasets.utg import AppContext, build_world
from llamatouch.errors import InputFormatError, LlamaTouchError
from llamatouch.essential.schema import Annotation, load_annotations_dir
from llamatouch.paths import annotations_dir
from llamatouch.tasks import Task, TaskSuite
from llamatouch.ui.html import MERGE_SEPARATOR, render_html
from llamatouch.ui.node import UINode, UIScreen
from llamatouch.world import TASK_EDGE, World

log = logging.getLogger(__name__)

SUITE_NAME = "droidtask"
WORLD_PREFIX = "droidtask-"
#: libyaml's safe loader when PyYAML was built with it (same result, much faster).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TASK_RE = re.compile(r"^task(\d+)\.ya?ml$")


@dataclass(slots=True)
class ImportResult:
    """What :func:`import_droidtask` wrote.

    Attributes:
        out_dir: the output folder.
        suite: the task suite (also saved as ``droidtask.json``).
        suite_path: path of the saved suite.
        worlds: app folder name → saved world folder.
        report: counts and problems (also saved as ``import-report.json``).
    """

    out_dir: Path
    suite: TaskSuite
    suite_path: Path
    worlds: dict[str, Path]
    report: ImportReport

    @property
    def fully_resolved(self) -> list[Task]:
        return [t for t in self.suite.tasks if t.meta.get("fully_resolved")]


def app_folders(dataset: Path) -> list[Path]:
    """App folders of a DroidTask download: sub-folders that hold a ``states`` folder."""
    return sorted(p for p in dataset.iterdir() if p.is_dir() and (p / "states").is_dir())


def task_files(app_dir: Path) -> list[tuple[int, Path]]:
    """``(N, path)`` of every ``task<N>.yaml`` in numeric order."""
    out = []
    for p in app_dir.iterdir():
        m = _TASK_RE.match(p.name)
        if m:
            out.append((int(m.group(1)), p))
    return sorted(out)


def import_droidtask(
    path: str | Path,
    out_dir: str | Path,
    *,
    progress: Callable[[str], None] | None = None,
    annotations: Mapping[str, Annotation] | None = None,
) -> ImportResult:
    """Import a DroidTask download at ``path`` into ``out_dir`` (see the module docstring).

    ``progress`` is called with each app folder name when it is done (the CLI drives a progress
    bar with it). Every fully resolved task is replayed on the virtual device
    (:mod:`llamatouch.datasets.replay_check`); when ``annotations`` (task id → annotation;
    default: the shipped ``droidtask`` annotations, ``{}``: none) has the task, the replay must
    also score ``success``. Tasks that fail are flagged (``Task.flagged``) and reported.
    """
    if annotations is None:
        annotations = shipped_annotations()
    dataset = Path(path).resolve()
    out = Path(out_dir)
    if not dataset.is_dir():
        raise InputFormatError(dataset, "not a folder")
    folders = app_folders(dataset)
    if not folders:
        raise InputFormatError(dataset, "no app folders (expected <app>/states/state_*.json)")
    report = ImportReport("droidtask", str(dataset), str(out))
    tasks: list[Task] = []
    worlds: dict[str, Path] = {}
    for folder in folders:
        world, app_tasks, summary = import_app(folder, dataset, report.problems, annotations)
        if progress is not None:
            progress(folder.name)
        if world is None:
            continue
        worlds[folder.name] = world.save(out / "worlds" / world.name)
        tasks.extend(app_tasks)
        report.apps.append(summary)
        log.info(
            "%s: %d states, %d transitions, %d/%d tasks fully resolved",
            folder.name,
            summary.states,
            summary.transitions,
            summary.fully_resolved,
            summary.tasks,
        )
    suite = TaskSuite(suite=SUITE_NAME, world="", tasks=tasks)
    suite_path = out / f"{SUITE_NAME}.json"
    suite.save(suite_path)
    suite.source = str(suite_path)
    report.save(out / "import-report.json")
    return ImportResult(out, suite, suite_path, worlds, report)


def shipped_annotations() -> Mapping[str, Annotation]:
    """The shipped ``droidtask`` annotations (empty when the package has none)."""
    try:
        folder = annotations_dir() / SUITE_NAME
    except LlamaTouchError:
        return {}
    return load_annotations_dir(folder) if folder.is_dir() else {}


def import_app(
    app_dir: Path,
    dataset: Path,
    problems: list[ImportProblem],
    annotations: Mapping[str, Annotation] | None = None,
) -> tuple[World | None, list[Task], AppSummary]:
    """Import one app folder: its world (in memory) and its tasks, each checked by replaying
    it (and scoring the replay with its annotation, when ``annotations`` has one)."""
    app = app_dir.name
    index, n_files = load_states(app_dir / "states", dataset, problems, app)
    events = (
        load_events(app_dir / "events", dataset, problems, app)
        if (app_dir / "events").is_dir()
        else []
    )
    summary = AppSummary(app=app, package="", world=WORLD_PREFIX + app, state_files=n_files)
    if not index.states:
        problems.append(ImportProblem("no_states", rel(app_dir, dataset), "no readable state", app))
        return None, [], summary
    ctx = AppContext(app, dataset, index, events, problems)
    world = build_world(ctx, WORLD_PREFIX + app)
    summary.package = ctx.package
    summary.states = len(world.states)
    summary.state_variants = len(world.states) - summary.states
    summary.states = len(world.states)
    summary.transitions = len(world.transitions)
    app_tasks = []
    for number, path in task_files(app_dir):
        task = _import_task(ctx, world, number, path)
        if task is not None:
            app_tasks.append(task)
    resolved = [t for t in app_tasks if t.meta.get("fully_resolved")]
    flagged = make_replayable(world, resolved)
    with tempfile.TemporaryDirectory(prefix="llamatouch-replay-") as work:
        for task in resolved:
            ann = (annotations or {}).get(task.id)
            if task.flagged or ann is None:
                continue
            task.flagged = check_annotation(world, task, ann, work)
            if task.flagged:
                flagged.append(task)
    for task in flagged:
        problems.append(
            ImportProblem(
                "replay_diverges", str(task.meta.get("source", "")), task.flagged, app, task.id
            )
        )
    summary.state_variants = len(world.states) - summary.states
    summary.states = len(world.states)
    summary.transitions = len(world.transitions)
    summary.task_edges = sum(1 for t in world.transitions if t.event_type == TASK_EDGE)
    summary.flagged = len(flagged)
    summary.tasks = len(app_tasks)
    summary.fully_resolved = sum(1 for t in app_tasks if t.meta.get("fully_resolved"))
    return world, app_tasks, summary


# -- tasks ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Resolved:
    state: str | None
    action: dict[str, Any] | None
    how: str = ""
    #: the record's candidate screens up to the chosen one, when it was not the first (a
    #: scrolled page: scroll steps lead from the first to the chosen one)
    scrolled: list[str] = field(default_factory=list)


def _load_task_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFormatError(path, f"cannot read: {exc}") from exc
    try:
        return yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise InputFormatError(path, f"malformed YAML: {exc}") from exc


def _import_task(ctx: AppContext, world: World, number: int, path: Path) -> Task | None:
    source = rel(path, ctx.root)
    task_id = f"{ctx.app}-task{number}"

    def problem(kind: str, detail: str, record: int | None = None) -> None:
        ctx.problems.append(ImportProblem(kind, source, detail, ctx.app, task_id, record))

    try:
        data = _load_task_yaml(path)
    except InputFormatError as exc:
        problem("malformed_yaml", exc.message)
        return None
    if not isinstance(data, Mapping):
        problem("malformed_task", "top level is not a mapping")
        return None
    instruction = data.get("task_name")
    records = data.get("records")
    if not isinstance(instruction, str) or not instruction.strip():
        problem("malformed_task", "missing 'task_name'")
        return None
    if not isinstance(records, list) or not records:
        problem("malformed_task", "missing or empty 'records'")
        records = []
    quirks: list[str] = []
    step_num = data.get("step_num")
    if step_num != len(records):
        quirks.append(f"step_num {step_num!r} != {len(records)} records")
    resolved: list[_Resolved] = []
    for i, rec in enumerate(records):
        resolved.append(_resolve_record(ctx, world, rec, i, problem))
    if records and not (isinstance(records[-1], Mapping) and records[-1].get("Choice") == -1):
        quirks.append("last record is not Choice -1 (finished)")
        last_state = resolved[-1].state if resolved else None
        new_state = (
            ctx.index.resolve(records[-1].get("new_state_str"))
            if isinstance(records[-1], Mapping)
            else None
        )
        final = new_state or last_state
        if final is None:
            problem("state_unresolved", "no final state after the last record", len(records))
        resolved.append(_Resolved(final, Finish().to_json()))
    full = bool(resolved) and all(r.state is not None and r.action is not None for r in resolved)
    gt_states: list[str] = []
    gt_actions: list[dict[str, Any]] = []
    scrolls = 0
    if full:
        for r in resolved:
            if r.state is None or r.action is None:
                continue  # (never: ``full``)
            if r.scrolled:
                steps = scroll_steps(world, [*r.scrolled, r.state])
                for sid, act in steps or []:
                    gt_states.append(sid)
                    gt_actions.append(act)
                    scrolls += 1
            gt_states.append(r.state)
            gt_actions.append(r.action)
        add_task_edges(world, gt_states, gt_actions)
    meta: dict[str, Any] = {
        "dataset": "droidtask",
        "source": source,
        "records": len(records),
        "step_num": step_num,
        "fully_resolved": full,
        "unresolved_records": [
            i for i, r in enumerate(resolved) if r.state is None or r.action is None
        ],
        "resolved_by": [r.how for r in resolved],
        "scroll_steps": scrolls,
        "quirks": quirks,
    }
    return Task(
        id=task_id,
        app=ctx.package,
        instruction=instruction.strip(),
        start_state=gt_states[0] if gt_states else "",
        max_steps=max(15, 2 * len(records)),
        gt_actions=gt_actions,
        gt_states=gt_states,
        app_label=world.apps[0].label if world.apps else "",
        world=world.name,
        meta=meta,
    )


def _candidates(ctx: AppContext, value: Any) -> tuple[list[str], list[Any]]:
    """Resolved state ids for a record's ``state_str`` (a hash or a list of hashes)."""
    raw = value if isinstance(value, list) else [value]
    out: list[str] = []
    for h in raw:
        sid = ctx.index.resolve(h)
        if sid is not None and sid not in out:
            out.append(sid)
    return out, raw


def _resolve_record(
    ctx: AppContext,
    world: World,
    rec: Any,
    i: int,
    problem: Callable[[str, str, int | None], None],
) -> _Resolved:
    if not isinstance(rec, Mapping):
        problem("malformed_record", "record is not a mapping", i)
        return _Resolved(None, None)
    cands, raw = _candidates(ctx, rec.get("state_str"))
    if not cands:
        problem("state_unresolved", f"state_str {raw!r} matches no state file", i)
        return _Resolved(None, None)
    choice = rec.get("Choice")
    if isinstance(choice, bool) or not isinstance(choice, int):
        problem("malformed_record", f"Choice {choice!r} is not an integer", i)
        return _Resolved(cands[0], None)
    if choice == -1:
        return _Resolved(cands[0], Finish().to_json(), "finish")
    html = rec.get("State")
    elements = parse_recorded_html(html) if isinstance(html, str) else []
    element = next((e for e in elements if e.id == choice), None)
    if element is None:
        problem("element_unresolved", f"Choice {choice} is not an element id of State", i)
        return _Resolved(cands[0], None)
    raw_input = rec.get("Input")
    text = None if raw_input in (None, "null") else str(raw_input)
    if element.is_go_back:
        return _Resolved(cands[0], Key(key="back").to_json(), "go_back")
    new_state = ctx.index.resolve(rec.get("new_state_str"))
    reasons: list[str] = []
    offscreen: list[str] = []
    for k, sid in enumerate(cands):
        screen = world.screen(sid)
        node, how = _find_node(ctx, screen, sid, new_state, element, elements)
        if node is None:
            reasons.append(f"{sid[:12]}: {how}")
            continue
        if not _on_screen(screen, node):
            offscreen.append(f"{sid[:12]}: node {screen.key(node)} at {node.bounds}")
            continue
        return _Resolved(sid, _record_action(screen, node, element, text), how, cands[:k])
    if offscreen:
        problem(
            "element_offscreen",
            f"Choice {choice} ({element.tag} {'|'.join(element.texts)!r}) is not visible on "
            "the screen (the recorded HTML listed an off-screen view; a tap cannot reach it): "
            + "; ".join(offscreen),
            i,
        )
        return _Resolved(cands[0], None)
    problem(
        "element_unresolved",
        f"Choice {choice} ({element.tag} {'|'.join(element.texts)!r}) not found: "
        + "; ".join(reasons),
        i,
    )
    return _Resolved(cands[0], None)


def _find_node(
    ctx: AppContext,
    screen: UIScreen,
    sid: str,
    new_state: str | None,
    element: RecordedElement,
    elements: list[RecordedElement],
) -> tuple[UINode | None, str]:
    """The chosen element's node on ``screen``: a recorded event between the record's two
    states, else our HTML rendering at the chosen id (when it agrees with the record), else
    the element's texts (:func:`match_element`)."""
    if new_state is not None:
        for ev in ctx.by_start.get(sid, []):
            view = ev.event.get("view")
            if ctx.index.resolve(ev.data.get("stop_state")) == new_state and isinstance(
                view, Mapping
            ):
                node = find_event_node(screen, view)
                if node is not None:
                    return node, "event"
    node = _rendered_node(screen, element)
    if node is not None:
        return node, "rendering"
    node = match_element(screen, element, elements)
    if node is not None:
        return node, "texts"
    return None, "no rendered element agrees at that id and no node carries its texts"


def _rendered_node(screen: UIScreen, element: RecordedElement) -> UINode | None:
    """The node behind ``element.id`` in our HTML rendering, if that element agrees with the
    recorded one (same tag, same texts); ``None`` otherwise."""
    view = render_html(screen)
    try:
        ours = view.element(element.id)
    except KeyError:
        return None
    if ours.node is None or ours.tag != element.tag:
        return None
    texts = [norm_text(t) for t in ours.text.split(MERGE_SEPARATOR)]
    if ours.desc:
        texts.insert(0, norm_text(ours.desc))
    return ours.node if tuple(t for t in texts if t) == element.texts else None


def _on_screen(screen: UIScreen, node: UINode) -> bool:
    """Whether a tap at the node's centre reaches it: visible, sane bounds, centre on screen."""
    b = node.bounds
    cx, cy = b.center
    return (
        node.visible
        and b.left < b.right
        and b.top < b.bottom
        and 0 <= cx < screen.width
        and 0 <= cy < screen.height
    )


def _record_action(
    screen: UIScreen, node: UINode, element: RecordedElement, text: str | None
) -> dict[str, Any]:
    cx, cy = node.bounds.center
    key = screen.key(node)
    if text is not None:
        return Type(text=text, element=key, x=cx, y=cy).to_json()
    return Tap(x=cx, y=cy, element=key).to_json()
