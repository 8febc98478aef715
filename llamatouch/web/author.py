"""Authoring tasks on a recorded world in the browser (``llamatouch annotate WORLD --suite``).

The user starts an app of the world, clicks through its recorded screens (only recorded
transitions are offered: nothing can be demonstrated that a replay could not do), types the
instruction and saves. Saving writes the task (start state, ground-truth actions and states)
into a suite file, writes its ground-truth trace, proposes essential states from it with the
same proposer as ``llamatouch annotate``, validates them with the evaluator (the
ground-truth trace must succeed, its first screen alone must not) and saves the annotation
where ``eval`` looks for it (``<annotations>/<suite>/<task>.json``). The annotation can then
be refined in ``llamatouch annotate TRACE``.

Security: the same model as the annotation app (:mod:`llamatouch.web.app`): a token on every
request (cookie after the first visit), the header on every ``POST``, loopback by default,
files read only from the world folder and written only to the suite file, the trace folder
and the annotation store (names checked, joined with ``safe_join``).
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, jsonify, redirect, render_template, request

from llamatouch.actions import Finish
from llamatouch.annotating.propose import propose_annotation
from llamatouch.datasets.gt_trace import write_gt_trace
from llamatouch.errors import LlamaTouchError, SchemaError
from llamatouch.essential import schema
from llamatouch.fsutil import safe_join
from llamatouch.record.candidates import touch_labels
from llamatouch.tasks import Task, TaskSuite, load_suite
from llamatouch.trace.format import read_trace
from llamatouch.ui.node import UIScreen
from llamatouch.ui.render import render_screenshot
from llamatouch.web.backend import evaluate, first_screen_trace
from llamatouch.web.guard import require_token
from llamatouch.world import World, WorldTransition, load_world

log = logging.getLogger(__name__)

_HERE = Path(__file__).resolve().parent
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$")
MAX_INSTRUCTION = 2000


@dataclass(frozen=True, slots=True)
class AuthorConfig:
    """What an authoring session works on.

    Attributes:
        world_dir: the world folder (a recording, an import, the demo); only read.
        suite_path: the suite file new tasks are added to (created when missing; a task with
            the same id is replaced).
        annotations_dir: the annotation store root; annotations go to
            ``<annotations_dir>/<suite name>/<task id>.json``.
        traces_dir: where the ground-truth trace of each saved task is written
            (``<traces_dir>/<task id>/``).
        suite_name: the suite's name when the file is new (``""``: the file's stem).
    """

    world_dir: Path
    suite_path: Path
    annotations_dir: Path
    traces_dir: Path
    suite_name: str = ""


def _label(t: WorldTransition, screen: UIScreen | None = None) -> str:
    """What a transition does, in words ("tap 'Add to cart'", "scroll down", "back"); the
    view is named by its text, else the labels inside it on ``screen``, else its id/class."""
    a = t.action
    kind = str(a.get("action", ""))
    el = t.element or {}
    name = str(el.get("text") or el.get("content_desc") or "")
    node = screen.node_by_key(t.element_key) if screen is not None and t.element_key else None
    if not name and node is not None and screen is not None:
        name = " / ".join(touch_labels(screen, node)[:2])
    if not name:
        rid = str(el.get("resource_id") or "")
        name = rid.rsplit("/", 1)[-1] if rid else str(el.get("class_name") or "").rsplit(".")[-1]
    if kind == "key":
        return str(a.get("key", "key"))
    if kind == "scroll":
        return f"scroll {a.get('direction', '')}" + (f" '{name}'" if name else "")
    if kind == "type":
        return f"type '{a.get('text', '')}'" + (f" into '{name}'" if name else "")
    if kind == "open_app":
        return f"open {a.get('package', '')}"
    verb = "long-press" if kind == "long_press" else "tap"
    return f"{verb} '{name}'" if name else f"{verb} ({a.get('x')}, {a.get('y')})"


@dataclass
class AuthorSession:
    """The world, the path clicked so far, and the save operation."""

    config: AuthorConfig
    world: World = field(init=False)
    states: list[str] = field(default_factory=list, init=False)
    taken: list[WorldTransition] = field(default_factory=list, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _pngs: dict[str, bytes] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.world = load_world(self.config.world_dir)
        if not self.world.apps:
            raise SchemaError(self.config.world_dir / "world.json", "apps", "the world has no app")
        self.restart(self.world.apps[0].package)

    # -- navigation ---------------------------------------------------------------------------
    def restart(self, package: str) -> dict[str, Any]:
        """Start again at ``package``'s start state."""
        app = self.world.app(package)
        if app is None:
            raise SchemaError("request", "package", f"the world has no app {package!r}")
        with self._lock:
            self.states = [app.start_state]
            self.taken = []
        return self.view()

    def offered(self) -> list[WorldTransition]:
        """The recorded transitions leaving the current state (one per action and target)."""
        seen: set[tuple[str, str]] = set()
        out = []
        for t in self.world.outgoing(self.states[-1]):
            ident = (t.target, repr(sorted(t.action.items())))
            if ident not in seen and t.target != t.source:
                seen.add(ident)
                out.append(t)
        return out

    def follow(self, index: int) -> dict[str, Any]:
        """Take the ``index``-th offered transition."""
        offered = self.offered()
        if not 0 <= index < len(offered):
            raise SchemaError("request", "index", f"no transition {index} on this screen")
        with self._lock:
            self.taken.append(offered[index])
            self.states.append(offered[index].target)
        return self.view()

    def undo(self) -> dict[str, Any]:
        """Take back the last step."""
        with self._lock:
            if self.taken:
                self.taken.pop()
                self.states.pop()
        return self.view()

    def view(self) -> dict[str, Any]:
        sid = self.states[-1]
        meta = self.world.states[sid]
        screen = self.world.screen(sid)
        offered = []
        for i, t in enumerate(self.offered()):
            box = None
            bounds = (t.element or {}).get("bounds")
            if isinstance(bounds, list) and len(bounds) == 4 and meta.width and meta.height:
                left, top, right, bottom = (float(v) for v in bounds)
                box = [left / meta.width, top / meta.height, right / meta.width,
                       bottom / meta.height]
            offered.append({"index": i, "label": _label(t, screen),
                            "kind": t.action.get("action"),
                            "box": box})
        return {
            "world": self.world.name,
            "apps": [{"package": a.package, "label": a.label} for a in self.world.apps],
            "state": sid,
            "activity": meta.activity,
            "image": f"/author/state/{sid}.png",
            "offered": offered,
            "path": [_label(t, self.world.screen(t.source)) for t in self.taken],
        }

    def image(self, sid: str) -> bytes:
        if sid not in self.world.states:
            raise KeyError(sid)
        png = self.world.screenshot(sid)
        if png is None:
            png = self._pngs.get(sid)
            if png is None:
                png = render_screenshot(self.world.screen(sid))
                self._pngs[sid] = png
        return png

    # -- saving -------------------------------------------------------------------------------
    def _suite(self) -> TaskSuite:
        path = self.config.suite_path
        if path.is_file():
            return load_suite(path, include_flagged=True)
        return TaskSuite(suite=self.config.suite_name or self.config.suite_path.stem, world="",
                         tasks=[])

    def _world_ref(self) -> str:
        """How the task names its world: relative to the suite file's folder when inside it."""
        world = self.config.world_dir.resolve()
        base = self.config.suite_path.resolve().parent
        try:
            return str(world.relative_to(base))
        except ValueError:
            return str(world)

    def save(self, task_id: str, instruction: str) -> dict[str, Any]:
        """Save the clicked path as a task with proposed, validated essential states."""
        if not isinstance(task_id, str) or not _ID_RE.match(task_id):
            raise SchemaError("request", "task_id", "letters, digits, '.', '_', '-' (at most "
                              "101), starting with a letter or digit")
        if not isinstance(instruction, str) or not instruction.strip():
            raise SchemaError("request", "instruction", "type the task's instruction")
        if len(instruction) > MAX_INSTRUCTION:
            raise SchemaError("request", "instruction", f"longer than {MAX_INSTRUCTION}")
        with self._lock:
            states, taken = list(self.states), list(self.taken)
            if not taken:
                raise SchemaError("request", "path", "click through at least one screen first")
            start = self.world.states[states[0]]
            app = next((a for a in self.world.apps if a.package == start.package),
                       self.world.apps[0])
            task = Task(
                id=task_id,
                app=app.package,
                instruction=instruction.strip(),
                start_state=states[0],
                max_steps=max(15, 2 * (len(taken) + 1)),
                gt_actions=[t.action for t in taken] + [Finish().to_json()],
                gt_states=states,
                app_label=app.label,
                world=self._world_ref(),
                meta={"authored_on": self.world.name, "source": "llamatouch annotate (world)"},
            )
            suite = self._suite()
            suite.tasks = [t for t in suite.tasks if t.id != task_id] + [task]
            self.config.suite_path.parent.mkdir(parents=True, exist_ok=True)
            suite.save(self.config.suite_path)
            trace_dir = safe_join(self.config.traces_dir, task_id)
            if trace_dir.exists():
                shutil.rmtree(trace_dir)
            write_gt_trace(self.world, task, trace_dir, suite=suite.suite)
            trace = read_trace(trace_dir)
            ann = propose_annotation(trace, task)
            gt = evaluate(trace, ann)
            first = evaluate(first_screen_trace(trace), ann)
            ann_path = safe_join(self.config.annotations_dir, suite.suite, f"{task_id}.json")
            ann_path.parent.mkdir(parents=True, exist_ok=True)
            schema.save_annotation(ann, ann_path)
        log.info("saved task %s to %s (annotation %s)", task_id, self.config.suite_path, ann_path)
        return {
            "task": {"id": task.id, "app": task.app, "instruction": task.instruction,
                     "start_state": task.start_state, "steps": len(task.gt_actions)},
            "suite": str(self.config.suite_path),
            "trace": str(trace_dir),
            "annotation": str(ann_path),
            "checkpoints": len(ann.checkpoints),
            "validation": {"gt": gt.get("status"), "first": first.get("status"),
                           "ok": gt.get("status") == "success"
                           and first.get("status") == "fail"},
        }


