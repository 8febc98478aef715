"""The primitives: each checks one thing on one step and says what it compared.

A check returns an :class:`Outcome` (passed, score, threshold, expected, found, detail) or
raises :class:`EvaluationError` when it cannot be computed (missing screenshot, unreadable
hierarchy, no recorded activity...). Policies and directions are documented in
``docs/annotations.md``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from llamatouch.actions import LongPress, Tap, Type
from llamatouch.errors import EvaluationError
from llamatouch.essential.schema import (
    AbsentPrimitive,
    ActivityPrimitive,
    ClickPrimitive,
    Component,
    ExactPrimitive,
    FuzzyPrimitive,
    ImagePrimitive,
    InstalledPrimitive,
    Locator,
    Primitive,
    SemanticPrimitive,
    TypePrimitive,
    UninstalledPrimitive,
    normalise_text,
)
from llamatouch.evaluator.options import EvalOptions
from llamatouch.evaluator.stepview import IndexedNode, StepView
from llamatouch.evaluator.treeview import HitScreen
from llamatouch.ui.node import UINode


@dataclass(slots=True)
class Outcome:
    passed: bool
    score: float | None = None
    threshold: float | None = None
    expected: Any = None
    found: Any = None
    detail: str = ""


norm = lru_cache(maxsize=65536)(normalise_text)


# -- locating components -------------------------------------------------------------------


def _loc_candidates(sv: StepView, loc: Locator) -> list[IndexedNode]:
    if loc.text is not None:
        return sv.by_text(norm(loc.text))
    if loc.content_desc is not None:
        return sv.by_desc(norm(loc.content_desc))
    if loc.resource_id is not None:
        return sv.by_rid(loc.resource_id)
    return sv.nodes()


def _loc_match(item: IndexedNode, loc: Locator) -> bool:
    n = item.node
    return (
        (loc.resource_id is None or n.resource_id == loc.resource_id)
        and (loc.class_name is None or n.class_name == loc.class_name)
        and (loc.text is None or item.text == norm(loc.text))
        and (loc.content_desc is None or item.desc == norm(loc.content_desc))
    )


_TOKEN = re.compile(r"[^\W_]{3,}")


@lru_cache(maxsize=16384)
def _needles(loc: Locator) -> tuple[str, ...]:
    """Substrings that any node matching ``loc`` puts into the raw hierarchy document."""
    out: list[str] = []
    for value in (loc.text, loc.content_desc):
        if value:
            out.extend(_TOKEN.findall(norm(value)))
    if loc.resource_id:
        out.append(unicodedata.normalize("NFKC", loc.resource_id).casefold())
    if loc.class_name:
        out.append(unicodedata.normalize("NFKC", loc.class_name).casefold())
    return tuple(out)


def may_be_on_screen(sv: StepView, comp: Component) -> bool:
    """``False`` when no locator of ``comp`` can match (checked without parsing the XML)."""
    return any(sv.may_contain(list(_needles(loc))) for loc in comp.locators())


def find_component(sv: StepView, comp: Component) -> list[IndexedNode]:
    """Nodes of the step's screen that are ``comp`` (any locator, state constraints)."""
    if not may_be_on_screen(sv, comp):
        return []
    out: list[IndexedNode] = []
    seen: set[int] = set()
    for loc in comp.locators():
        for item in _loc_candidates(sv, loc):
            n = item.node
            if n.index in seen or not _loc_match(item, loc):
                continue
            if comp.checked is not None and n.checked != comp.checked:
                continue
            if comp.selected is not None and n.selected != comp.selected:
                continue
            seen.add(n.index)
            out.append(item)
    return out


def node_is(comp: Component, node: UINode) -> bool:
    """Whether ``node`` (visible or not) is ``comp``."""
    item = IndexedNode(node, norm(node.text), norm(node.content_desc))
    if comp.checked is not None and node.checked != comp.checked:
        return False
    if comp.selected is not None and node.selected != comp.selected:
        return False
    return any(_loc_match(item, loc) for loc in comp.locators())


def rel_center(node: UINode, w: int, h: int) -> tuple[float, float]:
    cx, cy = node.bounds.center
    return cx / w, cy / h


def _offset(node: UINode, comp: Component, w: int, h: int) -> float:
    """Largest per-axis distance between the node's centre and the annotated centre."""
    if comp.bounds is None:
        return 0.0
    cx, cy = rel_center(node, w, h)
    ax = (comp.bounds[0] + comp.bounds[2]) / 2
    ay = (comp.bounds[1] + comp.bounds[3]) / 2
    return max(abs(cx - ax), abs(cy - ay))


