"""Propose an annotation from a ground-truth trace (to be reviewed by a person).

What is proposed, in trace order:

1. a ``type`` checkpoint for every text the ground truth typed;
2. a ``click`` checkpoint for every tap whose target's label shares a content word with the
   instruction (the choices the task asks for: "3 columns" for "change column count to 3");
3. a ``final`` checkpoint with the distinctive components of the last screen: labelled
   components that are new compared with the first screen or that echo the instruction or
   the typed text (with their checked state when checkable), plus the foreground activity
   when it differs from the first screen's.

The proposal is then checked against the trace itself: when the final checkpoint would also
hold on the screen before the last action (the effect of the last action is invisible in the
hierarchy, e.g. a column-count change) a ``click`` checkpoint for that last action is added,
so that a trace stopped one action short does not pass. Provenance records ``proposed``.
"""

from __future__ import annotations

import re
from typing import Any

from llamatouch.actions import LongPress, Tap, Type
from llamatouch.essential.schema import (
    Annotation,
    Checkpoint,
    Component,
    Locator,
    Primitive,
    normalise_text,
)
from llamatouch.tasks import Task
from llamatouch.trace.format import Trace
from llamatouch.ui.node import UINode, UIScreen

#: Labels that never make a component distinctive (navigation chrome, generic buttons).
GENERIC_LABELS = frozenset(
    normalise_text(s)
    for s in (
        "go back",
        "back",
        "navigate up",
        "more options",
        "ok",
        "cancel",
        "yes",
        "no",
        "search",
        "settings",
        "about",
        "save",
        "done",
        "close",
        "menu",
        "apply",
        "confirm",
        "delete",
    )
)
_STOPWORDS = frozenset(
    {
        "a",
        "an",
        "the",
        "to",
        "of",
        "in",
        "on",
        "for",
        "and",
        "or",
        "with",
        "by",
        "as",
        "at",
        "from",
        "into",
        "it",
        "its",
        "is",
        "be",
        "this",
        "that",
        "app",
        "set",
        "change",
        "open",
        "create",
        "new",
        "make",
        "add",
        "show",
        "turn",
        "use",
        "my",
        "me",
        "all",
        "called",
        "named",
    }
)
_DYNAMIC = re.compile(r"^[\d\s:./,\-apm]+$")  # clock times, dates, counters
MAX_FINAL_COMPONENTS = 3


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", normalise_text(text)) if w not in _STOPWORDS}


def _quoted(instruction: str) -> list[str]:
    return [a or b for a, b in re.findall(r"'([^']+)'|\"([^\"]+)\"", instruction)]


def _label(n: UINode) -> str:
    return n.text or n.content_desc


def _rel_bounds(n: UINode, screen: UIScreen) -> tuple[float, float, float, float] | None:
    w, h = screen.width, screen.height
    if w <= 0 or h <= 0:
        return None
    b = n.bounds
    return (
        round(max(0.0, b.left / w), 4),
        round(max(0.0, b.top / h), 4),
        round(min(1.0, b.right / w), 4),
        round(min(1.0, b.bottom / h), 4),
    )


def component_of(n: UINode, screen: UIScreen, *, with_state: bool = True) -> Component:
    """A self-contained description of ``n`` (attributes, state, relative bounds, alternatives)."""
    comp = Component(
        resource_id=n.resource_id or None,
        class_name=n.class_name or None,
        bounds=_rel_bounds(n, screen),
    )
    if n.text:
        comp.text = n.text
    elif n.content_desc:
        comp.content_desc = n.content_desc
    if with_state and n.checkable:
        comp.checked = n.checked
    if comp.resource_id and (comp.text or comp.content_desc):
        comp.alternatives = [
            Locator(class_name=comp.class_name, text=comp.text, content_desc=comp.content_desc)
        ]
    return comp


def _signature(n: UINode) -> tuple[str, str, str, str, bool | None]:
    return (
        n.resource_id,
        n.class_name,
        normalise_text(n.text),
        normalise_text(n.content_desc),
        n.checked if n.checkable else None,
    )


def _labelled_target(screen: UIScreen, x: float, y: float) -> UINode | None:
    """The node a tap at (x, y) hit, or its first labelled descendant when it has no label."""
    target = screen.hit_test(x, y) or screen.hit_test(x, y, clickable_only=False)
    if target is None:
        return None
    if _label(target):
        return target
    for d in screen.descendants(target):
        if d.visible and _label(d) and d.bounds.contains(x, y):
            return d
    for d in screen.descendants(target):
        if d.visible and _label(d):
            return d
    return target


