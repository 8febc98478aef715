"""AutoDroid's exploration memory: what each UI element of an app leads to.

Built offline from an app's UI transition graph (a world recorded or explored on a device):
for every tap edge, the LLM writes a "simulated task" (what a user achieves by tapping that
element), the text is embedded with MiniLM, and the shortest tap path from the app's start to
the element is kept. At run time, the task is embedded and compared with every simulated task:

- entries above ``hint_threshold`` whose element is on the current screen become hints in the
  prompt ("element 4 ('Settings') leads to: change the app's theme");
- the best entry above ``path_threshold`` gives a *confident path* that the agent follows
  without asking the LLM, re-checking at each step that the screen and the element match
  (query optimisation; saved calls are counted).

One file per app, ``<memory_dir>/<package>.json``, versioned (:data:`MEMORY_SCHEMA`), written
atomically, and tied to the world it was built from by a fingerprint (rebuilt when it changes).
Embeddings are stored as base64 float32.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from llamatouch.errors import JsonFormatError, SchemaError
from llamatouch.fsutil import atomic_write_json, load_json_file, safe_join
from llamatouch.llm.base import ChatMessage, LLMBackend
from llamatouch.ui.node import UIScreen
from llamatouch.world import World, WorldTransition
from llamatouch_agents.autodroid.screen import Choice, ScreenView, build_view, screen_signature

log = logging.getLogger(__name__)

MEMORY_SCHEMA = "llamatouch.autodroid-memory/2"

#: Labels of elements that leave a screen without doing anything there (navigate up, back,
#: cancel, close...): exploring them teaches nothing a task needs, and a memorised path that
#: takes them leaves the task's screen (the demo run that tapped 'add alarm' then 'navigate
#: up' from memory). They get no memory entry.
NAVIGATE_AWAY = re.compile(
    r"^(navigate up|up|go back|back|cancel|close|dismiss|exit|collapse|discard)$"
)
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class PathStep:
    """One tap of a memorised path: on a screen with signature ``sig``, tap ``label``."""

    sig: str
    label: str
    state: str = ""


@dataclass(slots=True)
class MemoryEntry:
    """One element of the app and what tapping it does.

    Attributes:
        source_state, target_state: world state ids (``""`` when unknown).
        source_sig, target_sig: screen signatures (see ``screen.screen_signature``).
        label: the element's normalised label (as ``Choice.label``).
        element_html: the element as shown in the prompt when it was explored.
        simulated_task: what a user achieves by tapping it (LLM-written, or a template).
        path: taps from the app's start screen up to and including this element.
        path_ok: the path can be followed without the LLM (query optimisation): it never
            comes back to a screen it has already passed (an element that returns to an
            earlier screen, such as a Save that closes a form, still gives a hint, but its
            path would only replay taps that undo each other).
    """

    source_state: str
    target_state: str
    source_sig: str
    target_sig: str
    label: str
    element_html: str
    simulated_task: str
    path: list[PathStep] = field(default_factory=list)
    path_ok: bool = True


@dataclass(slots=True)
class MemoryHit:
    entry: MemoryEntry
    score: float


@dataclass(slots=True)
class AppMemory:
    """The memory of one app.

    Attributes:
        app: the package.
        fingerprint: fingerprint of the world it was built from.
        describer: ``llm:<model>`` or ``template``.
        entries: one per explored tap edge.
        embeddings: ``(len(entries), dim)`` normalised vectors of the simulated tasks.
        llm_calls: LLM calls spent building it.
    """

    app: str
    fingerprint: str
    describer: str
    entries: list[MemoryEntry]
    embeddings: FloatArray
    llm_calls: int = 0

    # -- persistence -------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        emb = np.ascontiguousarray(self.embeddings, dtype="<f4")
        return {
            "schema": MEMORY_SCHEMA,
            "app": self.app,
            "fingerprint": self.fingerprint,
            "describer": self.describer,
            "llm_calls": self.llm_calls,
            "dim": int(emb.shape[1]) if emb.ndim == 2 else 0,
            "entries": [asdict(e) for e in self.entries],
            "embeddings_f32_b64": base64.b64encode(emb.tobytes()).decode("ascii"),
        }

    def save(self, path: str | Path) -> None:
        atomic_write_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> AppMemory:
        p = Path(path)
        data = load_json_file(p)
        if not isinstance(data, dict):
            raise JsonFormatError(p, "top level is not an object")
        if data.get("schema") != MEMORY_SCHEMA:
            got = data.get("schema")
            raise SchemaError(p, "schema", f"expected {MEMORY_SCHEMA!r}, got {got!r}")
        try:
            entries = []
            for raw in data["entries"]:
                steps = [PathStep(**s) for s in raw.pop("path", [])]
                entries.append(MemoryEntry(**raw, path=steps))
            dim = int(data["dim"])
            buf = base64.b64decode(data["embeddings_f32_b64"])
            emb = np.frombuffer(buf, dtype="<f4").astype(np.float32)
            emb = emb.reshape(len(entries), dim) if entries else np.zeros((0, dim), np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise SchemaError(p, "entries/embeddings", str(exc)) from exc
        return cls(
            app=str(data.get("app", "")),
            fingerprint=str(data.get("fingerprint", "")),
            describer=str(data.get("describer", "")),
            entries=entries,
            embeddings=emb,
            llm_calls=int(data.get("llm_calls", 0)),
        )

    # -- retrieval ---------------------------------------------------------------------------
    def scores(self, query_vec: FloatArray) -> FloatArray:
        if not self.entries:
            return np.zeros(0, np.float32)
        return np.asarray(self.embeddings @ query_vec.reshape(-1), dtype=np.float32)

    def retrieve(self, query_vec: FloatArray, threshold: float, top_k: int = 10) -> list[MemoryHit]:
        """Entries whose simulated task is at least ``threshold`` similar, best first."""
        s = self.scores(query_vec)
        order = np.argsort(-s)[:top_k]
        return [MemoryHit(self.entries[i], float(s[i])) for i in order if s[i] >= threshold]


def confident_path(hits: list[MemoryHit], threshold: float) -> list[PathStep]:
    """The path to follow without the LLM: that of the best hit whose path can be followed
    (``path_ok``), when it scores at least ``threshold`` (else none)."""
    best = next((h for h in hits if h.entry.path_ok), None)
    if best is None or best.score < threshold:
        return []
    return list(best.entry.path)


def memory_path(memory_dir: str | Path, app: str) -> Path:
    """``<memory_dir>/<app>.json`` (the app name cannot escape the folder)."""
    return safe_join(memory_dir, f"{app}.json")


def world_fingerprint(world: World, app: str) -> str:
    """A hash of the app's part of the world (states and transitions)."""
    h = hashlib.sha256()
    h.update(app.encode())
    for sid in sorted(s.id for s in world.states.values() if s.package == app):
        h.update(sid.encode())
    for t in world.transitions:
        h.update(f"{t.source}>{t.target}:{json.dumps(t.action, sort_keys=True)}".encode())
    return h.hexdigest()[:20]