def _nearest(
    sv: StepView, items: list[IndexedNode], comp: Component
) -> tuple[IndexedNode | None, float]:
    if not items:
        return None, float("inf")
    w, h = sv.screen_size()
    best = min(items, key=lambda it: _offset(it.node, comp, w, h))
    return best, _offset(best.node, comp, w, h)


def describe_node(node: UINode) -> dict[str, Any]:
    """A node as evidence: index, class, resource-id, text, content-desc, bounds."""
    out: dict[str, Any] = {"index": node.index, "class_name": node.class_name}
    if node.resource_id:
        out["resource_id"] = node.resource_id
    if node.text:
        out["text"] = node.text
    if node.content_desc:
        out["content_desc"] = node.content_desc
    b = node.bounds
    out["bounds"] = [b.left, b.top, b.right, b.bottom]
    return out


# -- checks --------------------------------------------------------------------------------


def check_exact(p: ExactPrimitive, sv: StepView, opts: EvalOptions) -> Outcome:
    comp = p.component
    items = find_component(sv, comp)
    best, off = _nearest(sv, items, comp)
    tol = p.position_tolerance
    expected = comp.describe()
    if best is None:
        return Outcome(False, 0.0, 1.0, expected, None, "no node with these attributes")
    found = describe_node(best.node)
    if tol is not None and off > tol:
        return Outcome(
            False,
            off,
            tol,
            expected,
            found,
            f"found, but its centre is {off:.3f} of the screen away (tolerance {tol})",
        )
    return Outcome(True, 1.0, 1.0, expected, found, f"{len(items)} matching node(s)")


def check_absent(p: AbsentPrimitive, sv: StepView, opts: EvalOptions) -> Outcome:
    comp = p.component
    items = find_component(sv, comp)
    tol = p.position_tolerance
    if tol is not None and items:
        w, h = sv.screen_size()
        items = [it for it in items if _offset(it.node, comp, w, h) <= tol]
    if items:
        found = describe_node(items[0].node)
        return Outcome(False, 0.0, None, comp.describe(), found, "the component is on screen")
    return Outcome(True, 1.0, None, comp.describe(), None, "not on screen")


def check_activity(p: ActivityPrimitive, sv: StepView, opts: EvalOptions) -> Outcome:
    expected = p.activity
    actual = sv.record.activity
    if not actual:
        raise EvaluationError(f"{sv.where()}: the step recorded no foreground activity")
    if (p.match or "exact") == "package":
        ok = package_of(actual) == package_of(expected)
        detail = "same package" if ok else "different package"
    else:
        ok = full_activity(actual) == full_activity(expected)
        detail = "same activity" if ok else "different activity"
    return Outcome(ok, float(ok), 1.0, expected, actual, detail)


def package_of(activity: str) -> str:
    return activity.split("/", 1)[0]


def full_activity(activity: str) -> str:
    """``pkg/.Main`` -> ``pkg/pkg.Main``; ``pkg/x.y.Main`` unchanged; no ``/`` unchanged."""
    if "/" not in activity:
        return activity.strip()
    pkg, cls = activity.strip().split("/", 1)
    if cls.startswith("."):
        cls = pkg + cls
    return f"{pkg}/{cls}"


def _type_norm(text: str, case_sensitive: bool) -> str:
    import unicodedata

    t = " ".join(unicodedata.normalize("NFKC", text).split())
    return t if case_sensitive else t.casefold()


def check_type(p: TypePrimitive, sv: StepView, opts: EvalOptions) -> Outcome:
    expected = p.text
    action = sv.action()
    if not isinstance(action, Type):
        kind = "no action" if action is None else action.kind
        return Outcome(False, 0.0, 1.0, expected, kind, "the action on this screen is not type")
    a = _type_norm(action.text, p.case_sensitive)
    e = _type_norm(expected, p.case_sensitive)
    ok = a == e if (p.match or "equals") == "equals" else e in a
    return Outcome(ok, float(ok), 1.0, expected, action.text, "typed text compared")


def _clickable(n: UINode) -> bool:
    return n.clickable or n.long_clickable or n.checkable or n.editable


def _owner(screen: HitScreen, n: UINode) -> UINode:
    """The clickable that owns ``n``: itself if clickable, else its nearest clickable ancestor."""
    if _clickable(n):
        return n
    for a in screen.ancestors(n):
        if _clickable(a):
            return a
    return n


def _tap(sv: StepView) -> tuple[float, float, str | None] | None:
    action = sv.action()
    if isinstance(action, (Tap, LongPress)):
        return float(action.x), float(action.y), action.element
    return None