def create_author_app(session: AuthorSession, token: str) -> Flask:
    """The authoring app; ``token`` guards every request (as in :mod:`llamatouch.web.app`)."""
    app = Flask("llamatouch.web.author", template_folder=str(_HERE / "templates"),
                static_folder=str(_HERE / "static"), static_url_path="/static")
    app.config.update(MAX_CONTENT_LENGTH=64 * 1024, JSON_SORT_KEYS=False)
    require_token(app, token)

    def _body() -> dict[str, Any]:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            abort(400)
        return body

    def _call(fn: Any, *args: Any) -> Any:
        try:
            return jsonify(fn(*args))
        except LlamaTouchError as exc:
            return jsonify(error=str(exc)), 422

    @app.get("/")
    def index() -> Any:
        return redirect("/author")

    @app.get("/author")
    def page() -> str:
        return render_template("author.html", token=token, world=session.world.name,
                               suite=str(session.config.suite_path))

    @app.get("/author/api/state")
    def api_state() -> Any:
        return jsonify(session.view())

    @app.post("/author/api/follow")
    def api_follow() -> Any:
        index = _body().get("index")
        if isinstance(index, bool) or not isinstance(index, int):
            return jsonify(error="index must be an integer"), 400
        return _call(session.follow, index)

    @app.post("/author/api/undo")
    def api_undo() -> Any:
        return _call(session.undo)

    @app.post("/author/api/restart")
    def api_restart() -> Any:
        return _call(session.restart, str(_body().get("package", "")))

    @app.post("/author/api/save")
    def api_save() -> Any:
        body = _body()
        return _call(session.save, body.get("task_id"), body.get("instruction"))

    @app.get("/author/state/<sid>.png")
    def state_image(sid: str) -> Any:
        try:
            return Response(session.image(sid), mimetype="image/png")
        except KeyError:
            abort(404)

    return app