# -- building from a transition graph ------------------------------------------------------
Describer = Callable[[str, ScreenView, Choice, ScreenView], str]


def template_describer(app_label: str, src: ScreenView, choice: Choice, dst: ScreenView) -> str:
    """A deterministic description: the element and what the next screen shows."""
    shown = [c.text.replace("<br>", " ") for c in dst.choices if c.text and c.kind != "back"][:6]
    what = ", ".join(shown) if shown else "an empty screen"
    return f"tap '{choice.label}' to open a screen showing {what}"


def llm_describer(llm: LLMBackend, usage_sink: Callable[[Any], None]) -> Describer:
    """A describer that asks the LLM for a one-sentence simulated task."""

    def describe(app_label: str, src: ScreenView, choice: Choice, dst: ScreenView) -> str:
        src_text = "\n".join(c.html for c in src.choices[:25])
        dst_text = "\n".join(c.html for c in dst.choices[:25])
        messages = [
            ChatMessage(
                "system",
                "You explain what an element of a phone app is for, as a short task a user "
                "could complete by tapping it. Answer with one short sentence.",
            ),
            ChatMessage(
                "user",
                f"App: {app_label}\nScreen:\n{src_text}\n\nThe user taps: {choice.html}\n"
                f"The next screen shows:\n{dst_text}\n\nTask the user completes:",
            ),
        ]
        result = llm.complete(messages, max_tokens=24, temperature=0.0)
        usage_sink(result.usage)
        text = " ".join(result.text.split())[:160]
        # keep the element's own label in: it anchors retrieval even when the model rambles
        return f"{text} (tap '{choice.label}')" if text else template_describer(
            app_label, src, choice, dst
        )

    return describe