def tap_target(screen: HitScreen, x: float, y: float, element: str | None) -> UINode | None:
    """What a tap hit on ``screen``.

    The smallest clickable node containing (x, y) (:meth:`UIScreen.hit_test`). When the
    action also names its element (a stable key) and that node exists on the screen, it is
    the target if it contains the point or if its recorded bounds are degenerate (recorders
    such as DroidBot keep off-screen rows of a scrolled list with bottom < top, so their
    taps cannot be placed by coordinates).
    """
    if element:
        named = screen.node_by_key(element)
        if named is not None:
            b = named.bounds
            if b.contains(x, y) or b.bottom <= b.top or b.right <= b.left:
                return named
    return screen.hit_test(x, y)


def check_click(p: ClickPrimitive, sv: StepView, opts: EvalOptions) -> Outcome:
    comp = p.component
    expected = comp.describe()
    tap = _tap(sv)
    if tap is None:
        action = sv.action()
        kind = "no action" if action is None else action.kind
        return Outcome(False, 0.0, 1.0, expected, kind, "the action on this screen is not a tap")
    x, y, element = tap
    if not may_be_on_screen(sv, comp):
        return Outcome(
            False, 0.0, 1.0, expected, {"tap": [x, y]}, "the component is not on this screen"
        )
    screen = sv.hit_screen()
    target = tap_target(screen, x, y, element)
    items = find_component(sv, comp)
    found_target = describe_node(target) if target is not None else None
    found = {"tap": [x, y], "hit": found_target}
    if target is not None:
        # the target itself, a node it owns (a label inside a clickable row), or a control
        # inside the tapped row when it is the row's only interactive descendant (a row
        # holder whose tap toggles its checkbox); also covers targets named by element key
        below = list(screen.descendants(target))
        interactive = [n for n in below if _clickable(n)]
        for n in [target, *below]:
            owned = n is target or _owner(screen, n) is target
            sole = len(interactive) == 1 and _owner(screen, n) is interactive[0]
            if (owned or sole) and node_is(comp, n):
                return Outcome(True, 1.0, 1.0, expected, found, "the tap hit the component")
    if not items:
        return Outcome(False, 0.0, 1.0, expected, found, "the component is not on this screen")
    jitter = (p.jitter if p.jitter is not None else opts.click_jitter) * sv.screen_size()[0]
    under = set(screen.descendants(target)) if target is not None else set()
    for it in items:
        owner = _owner(screen, it.node)
        b = owner.bounds
        dx = max(b.left - x, 0.0, x - (b.right - 1))
        dy = max(b.top - y, 0.0, y - (b.bottom - 1))
        dist = max(dx, dy)
        if dist <= jitter and (target is None or owner in under):
            return Outcome(
                True,
                1.0 - dist / max(jitter, 1.0),
                1.0,
                expected,
                {**found, "distance_px": dist},
                f"the tap landed {dist:.0f}px outside the component (jitter {jitter:.0f}px)",
            )
    return Outcome(False, 0.0, 1.0, expected, found, "the tap hit something else")


def check_installed(
    p: InstalledPrimitive | UninstalledPrimitive, sv: StepView, opts: EvalOptions
) -> Outcome:
    pkgs = sv.record.installed_packages
    if pkgs is None:
        raise EvaluationError(f"{sv.where()}: the step recorded no installed packages")
    present = p.package.lower() in {x.strip().lower() for x in pkgs}
    ok = present if isinstance(p, InstalledPrimitive) else not present
    return Outcome(
        ok,
        float(ok),
        1.0,
        p.package,
        "installed" if present else "not installed",
        f"{len(pkgs)} packages recorded",
    )


def _scorer(name: str) -> Callable[..., float]:
    from rapidfuzz import fuzz

    return {
        "ratio": fuzz.ratio,
        "partial_ratio": fuzz.partial_ratio,
        "token_sort_ratio": fuzz.token_sort_ratio,
        "token_set_ratio": fuzz.token_set_ratio,
    }[name]


def _reference_text(p: FuzzyPrimitive | SemanticPrimitive) -> str:
    if p.effective_scope() == "screen":
        return p.text or ""
    assert p.component is not None  # the schema requires it with scope "component"
    return p.component.text or p.component.content_desc or ""


