"""Essential-state annotations: the versioned, self-contained JSON schema.

One file per task (``annotations/<suite>/<task_id>.json``)::

    {
      "schema": "llamatouch.essential/1",
      "task_id": "notes-task1",
      "instruction": "Create a text note named 'NewTextNote'",
      "app": "com.simplemobiletools.notes.pro",
      "checkpoints": [
        {"primitives": [{"type": "type", "text": "NewTextNote"}], "note": "..."},
        {"final": true, "primitives": [
            {"type": "activity", "activity": "com.simplemobiletools.notes.pro/.MainActivity"},
            {"type": "exact", "component": {"class_name": "android.widget.TextView",
                                            "text": "NewTextNote", "bounds": [0.1, 0.2, 0.5, 0.25]}}
        ]}
      ],
      "provenance": {"method": "proposed+reviewed", ...}
    }

Checkpoints are ordered; every primitive of a checkpoint must hold on the *same* screen of the
agent's trace, and the screens that satisfy successive checkpoints come in trace order. A
component is described by its own attributes and locator alternatives (never by an index into a
side file), so an annotation can be checked against any trace. Field by field documentation,
normalisation policies and comparison directions: ``docs/annotations.md``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from llamatouch.actions import action_from_json
from llamatouch.errors import ActionError, JsonFormatError, LlamaTouchError, SchemaError
from llamatouch.fsutil import atomic_write_json, load_json_file

#: The base schema version: what files that use no 1.1 field are written as.
ANNOTATION_SCHEMA = "llamatouch.essential/1"
#: Version 1.1 adds the per-checkpoint ``persist`` and ``shared_screen`` fields; a file that
#: uses either is written as 1.1, every other file stays 1 (readable by older readers).
ANNOTATION_SCHEMA_1_1 = "llamatouch.essential/1.1"
#: Every version :func:`annotation_from_json` reads.
SUPPORTED_SCHEMAS: tuple[str, ...] = (ANNOTATION_SCHEMA, ANNOTATION_SCHEMA_1_1)
#: Checkpoint fields that exist only from version 1.1 on.
CHECKPOINT_FIELDS_1_1: tuple[str, ...] = ("persist", "shared_screen")

#: Scopes of the text-similarity primitives.
SCOPES = ("component", "screen")
#: rapidfuzz scorers a fuzzy primitive may name.
FUZZY_SCORERS = ("ratio", "partial_ratio", "token_sort_ratio", "token_set_ratio")
HASH_ALGOS = ("dhash", "phash")
TYPE_MATCH_MODES = ("equals", "contains")
ACTIVITY_MATCH_MODES = ("exact", "package")

#: Default thresholds (documented in docs/annotations.md).
DEFAULT_FUZZY_COMPONENT = 0.85
DEFAULT_FUZZY_SCREEN = 0.80
DEFAULT_SEMANTIC = 0.80
DEFAULT_IMAGE_DISTANCE = 10
DEFAULT_CLICK_JITTER = 0.02


@dataclass(frozen=True, slots=True)
class Locator:
    """One alternative way to find a component: every given attribute must match.

    Attributes:
        resource_id, text, content_desc, class_name: ``None`` = not constrained; ``""`` = must
            be empty. Text and content-desc are compared after :func:`normalise_text`.
    """

    resource_id: str | None = None
    text: str | None = None
    content_desc: str | None = None
    class_name: str | None = None

    def is_empty(self) -> bool:
        return all(
            v is None for v in (self.resource_id, self.text, self.content_desc, self.class_name)
        )


@dataclass(slots=True)
class Component:
    """A UI component described by its own attributes.

    A node of a screen *is* the component when it matches the component's own attributes
    (resource_id, text, content_desc, class_name; ``None`` = not constrained) or any of
    ``alternatives``, and, when given, its ``checked`` / ``selected`` state.

    Attributes:
        resource_id, text, content_desc, class_name: the attributes (see :class:`Locator`).
        checked, selected: required state, ``None`` = either.
        bounds: where the component was on the annotated screen, relative to the screen
            (``[left, top, right, bottom]`` in ``[0, 1]``); used by position tolerances, by image
            crops and to tell apart identical components.
        alternatives: other locators that also identify it (e.g. the same text under another
            resource-id in another app version).
    """

    resource_id: str | None = None
    text: str | None = None
    content_desc: str | None = None
    class_name: str | None = None
    checked: bool | None = None
    selected: bool | None = None
    bounds: tuple[float, float, float, float] | None = None
    alternatives: list[Locator] = field(default_factory=list)

    def primary(self) -> Locator:
        return Locator(self.resource_id, self.text, self.content_desc, self.class_name)

    def locators(self) -> list[Locator]:
        """The primary locator then the alternatives (empty locators skipped)."""
        return [loc for loc in [self.primary(), *self.alternatives] if not loc.is_empty()]

    def describe(self) -> str:
        parts = []
        for name in ("resource_id", "class_name", "text", "content_desc"):
            v = getattr(self, name)
            if v is not None:
                parts.append(f"{name}={v!r}")
        for name in ("checked", "selected"):
            v = getattr(self, name)
            if v is not None:
                parts.append(f"{name}={v}")
        return "{" + ", ".join(parts) + "}"


@dataclass(slots=True)
class Checkpoint:
    """One essential state: primitives that must hold together on one screen.

    Attributes:
        primitives: the checks (at least one).
        final: the checkpoint must hold on the last screen of the trace.
        note: the annotator's explanation (why this state is essential).
        gt_step: the step of the ground-truth trace this checkpoint was read from (informative;
            the annotation tool and :func:`check_against_trace` use it).
        persist: (schema 1.1) the state must still hold at the end: after the step that
            satisfied it, the last step showing the checkpoint's context (its activity, its
            stateful components) must still satisfy its state primitives (every type but
            ``click`` and ``type``); a state reached then undone fails. For state-like
            checkpoints: a switch or checkbox checked, an option selected, a setting's value,
            an item present in a list.
        shared_screen: (schema 1.1) this checkpoint may be satisfied on the same screen as the
            previous one (default: a later screen). Not allowed on the first checkpoint.
    """

    primitives: list[Primitive]
    final: bool = False
    note: str = ""
    gt_step: int | None = None
    persist: bool = False
    shared_screen: bool = False

    def state_primitives(self) -> list[Primitive]:
        """The primitives that describe a state (all but the events: ``click``, ``type``)."""
        return [p for p in self.primitives if not p.event]


@dataclass(slots=True)
class Annotation:
    """The essential states of one task.

    Attributes:
        task_id: the task's id (also the file name).
        instruction: the task as given to the agent.
        app: the app's package.
        checkpoints: ordered essential states.
        schema: the version read (one of :data:`SUPPORTED_SCHEMAS`); files are written with
            :func:`schema_version` (the lowest version that expresses the annotation).
        provenance: who/what produced it: ``method`` (``proposed``, ``proposed+reviewed``,
            ``manual``, ``imported:llamatouch``), ``source``, ``reviewer_notes``...
        gt_actions: the ground-truth action sequence (action JSON), used only by the
            action-matching baselines (``exact``, ``lcs``); may be empty.
    """

    task_id: str
    instruction: str
    app: str
    checkpoints: list[Checkpoint]
    schema: str = ANNOTATION_SCHEMA
    provenance: dict[str, Any] = field(default_factory=dict)
    gt_actions: list[dict[str, Any]] = field(default_factory=list)

    def primitive_types(self) -> set[str]:
        return {p.type for c in self.checkpoints for p in c.primitives}

    def to_json(self) -> dict[str, Any]:
        return annotation_to_json(self)


# -- normalisation -------------------------------------------------------------------------


def normalise_text(text: str) -> str:
    """Text policy of every exact text comparison: NFKC, case-folded, whitespace collapsed.

    NFKC turns no-break spaces and full-width forms into their plain forms; ``casefold`` is
    a stronger ``lower``; runs of whitespace become one space; leading/trailing space goes.
    """
    import unicodedata

    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


# -- JSON -> objects -----------------------------------------------------------------------

_LOCATOR_KEYS = ("resource_id", "text", "content_desc", "class_name")
_COMPONENT_KEYS = (*_LOCATOR_KEYS, "checked", "selected", "bounds", "alternatives")


class _Ctx:
    def __init__(self, source: str | Path) -> None:
        self.source = source

    def err(self, where: str, message: str) -> SchemaError:
        return SchemaError(self.source, where, message)

    def obj(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.err(where, f"expected an object, got {type(value).__name__}")
        return value

    def keys(self, obj: dict[str, Any], allowed: set[str] | tuple[str, ...], where: str) -> None:
        unknown = sorted(set(obj) - set(allowed))
        if unknown:
            raise self.err(f"{where}.{unknown[0]}", f"unknown field (allowed: {sorted(allowed)})")

    def opt_str(self, obj: dict[str, Any], key: str, where: str) -> str | None:
        v = obj.get(key)
        if v is not None and not isinstance(v, str):
            raise self.err(f"{where}.{key}", f"expected a string, got {v!r}")
        return v

    def req_str(self, obj: dict[str, Any], key: str, where: str, *, empty: bool = False) -> str:
        if key not in obj:
            raise self.err(f"{where}.{key}", "missing")
        v = obj[key]
        if not isinstance(v, str) or (not empty and not v):
            raise self.err(f"{where}.{key}", f"expected a non-empty string, got {v!r}")
        return v

    def opt_bool(self, obj: dict[str, Any], key: str, where: str) -> bool | None:
        v = obj.get(key)
        if v is not None and not isinstance(v, bool):
            raise self.err(f"{where}.{key}", f"expected true/false, got {v!r}")
        return v

    def opt_num(
        self, obj: dict[str, Any], key: str, where: str, lo: float, hi: float
    ) -> float | None:
        v = obj.get(key)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise self.err(f"{where}.{key}", f"expected a number, got {v!r}")
        if not lo <= v <= hi:
            raise self.err(f"{where}.{key}", f"{v} is outside [{lo}, {hi}]")
        return float(v)

    def choice(
        self, obj: dict[str, Any], key: str, where: str, allowed: tuple[str, ...]
    ) -> str | None:
        v = self.opt_str(obj, key, where)
        if v is not None and v not in allowed:
            raise self.err(f"{where}.{key}", f"{v!r} is not one of {list(allowed)}")
        return v


def _locator(ctx: _Ctx, raw: Any, where: str) -> Locator:
    obj = ctx.obj(raw, where)
    ctx.keys(obj, _LOCATOR_KEYS, where)
    loc = Locator(**{k: ctx.opt_str(obj, k, where) for k in _LOCATOR_KEYS})
    if loc.is_empty():
        raise ctx.err(where, "a locator must constrain at least one attribute")
    return loc


def _component(ctx: _Ctx, raw: Any, where: str) -> Component:
    obj = ctx.obj(raw, where)
    ctx.keys(obj, _COMPONENT_KEYS, where)
    comp = Component(
        resource_id=ctx.opt_str(obj, "resource_id", where),
        text=ctx.opt_str(obj, "text", where),
        content_desc=ctx.opt_str(obj, "content_desc", where),
        class_name=ctx.opt_str(obj, "class_name", where),
    )
    comp.checked = ctx.opt_bool(obj, "checked", where)
    comp.selected = ctx.opt_bool(obj, "selected", where)
    b = obj.get("bounds")
    if b is not None:
        ok = (
            isinstance(b, list)
            and len(b) == 4
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in b)
        )
        if not ok:
            raise ctx.err(f"{where}.bounds", f"expected [left, top, right, bottom], got {b!r}")
        left, top, right, bottom = (float(x) for x in b)
        if not (-0.01 <= left <= right <= 1.01 and -0.01 <= top <= bottom <= 1.01):
            raise ctx.err(f"{where}.bounds", f"relative bounds must lie in [0, 1], got {b!r}")
        comp.bounds = (left, top, right, bottom)
    alts = obj.get("alternatives", [])
    if not isinstance(alts, list):
        raise ctx.err(f"{where}.alternatives", "expected a list")
    comp.alternatives = [_locator(ctx, a, f"{where}.alternatives[{i}]") for i, a in enumerate(alts)]
    if not comp.locators() and comp.bounds is None:
        raise ctx.err(where, "a component needs at least one attribute, locator or bounds")
    return comp


def _primitive(ctx: _Ctx, raw: Any, where: str) -> Primitive:
    obj = ctx.obj(raw, where)
    ptype = obj.get("type")
    cls = PRIMITIVE_TYPES.get(ptype) if isinstance(ptype, str) else None
    if cls is None:
        raise ctx.err(
            f"{where}.type", f"unknown primitive {ptype!r}; known: {list(PRIMITIVE_TYPES)}"
        )
    ctx.keys(obj, {"type", *(f.name for f in fields(cls))}, where)
    return cls._parse(ctx, obj, where)


@dataclass(frozen=True, slots=True)
class Primitive:
    """Base of every primitive: one check on one screen. ``kind`` is the JSON ``"type"``.

    Each subclass holds only the fields its type takes; :data:`PRIMITIVE_TYPES` maps the JSON
    type to the class. Parsing is strict (:meth:`from_json` raises :class:`SchemaError` naming
    the file and field); :meth:`to_json` writes ``type`` then the set fields in name order.
    """

    #: The JSON ``"type"`` value.
    kind: ClassVar[str] = ""
    #: An event on one screen (the action taken there), not a state: a ``persist``
    #: checkpoint does not require it to hold again at the end.
    event: ClassVar[bool] = False

    @property
    def type(self) -> str:
        """The JSON ``"type"`` value (same as :attr:`kind`)."""
        return self.kind

    def named_component(self) -> Component | None:
        """The component this primitive names (``None`` for types without one and for a
        screen-scope similarity): for readers that treat every primitive alike."""
        comp = getattr(self, "component", None)
        return comp if isinstance(comp, Component) else None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind}
        for f in sorted(fields(self), key=lambda f: f.name):
            v = getattr(self, f.name)
            if isinstance(v, Component):
                out[f.name] = _component_json(v)
            elif isinstance(v, bool):
                if v:
                    out[f.name] = True
            elif v is not None:
                out[f.name] = v
        return out

    @classmethod
    def from_json(cls, raw: Any, source: str | Path = "<primitive>", where: str = "") -> Primitive:
        """Validate one primitive object and build the class registered for its ``type``
        (called on a subclass, the type must be that subclass's). Raises :class:`SchemaError`."""
        ctx = _Ctx(source)
        where = where or "<primitive>"
        prim = _primitive(ctx, raw, where)
        if not isinstance(prim, cls):
            raise ctx.err(f"{where}.type", f"expected {cls.kind!r}, got {prim.kind!r}")
        return prim

    @classmethod
    def _parse(cls, ctx: _Ctx, obj: dict[str, Any], where: str) -> Primitive:
        raise NotImplementedError


def _opt_component(ctx: _Ctx, obj: dict[str, Any], where: str) -> Component | None:
    return _component(ctx, obj["component"], f"{where}.component") if "component" in obj else None


def _req_component(ctx: _Ctx, obj: dict[str, Any], where: str) -> Component:
    comp = _opt_component(ctx, obj, where)
    if comp is None:
        raise ctx.err(f"{where}.component", "missing")
    return comp


@dataclass(frozen=True, slots=True)
class ActivityPrimitive(Primitive):
    """The foreground activity is ``activity`` (``package/.Activity``); ``match``: ``exact``
    (full class name, the default) or ``package`` (same app only)."""

    kind: ClassVar[str] = "activity"
    activity: str
    match: str | None = None

    @classmethod
    def _parse(cls, ctx: _Ctx, obj: dict[str, Any], where: str) -> Primitive:
        return cls(
            activity=ctx.req_str(obj, "activity", where),
            match=ctx.choice(obj, "match", where, ACTIVITY_MATCH_MODES),
        )


@dataclass(frozen=True, slots=True)
class TypePrimitive(Primitive):
    """The action on the screen typed ``text``; ``match``: ``equals`` (default) or
    ``contains``; ``case_sensitive``: compare case (default: no, see docs)."""

    kind: ClassVar[str] = "type"
    event: ClassVar[bool] = True
    text: str
    match: str | None = None
    case_sensitive: bool = False

    @classmethod
    def _parse(cls, ctx: _Ctx, obj: dict[str, Any], where: str) -> Primitive:
        return cls(
            text=ctx.req_str(obj, "text", where),
            match=ctx.choice(obj, "match", where, TYPE_MATCH_MODES),
            case_sensitive=bool(ctx.opt_bool(obj, "case_sensitive", where)),
        )


@dataclass(frozen=True, slots=True)
class ClickPrimitive(Primitive):
    """The action on the screen tapped ``component``; ``jitter``: how far outside it (fraction
    of the screen width) a tap may land and still count, when nothing else clickable was hit."""

    kind: ClassVar[str] = "click"
    event: ClassVar[bool] = True
    component: Component
    jitter: float | None = None

    @classmethod
    def _parse(cls, ctx: _Ctx, obj: dict[str, Any], where: str) -> Primitive:
        return cls(
            component=_req_component(ctx, obj, where),
            jitter=ctx.opt_num(obj, "jitter", where, 0.0, 0.5),
        )


@dataclass(frozen=True, slots=True)
class _PackagePrimitive(Primitive):
    """A check on one Android package (``package``), whatever the screen."""

    package: str

    @classmethod
    def _parse(cls, ctx: _Ctx, obj: dict[str, Any], where: str) -> Primitive:
        return cls(package=ctx.req_str(obj, "package", where))


@dataclass(frozen=True, slots=True)
class InstalledPrimitive(_PackagePrimitive):
    """The Android package ``package`` is installed."""

    kind: ClassVar[str] = "installed"


@dataclass(frozen=True, slots=True)
class UninstalledPrimitive(_PackagePrimitive):
    """The Android package ``package`` is not installed."""

    kind: ClassVar[str] = "uninstalled"


def _located(ctx: _Ctx, obj: dict[str, Any], where: str) -> tuple[Component, float | None]:
    comp = _req_component(ctx, obj, where)
    tol = ctx.opt_num(obj, "position_tolerance", where, 0.0, 1.0)
    if tol is not None and comp.bounds is None:
        raise ctx.err(f"{where}.position_tolerance", "needs component.bounds")
    if not comp.locators():
        raise ctx.err(f"{where}.component", "needs at least one attribute or locator")
    return comp, tol


@dataclass(frozen=True, slots=True)
class ExactPrimitive(Primitive):
    """A node of the screen is ``component``; ``position_tolerance``: when set, the node's
    centre must lie within this distance (fraction of the screen's width and height, per
    axis) of the annotated ``component.bounds`` centre."""

    kind: ClassVar[str] = "exact"
    component: Component
    position_tolerance: float | None = None

    @classmethod
    def _parse(cls, ctx: _Ctx, obj: dict[str, Any], where: str) -> Primitive:
        comp, tol = _located(ctx, obj, where)
        return cls(component=comp, position_tolerance=tol)


@dataclass(frozen=True, slots=True)
class AbsentPrimitive(Primitive):
    """No node of the screen is ``component`` (``position_tolerance`` as for ``exact``)."""

    kind: ClassVar[str] = "absent"
    component: Component
    position_tolerance: float | None = None

    @classmethod
    def _parse(cls, ctx: _Ctx, obj: dict[str, Any], where: str) -> Primitive:
        comp, tol = _located(ctx, obj, where)
        return cls(component=comp, position_tolerance=tol)


def _similarity(
    ctx: _Ctx, obj: dict[str, Any], where: str, lo: float, *, fuzzy: bool = False
) -> tuple[Component | None, str | None, str | None, float | None]:
    comp = _opt_component(ctx, obj, where)
    scope = ctx.choice(obj, "scope", where, SCOPES)
    text = ctx.opt_str(obj, "text", where)
    threshold = ctx.opt_num(obj, "threshold", where, lo, 1.0)
    if fuzzy:  # the scorer is checked before the scope rules (the order errors are reported in)
        ctx.choice(obj, "scorer", where, FUZZY_SCORERS)
    if (scope or "component") == "screen":
        if not text:
            raise ctx.err(f"{where}.text", "a screen-scope primitive needs the reference text")
        if comp is not None:
            raise ctx.err(f"{where}.component", "not allowed with scope 'screen'")
    else:
        if comp is None:
            raise ctx.err(f"{where}.component", "missing (scope 'component')")
        if not (comp.text or comp.content_desc):
            raise ctx.err(f"{where}.component", "needs a text or content_desc to compare")
    return comp, scope, text, threshold


@dataclass(frozen=True, slots=True)
class _SimilarityPrimitive(Primitive):
    """A similarity check, of the best-matching node (``scope="component"``) or of the whole
    screen's text (``scope="screen"``, against ``text``); ``threshold``: the minimum score
    (``None``: the type's default)."""

    component: Component | None = None
    scope: str | None = None
    text: str | None = None
    threshold: float | None = None

    def effective_scope(self) -> str:
        return self.scope or "component"


@dataclass(frozen=True, slots=True)
class FuzzyPrimitive(_SimilarityPrimitive):
    """Text similarity (rapidfuzz) of the best-matching node (``scope="component"``: the
    component's ``text`` or ``content_desc`` is the reference, its other attributes narrow the
    candidates) or of the whole screen's text (``scope="screen"``: ``text`` is the reference).

    Attributes:
        threshold: minimum similarity in [0, 1] (rapidfuzz score / 100); ``None`` = default.
        scorer: the rapidfuzz scorer (:data:`FUZZY_SCORERS`); ``None`` = ``ratio`` for
            components, ``token_sort_ratio`` for screens.
    """

    kind: ClassVar[str] = "fuzzy"
    scorer: str | None = None

    @classmethod
    def _parse(cls, ctx: _Ctx, obj: dict[str, Any], where: str) -> Primitive:
        comp, scope, text, threshold = _similarity(ctx, obj, where, 0.0, fuzzy=True)
        scorer = ctx.choice(obj, "scorer", where, FUZZY_SCORERS)
        return cls(component=comp, scope=scope, text=text, threshold=threshold, scorer=scorer)


@dataclass(frozen=True, slots=True)
class SemanticPrimitive(_SimilarityPrimitive):
    """Embedding similarity, scopes as for :class:`FuzzyPrimitive`; ``threshold``: minimum
    cosine similarity (``None`` = the documented default)."""

    kind: ClassVar[str] = "semantic"

    @classmethod
    def _parse(cls, ctx: _Ctx, obj: dict[str, Any], where: str) -> Primitive:
        comp, scope, text, threshold = _similarity(ctx, obj, where, -1.0)
        return cls(component=comp, scope=scope, text=text, threshold=threshold)


@dataclass(frozen=True, slots=True)
class ImagePrimitive(Primitive):
    """The crop of ``component.bounds`` looks like the reference.

    Attributes:
        hash: hex perceptual hash (64 bits) of the component's crop on the reference screen.
        algo: ``dhash`` or ``phash`` (``None`` = ``dhash``).
        max_distance: largest Hamming distance (of 64 bits) that still matches.
    """

    kind: ClassVar[str] = "image"
    component: Component
    hash: str
    algo: str | None = None
    max_distance: int | None = None

    @classmethod
    def _parse(cls, ctx: _Ctx, obj: dict[str, Any], where: str) -> Primitive:
        comp = _req_component(ctx, obj, where)
        digest = ctx.req_str(obj, "hash", where)
        try:
            int(digest, 16)
        except ValueError:
            raise ctx.err(f"{where}.hash", f"not a hex string: {digest!r}") from None
        if len(digest) != 16:
            raise ctx.err(f"{where}.hash", "expected 16 hex digits (a 64-bit hash)")
        algo = ctx.choice(obj, "algo", where, HASH_ALGOS)
        md = ctx.opt_num(obj, "max_distance", where, 0, 64)
        if md is not None and not float(md).is_integer():
            raise ctx.err(f"{where}.max_distance", "expected an integer")
        if comp.bounds is None:
            raise ctx.err(f"{where}.component.bounds", "an image primitive needs bounds")
        return cls(
            component=comp, hash=digest, algo=algo, max_distance=None if md is None else int(md)
        )


#: Every primitive type, JSON ``"type"`` -> class, in the order the evaluator tries them
#: (cheapest first).
PRIMITIVE_TYPES: dict[str, type[Primitive]] = {
    c.kind: c
    for c in (
        ActivityPrimitive,
        TypePrimitive,
        ClickPrimitive,
        InstalledPrimitive,
        UninstalledPrimitive,
        ExactPrimitive,
        AbsentPrimitive,
        FuzzyPrimitive,
        ImagePrimitive,
        SemanticPrimitive,
    )
}


def _checkpoint(ctx: _Ctx, raw: Any, where: str, version: str) -> Checkpoint:
    obj = ctx.obj(raw, where)
    allowed: tuple[str, ...] = ("primitives", "final", "note", "gt_step")
    if version != ANNOTATION_SCHEMA:
        allowed = (*allowed, *CHECKPOINT_FIELDS_1_1)
    else:
        for key in CHECKPOINT_FIELDS_1_1:
            if key in obj:
                raise ctx.err(f"{where}.{key}", f"needs schema {ANNOTATION_SCHEMA_1_1!r}")
    ctx.keys(obj, allowed, where)
    prims = obj.get("primitives")
    if not isinstance(prims, list) or not prims:
        raise ctx.err(f"{where}.primitives", "missing or not a non-empty list")
    cp = Checkpoint(
        primitives=[_primitive(ctx, p, f"{where}.primitives[{i}]") for i, p in enumerate(prims)]
    )
    cp.final = bool(ctx.opt_bool(obj, "final", where))
    cp.note = ctx.opt_str(obj, "note", where) or ""
    gs = obj.get("gt_step")
    if gs is not None and (isinstance(gs, bool) or not isinstance(gs, int) or gs < 0):
        raise ctx.err(f"{where}.gt_step", f"expected a step number >= 0, got {gs!r}")
    cp.gt_step = gs
    cp.persist = bool(ctx.opt_bool(obj, "persist", where))
    cp.shared_screen = bool(ctx.opt_bool(obj, "shared_screen", where))
    if cp.persist and not cp.state_primitives():
        raise ctx.err(
            f"{where}.persist", "needs a state primitive (click and type are events, not states)"
        )
    return cp


def annotation_from_json(data: Any, source: str | Path = "<annotation>") -> Annotation:
    """Validate a parsed JSON document and build the :class:`Annotation`."""
    ctx = _Ctx(source)
    obj = ctx.obj(data, "<top>")
    version = obj.get("schema")
    if version not in SUPPORTED_SCHEMAS:
        raise ctx.err("schema", f"expected one of {list(SUPPORTED_SCHEMAS)}, got {version!r}")
    ctx.keys(
        obj,
        ("schema", "task_id", "instruction", "app", "checkpoints", "provenance", "gt_actions"),
        "<top>",
    )
    cps = obj.get("checkpoints")
    if not isinstance(cps, list) or not cps:
        raise ctx.err("checkpoints", "missing or not a non-empty list")
    checkpoints = [
        _checkpoint(ctx, c, f"checkpoints[{i}]", str(version)) for i, c in enumerate(cps)
    ]
    for i, c in enumerate(checkpoints[:-1]):
        if c.final:
            raise ctx.err(f"checkpoints[{i}].final", "only the last checkpoint may be final")
    if checkpoints[0].shared_screen:
        raise ctx.err("checkpoints[0].shared_screen", "the first checkpoint has no previous one")
    prov = obj.get("provenance", {})
    if not isinstance(prov, dict):
        raise ctx.err("provenance", "expected an object")
    gt_actions = obj.get("gt_actions", [])
    if not isinstance(gt_actions, list) or not all(isinstance(a, dict) for a in gt_actions):
        raise ctx.err("gt_actions", "expected a list of action objects")
    for i, a in enumerate(gt_actions):
        try:
            action_from_json(a)
        except ActionError as exc:
            raise ctx.err(f"gt_actions[{i}]", str(exc)) from exc
    return Annotation(
        task_id=ctx.req_str(obj, "task_id", "<top>"),
        instruction=ctx.req_str(obj, "instruction", "<top>", empty=True),
        app=ctx.req_str(obj, "app", "<top>", empty=True),
        checkpoints=checkpoints,
        schema=str(version),
        provenance=dict(prov),
        gt_actions=list(gt_actions),
    )


# -- objects -> JSON -----------------------------------------------------------------------


def _locator_json(loc: Locator) -> dict[str, Any]:
    return {k: getattr(loc, k) for k in _LOCATOR_KEYS if getattr(loc, k) is not None}


def _component_json(c: Component) -> dict[str, Any]:
    out = _locator_json(c.primary())
    for k in ("checked", "selected"):
        if getattr(c, k) is not None:
            out[k] = getattr(c, k)
    if c.bounds is not None:
        out["bounds"] = [round(x, 4) for x in c.bounds]
    if c.alternatives:
        out["alternatives"] = [_locator_json(a) for a in c.alternatives]
    return out


def primitive_to_json(p: Primitive) -> dict[str, Any]:
    """``p`` as JSON (same as ``p.to_json()``)."""
    return p.to_json()


def schema_version(ann: Annotation) -> str:
    """The lowest schema version that expresses ``ann`` (1.1 only when a 1.1 field is used)."""
    if any(c.persist or c.shared_screen for c in ann.checkpoints):
        return ANNOTATION_SCHEMA_1_1
    return ANNOTATION_SCHEMA


def annotation_to_json(ann: Annotation) -> dict[str, Any]:
    cps = []
    for c in ann.checkpoints:
        cj: dict[str, Any] = {}
        if c.final:
            cj["final"] = True
        if c.persist:
            cj["persist"] = True
        if c.shared_screen:
            cj["shared_screen"] = True
        if c.note:
            cj["note"] = c.note
        if c.gt_step is not None:
            cj["gt_step"] = c.gt_step
        cj["primitives"] = [primitive_to_json(p) for p in c.primitives]
        cps.append(cj)
    out: dict[str, Any] = {
        "schema": schema_version(ann),
        "task_id": ann.task_id,
        "instruction": ann.instruction,
        "app": ann.app,
        "checkpoints": cps,
        "provenance": ann.provenance,
    }
    if ann.gt_actions:
        out["gt_actions"] = ann.gt_actions
    return out


# -- files ---------------------------------------------------------------------------------


def load_annotation(path: str | Path) -> Annotation:
    """Read and validate one annotation file; errors name the file and field."""
    p = Path(path)
    return annotation_from_json(load_json_file(p), p)


def save_annotation(ann: Annotation, path: str | Path) -> None:
    """Validate (by a round trip) and write atomically."""
    data = annotation_to_json(ann)
    annotation_from_json(json.loads(json.dumps(data)), path)
    atomic_write_json(path, data)


class AnnotationSet(dict[str, Annotation]):
    """Annotations by task id, plus the files that could not be loaded (``errors``).

    Attributes:
        errors: one :class:`LlamaTouchError` per file that failed to load (the error names the
            file and field); those tasks are absent from the mapping.
        paths: task id -> the file it was loaded from.
    """

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[LlamaTouchError] = []
        self.paths: dict[str, Path] = {}


def load_annotations_dir(folder: str | Path) -> AnnotationSet:
    """Load every ``*.json`` below ``folder``. Bad files are collected in ``.errors``.

    A file whose ``task_id`` repeats an earlier one is an error too (the first one wins).
    """
    out = AnnotationSet()
    root = Path(folder)
    if not root.is_dir():
        raise JsonFormatError(root, "annotations folder does not exist")
    for path in sorted(root.rglob("*.json")):
        try:
            ann = load_annotation(path)
        except LlamaTouchError as exc:
            out.errors.append(exc)
            continue
        if ann.task_id in out:
            out.errors.append(
                SchemaError(path, "task_id", f"duplicate of {out.paths[ann.task_id]}")
            )
            continue
        out[ann.task_id] = ann
        out.paths[ann.task_id] = path
    return out