def choice_for_transition(screen: UIScreen, view: ScreenView, t: WorldTransition) -> Choice | None:
    """The choice of ``view`` that transition ``t`` acted on (tap edges only)."""
    kind = t.action.get("action")
    if kind == "key" and t.action.get("key") == "back":
        return next((c for c in view.choices if c.kind == "back"), None)
    if kind not in ("tap", "long_press"):
        return None
    x, y = t.action.get("x"), t.action.get("y")
    node = None
    if t.element_key:
        node = screen.node_by_key(t.element_key)
    if node is None and isinstance(x, int) and isinstance(y, int):
        node = screen.hit_test(x, y)
    if node is None:
        return None
    chain = {node.index} | {a.index for a in screen.ancestors(node)}
    best = None
    for c in view.choices:
        if c.node is None or c.node.index not in chain or c.kind not in ("click", "check", "type"):
            continue
        if best is None or (best.node is not None and c.node.index > best.node.index):
            best = c
    return best


def build_from_world(
    world: World,
    app: str,
    describer: Describer,
    encode: Callable[[list[str]], FloatArray],
    *,
    describer_name: str = "template",
    max_entries: int = 400,
    llm_calls: Callable[[], int] | None = None,
) -> AppMemory:
    """Explore ``app``'s part of ``world`` breadth-first from its start state."""
    wapp = world.app(app)
    if wapp is None:
        raise SchemaError(world.root or world.name, "apps", f"world has no app {app!r}")
    views: dict[str, tuple[UIScreen, ScreenView]] = {}

    def view_of(sid: str) -> tuple[UIScreen, ScreenView]:
        if sid not in views:
            scr = world.screen(sid)
            views[sid] = (scr, build_view(scr))
        return views[sid]

    outgoing: dict[str, list[WorldTransition]] = {}
    for t in world.transitions:
        outgoing.setdefault(t.source, []).append(t)
    paths: dict[str, list[PathStep]] = {wapp.start_state: []}
    queue = deque([wapp.start_state])
    entries: list[MemoryEntry] = []
    seen_edges: set[tuple[str, str]] = set()
    while queue and len(entries) < max_entries:
        sid = queue.popleft()
        if world.states[sid].package != app:
            continue
        scr, view = view_of(sid)
        for t in outgoing.get(sid, []):
            if t.target == sid or len(entries) >= max_entries:
                continue
            choice = choice_for_transition(scr, view, t)
            if choice is None or choice.kind == "back" or NAVIGATE_AWAY.match(choice.label):
                continue
            if (sid, choice.label) in seen_edges:
                continue
            seen_edges.add((sid, choice.label))
            _, tview = view_of(t.target)
            step = PathStep(view.signature, choice.label, sid)
            path = [*paths[sid], step]
            passed = {wapp.start_state} | {p.state for p in path}
            entries.append(
                MemoryEntry(
                    source_state=sid,
                    target_state=t.target,
                    source_sig=view.signature,
                    target_sig=tview.signature,
                    label=choice.label,
                    element_html=choice.html,
                    simulated_task=describer(wapp.label or app, view, choice, tview),
                    path=path,
                    path_ok=t.target not in passed,
                )
            )
            if t.target not in paths and world.states[t.target].package == app:
                paths[t.target] = path
                queue.append(t.target)
    texts = [e.simulated_task for e in entries]
    emb = encode(texts) if texts else np.zeros((0, 384), np.float32)
    return AppMemory(
        app=app,
        fingerprint=world_fingerprint(world, app),
        describer=describer_name,
        entries=entries,
        embeddings=np.asarray(emb, dtype=np.float32),
        llm_calls=llm_calls() if llm_calls else 0,
    )


def load_or_build(
    memory_dir: str | Path,
    world: World,
    app: str,
    make_describer: Callable[[], tuple[Describer, str, Callable[[], int]]],
    encode: Callable[[list[str]], FloatArray],
) -> AppMemory:
    """The app's memory from ``memory_dir`` when it matches ``world``, else built and saved."""
    path = memory_path(memory_dir, app)
    fp = world_fingerprint(world, app)
    if path.is_file():
        try:
            mem = AppMemory.load(path)
            if mem.fingerprint == fp:
                return mem
            log.info("memory %s is for another version of the world: rebuilding", path)
        except (JsonFormatError, SchemaError) as exc:
            log.warning("memory %s unreadable (%s): rebuilding", path, exc)
    describer, name, calls = make_describer()
    mem = build_from_world(world, app, describer, encode, describer_name=name, llm_calls=calls)
    mem.save(path)
    return mem


__all__ = [
    "MEMORY_SCHEMA",
    "AppMemory",
    "MemoryEntry",
    "MemoryHit",
    "PathStep",
    "build_from_world",
    "confident_path",
    "llm_describer",
    "load_or_build",
    "memory_path",
    "screen_signature",
    "template_describer",
]