def check_fuzzy(p: FuzzyPrimitive, sv: StepView, opts: EvalOptions) -> Outcome:
    ref = norm(_reference_text(p))
    if p.effective_scope() == "screen":
        thr = p.threshold if p.threshold is not None else opts.fuzzy_screen_threshold
        scorer = _scorer(p.scorer or "token_sort_ratio")
        text = sv.screen_text()
        score = scorer(ref, text, processor=None) / 100.0
        return Outcome(
            score >= thr,
            score,
            thr,
            _reference_text(p),
            text[:500],
            f"whole screen, {p.scorer or 'token_sort_ratio'}",
        )
    thr = p.threshold if p.threshold is not None else opts.fuzzy_component_threshold
    scorer = _scorer(p.scorer or "ratio")
    labels = sv.labels()
    if not labels:
        return Outcome(False, 0.0, thr, _reference_text(p), None, "no text on screen")
    from rapidfuzz import process

    best = process.extractOne(ref, [lab for lab, _ in labels], scorer=scorer, processor=None)
    assert best is not None
    score = best[1] / 100.0
    item = labels[best[2]][1]
    return Outcome(
        score >= thr,
        score,
        thr,
        _reference_text(p),
        describe_node(item.node),
        f"best node, {p.scorer or 'ratio'}",
    )


def check_semantic(p: SemanticPrimitive, sv: StepView, opts: EvalOptions) -> Outcome:
    import numpy as np

    from llamatouch.embed.minilm import get_encoder

    thr = p.threshold if p.threshold is not None else opts.semantic_threshold
    ref = _reference_text(p)
    enc = get_encoder()
    try:
        if p.effective_scope() == "screen":
            text = sv.screen_text()
            vecs = enc.encode([ref, text or " "])
            score = float(np.dot(vecs[0], vecs[1]))
            return Outcome(score >= thr, score, thr, ref, text[:500], "whole screen, cosine")
        labels = sv.labels()
        if not labels:
            return Outcome(False, 0.0, thr, ref, None, "no text on screen")
        vecs = enc.encode([ref, *[lab for lab, _ in labels]])
    except Exception as exc:  # the encoder is an external component: name its failure
        raise EvaluationError(f"{sv.where()}: sentence encoder failed: {exc}") from exc
    sims = vecs[1:] @ vecs[0]
    i = int(np.argmax(sims))
    score = float(sims[i])
    return Outcome(
        score >= thr,
        score,
        thr,
        ref,
        describe_node(labels[i][1].node),
        "best node, cosine",
    )


def check_image(p: ImagePrimitive, sv: StepView, opts: EvalOptions) -> Outcome:
    from llamatouch.evaluator.imagehash import best_distance

    comp = p.component
    assert comp.bounds is not None  # the schema requires bounds on an image primitive
    img = sv.image()
    iw, ih = img.size
    thr = p.max_distance if p.max_distance is not None else opts.image_max_distance
    box: tuple[float, float, float, float]
    located = "annotated position"
    # locate the component on the agent's hierarchy when there is one; a screenshot-only
    # step (or a component without attributes) is cropped at the annotated position
    has_tree = sv.record.has_hierarchy or sv.step is None
    items = find_component(sv, comp) if comp.locators() and has_tree else []
    if items:
        w, h = sv.screen_size()
        best, _ = _nearest(sv, items, comp)
        assert best is not None
        b = best.node.bounds
        sx, sy = iw / w, ih / h
        box = (b.left * sx, b.top * sy, b.right * sx, b.bottom * sy)
        located = "matched node"
    else:
        left, top, right, bottom = comp.bounds
        box = (left * iw, top * ih, right * iw, bottom * ih)
    try:
        dist, shift = best_distance(img, box, p.hash, p.algo or "dhash", opts.image_shift)
    except ValueError as exc:
        raise EvaluationError(f"{sv.where()}: image crop failed: {exc}") from exc
    return Outcome(
        dist <= thr,
        float(dist),
        float(thr),
        p.hash,
        {"box": [round(v) for v in box], "shift": list(shift)},
        f"{p.algo or 'dhash'} Hamming distance at the {located}",
    )


#: The check of each primitive class (each function takes that class).
CHECKS: dict[type[Primitive], Callable[[Any, StepView, EvalOptions], Outcome]] = {
    ExactPrimitive: check_exact,
    AbsentPrimitive: check_absent,
    ActivityPrimitive: check_activity,
    TypePrimitive: check_type,
    ClickPrimitive: check_click,
    InstalledPrimitive: check_installed,
    UninstalledPrimitive: check_installed,
    FuzzyPrimitive: check_fuzzy,
    SemanticPrimitive: check_semantic,
    ImagePrimitive: check_image,
}


def check_primitive(p: Primitive, sv: StepView, opts: EvalOptions) -> Outcome:
    """Run the check of ``p``'s class on one step (raises :class:`EvaluationError` when it
    cannot be computed)."""
    return CHECKS[type(p)](p, sv, opts)
