"""One annotation session: a ground-truth trace, the annotation store it saves to, and the
operations the pages call (view the trace, propose, validate, save, reload)."""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llamatouch.errors import LlamaTouchError, PathEscapeError, SchemaError
from llamatouch.fsutil import safe_join
from llamatouch.tasks import Task
from llamatouch.trace.format import Trace, read_trace
from llamatouch.trace.views import step_png, step_screen, step_view
from llamatouch.web import backend

log = logging.getLogger(__name__)

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,150}\.json$")
_DIR_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$")


@dataclass(slots=True)
class SessionConfig:
    """What an annotation session works on.

    Attributes:
        trace_dir: the ground-truth episode folder (trace format v1); the only folder whose
            files the app reads.
        annotations_dir: the annotation store root; the only folder the app writes to.
        task_id: the task being annotated (default: the trace manifest's ``task.id``, else
            the episode id).
    """

    trace_dir: Path
    annotations_dir: Path
    task_id: str = ""


@dataclass
class AnnotationSession:
    """Holds the trace in memory and serves the app's API (thread-safe for saves)."""

    config: SessionConfig
    trace: Trace = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _pngs: dict[int, bytes | None] = field(default_factory=dict, init=False)
    _views: list[dict[str, Any]] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.trace = read_trace(self.config.trace_dir)
        if not self.trace.steps:
            raise SchemaError(self.config.trace_dir / "manifest.json", "num_steps",
                              "the trace has no step to annotate")
        if not self.config.task_id:
            self.config.task_id = self.trace.manifest.task.id or self.trace.manifest.episode_id

    # -- files ------------------------------------------------------------------------------
    @property
    def task(self) -> dict[str, Any]:
        return self.trace.manifest.task.to_json()

    def default_name(self) -> str:
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", self.config.task_id).lstrip("._-") or "task"
        return f"{safe[:140]}.json"

    def annotation_path(self, name: str | None = None) -> Path:
        """Where an annotation file lives: a plain ``*.json`` name inside the store root,
        optionally under sub-folders (``droidtask/notes-task1.json``); anything that leaves
        the root raises :class:`PathEscapeError`."""
        rel = name or self.default_name()
        parts = rel.split("/")
        if rel.startswith("/") or "\\" in rel or any(p in ("", ".", "..") for p in parts):
            raise PathEscapeError(f"annotation name {rel!r} is not a plain relative path")
        if not _NAME_RE.match(parts[-1]):
            raise PathEscapeError(f"annotation name {rel!r} must be a *.json file name")
        if not all(_DIR_RE.match(p) for p in parts[:-1]):
            raise PathEscapeError(f"annotation name {rel!r}: folder names are letters, digits, "
                                  "'.', '_' and '-'")
        root = self.config.annotations_dir
        root.mkdir(parents=True, exist_ok=True)
        return safe_join(root, *parts)

    def trace_file(self, rel: str) -> Path:
        """A file inside the trace folder (screenshots, hierarchies); never outside it."""
        path = safe_join(self.config.trace_dir, *rel.split("/"))
        if not path.is_file():
            raise FileNotFoundError(rel)
        return path

    # -- views ------------------------------------------------------------------------------
    def views(self) -> list[dict[str, Any]]:
        if self._views is None:
            views = [step_view(s) for s in self.trace.steps]
            for v in views:  # a screenshot, else the rendering of the hierarchy
                v["image"] = bool(v["has_screenshot"]) or bool(v["components"])
            self._views = views
        return self._views

    def step_image(self, index: int) -> bytes | None:
        if index not in self._pngs:
            step = self.trace.steps[index]
            self._pngs[index] = step_png(step, step_screen(step))
        return self._pngs[index]

    def overview(self) -> dict[str, Any]:
        m = self.trace.manifest
        return {
            "episode_id": m.episode_id,
            "task_id": self.config.task_id,
            "task": self.task,
            "status": m.status,
            "annotation_name": self.default_name(),
            "steps": self.views(),
        }

    # -- annotations --------------------------------------------------------------------------
    def load_or_propose(self, name: str | None = None) -> dict[str, Any]:
        """The saved annotation when the store has one, else the automatic proposal."""
        path = self.annotation_path(name)
        if path.is_file():
            ann = backend.load_annotation(path)
            return {"source": "saved", "path": str(path),
                    "annotation": backend.annotation_to_json(ann)}
        ann = backend.propose(self.trace, self._task_obj())
        return {"source": "proposed", "path": str(path),
                "annotation": backend.annotation_to_json(ann)}

    def propose(self) -> dict[str, Any]:
        ann = backend.propose(self.trace, self._task_obj())
        return {"source": "proposed", "annotation": backend.annotation_to_json(ann)}

    def _task_obj(self) -> Task | None:
        t = self.task
        if not t.get("app") or not t.get("instruction"):
            return None
        return Task(id=self.config.task_id, app=str(t["app"]), instruction=str(t["instruction"]))

    def make_primitive(
        self, kind: str, step_index: int, component: Any, params: dict[str, Any]
    ) -> dict[str, Any]:
        """A primitive of type ``kind`` built from step ``step_index`` (and the component with
        pre-order index ``component`` for the component types)."""
        if not 0 <= step_index < len(self.trace.steps):
            raise IndexError(f"no step {step_index}")
        step = self.trace.steps[step_index]
        screen = step_screen(step)
        node = None
        if component is not None:
            if screen is None or not isinstance(component, int) or not (
                0 <= component < len(screen.nodes)
            ):
                raise IndexError(f"step {step_index} has no component {component!r}")
            node = screen.nodes[component]
        png = self.step_image(step_index) if kind == "image" else None
        prim = backend.make_primitive(kind, step, screen, node, str(self.task.get("app", "")), png)
        for k, v in params.items():
            if k in prim and k != "type" and isinstance(v, (int, float, str, bool)):
                prim[k] = v
        return prim

    def validate(self, obj: Any) -> dict[str, Any]:
        """Schema check, then the evaluator on the ground-truth trace (must be ``success``) and
        on the first screen alone (must not be ``success``)."""
        try:
            ann = backend.annotation_from_json(obj, "<page>")
        except LlamaTouchError as exc:
            return {"ok": False, "schema_error": str(exc), "gt": None, "first": None}
        checks: dict[str, Any] = {}
        for label, trace in (("gt", self.trace), ("first", backend.first_screen_trace(self.trace))):
            try:
                checks[label] = backend.evaluate(trace, ann)
            except LlamaTouchError as exc:
                checks[label] = {"status": "error", "reason": str(exc)}
        gt_ok = checks["gt"].get("status") == "success"
        first_ok = checks["first"].get("status") == "fail"
        return {"ok": gt_ok and first_ok, "schema_error": None, "gt_ok": gt_ok,
                "first_ok": first_ok, **checks}

    def save(self, obj: Any, name: str | None = None) -> dict[str, Any]:
        """Validate against the schema and write atomically; returns what was read back."""
        path = self.annotation_path(name)
        ann = backend.annotation_from_json(obj, path)
        with self._lock:
            backend.save_annotation(ann, path)
            again = backend.load_annotation(path)
        log.info("saved annotation %s", path)
        return {"source": "saved", "path": str(path),
                "annotation": backend.annotation_to_json(again)}