def _final_components(
    first: UIScreen, last: UIScreen, instruction: str, typed: list[str]
) -> list[tuple[int, UINode]]:
    first_sigs = {_signature(n) for n in first.nodes if n.visible}
    echoes = [normalise_text(t) for t in [*_quoted(instruction), *typed] if t.strip()]
    words = _words(instruction)
    scored: list[tuple[int, int, UINode]] = []
    seen: set[tuple[Any, ...]] = set()
    for n in last.nodes:
        label = normalise_text(_label(n))
        if not n.visible or not label or label in GENERIC_LABELS or _DYNAMIC.match(label):
            continue
        sig = _signature(n)
        if sig in seen:
            continue
        seen.add(sig)
        score = 0
        if any(e and (e in label or label in e) for e in echoes):
            score += 3
        if sig not in first_sigs:
            score += 2
        if words & _words(label):
            score += 1
        if len(label) > 60:
            score -= 2
        if score >= 2:
            scored.append((score, n.index, n))
    scored.sort(key=lambda t: (-t[0], t[1]))
    return [(s, n) for s, _, n in scored[:MAX_FINAL_COMPONENTS]]


def propose_annotation(trace: Trace, task: Task | None = None) -> Annotation:
    """Propose essential states from a ground-truth ``trace`` (see the module docstring)."""
    from llamatouch.evaluator.matcher import _check_checkpoint
    from llamatouch.evaluator.options import EvalOptions
    from llamatouch.evaluator.stepview import StepView

    man = trace.manifest
    task_id = task.id if task else str(man.task.get("id", man.episode_id))
    instruction = task.instruction if task else str(man.task.get("instruction", ""))
    app = task.app if task else str(man.task.get("app", ""))
    steps = list(trace.steps)
    if not steps:
        raise ValueError(f"trace {trace.root} has no steps")
    screens = [s.screen() for s in steps]
    actions = [s.action() for s in steps]
    typed = [a.text for a in actions if isinstance(a, Type)]
    words = _words(instruction)
    checkpoints: list[Checkpoint] = []
    last_tap: tuple[int, UINode] | None = None
    for i, (scr, act) in enumerate(zip(screens, actions, strict=True)):
        if isinstance(act, Type):
            checkpoints.append(
                Checkpoint(
                    [Primitive("type", text=act.text)], note=f"types {act.text!r}", gt_step=i
                )
            )
        elif isinstance(act, (Tap, LongPress)):
            node = _labelled_target(scr, act.x, act.y)
            if node is None:
                continue
            last_tap = (i, node)
            label = _label(node)
            if label and words & _words(label) and normalise_text(label) not in GENERIC_LABELS:
                checkpoints.append(
                    Checkpoint(
                        [Primitive("click", component=component_of(node, scr, with_state=False))],
                        note=f"taps {label!r}",
                        gt_step=i,
                    )
                )
    first, last = screens[0], screens[-1]
    final_prims: list[Primitive] = []
    if steps[-1].record.activity and steps[-1].record.activity != steps[0].record.activity:
        final_prims.append(Primitive("activity", activity=steps[-1].record.activity))
    for _, n in _final_components(first, last, instruction, typed):
        final_prims.append(Primitive("exact", component=component_of(n, last)))
    n_steps = len(steps)
    opts = EvalOptions()
    if final_prims:
        final = Checkpoint(final_prims, final=True, note="final state", gt_step=n_steps - 1)
        weak = n_steps >= 2 and _check_checkpoint(0, final, StepView(steps[-2]), opts)[0] is True
    else:
        final = None
        weak = True
    if weak and last_tap is not None:
        i, node = last_tap
        if not any(c.gt_step == i for c in checkpoints):
            label = _label(node) or node.resource_id or node.class_name
            checkpoints.append(
                Checkpoint(
                    [
                        Primitive(
                            "click", component=component_of(node, screens[i], with_state=False)
                        )
                    ],
                    note=f"taps {label!r} (its effect is not visible on the last screen)",
                    gt_step=i,
                )
            )
    checkpoints.sort(key=lambda c: c.gt_step or 0)
    if final is not None:
        checkpoints.append(final)
    if not checkpoints:
        checkpoints.append(
            Checkpoint(
                [Primitive("activity", activity=steps[-1].record.activity or app, match="package")],
                final=True,
                note="nothing distinctive found: the app is on screen",
                gt_step=n_steps - 1,
            )
        )
    gt_actions = (
        task.gt_actions
        if task and task.gt_actions
        else [a.to_json() for a in actions if a is not None]
    )
    return Annotation(
        task_id=task_id,
        instruction=instruction,
        app=app,
        checkpoints=checkpoints,
        provenance={"method": "proposed", "source": str(trace.root.name)},
        gt_actions=list(gt_actions),
    )
