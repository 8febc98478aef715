"""Propose an annotation from a ground-truth trace (to be reviewed by a person).

What is proposed, in trace order:

1. a ``type`` checkpoint for every text the ground truth typed;
2. a ``click`` checkpoint for every tap whose target's label shares a content word with the
   instruction (the choices the task asks for: "3 columns" for "change column count to 3");
3. a checkpoint with the distinctive components of the last screen (see
   :func:`_final_components`), with their checked state when checkable, plus the foreground
   activity when it differs from the first screen's. It is not marked ``final``: an agent
   that reaches the state and then navigates away still did the task; the reviewer marks it
   ``final`` where the end screen itself is the goal ("open ...").

The proposal is then checked against the trace itself: when the final checkpoint would also
hold on the screen before the last action (the effect of the last action is invisible in the
hierarchy, e.g. a column-count change) a ``click`` checkpoint for that last action is added,
so that a trace stopped one action short does not pass. Provenance records ``proposed``.

Beyond the trace (:mod:`llamatouch.annotating.goal`):

- when the instruction's goal is a page ("open the clock page", "view favorite contacts"),
  the final checkpoint is marked ``final``: the end screen must be that page (opening it and
  then leaving does not do the task);
- otherwise the final checkpoint is marked ``persist`` when it holds a state (a component, a
  checked switch): reaching the state and then undoing it does not do the task;
- with the app's world (its UTG), texts shown on more than
  :attr:`ProposerConfig.common_fraction` of the app's screens (tabs, section labels) and texts
  only ever shown in a pop-up's message, a toast or a snackbar are not used as the goal; a
  transient message on the last screen is never used either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from llamatouch.actions import LongPress, Tap, Type
from llamatouch.annotating.goal import AppTexts, goal_is_page, in_popup
from llamatouch.essential.schema import (
    ActivityPrimitive,
    Annotation,
    Checkpoint,
    ClickPrimitive,
    Component,
    ExactPrimitive,
    Locator,
    Primitive,
    TypePrimitive,
    normalise_text,
)
from llamatouch.evaluator.matcher import check_checkpoint
from llamatouch.evaluator.options import EvalOptions
from llamatouch.evaluator.primitives import tap_target
from llamatouch.evaluator.stepview import StepView
from llamatouch.tasks import Task
from llamatouch.trace.format import Trace
from llamatouch.ui.node import UINode, UIScreen
from llamatouch.world import World

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


@dataclass(frozen=True, slots=True)
class ProposerConfig:
    """Settings of :func:`propose_annotation`.

    Attributes:
        common_fraction: a text shown on more than this fraction of the app's screens (in its
            world) is not discriminative and never names the goal. Tuned with leave-one-app-out
            cross-validation on the labelled DroidTask traces
            (``benchmarks/bench_proposer_generalisation.py``, docs/evaluator-generalisation.md).
        page_goals: mark the final checkpoint ``final`` when the instruction's goal is a page.
        persist_states: mark a state-like final checkpoint ``persist``.
    """

    common_fraction: float = 0.5
    page_goals: bool = True
    persist_states: bool = True


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", normalise_text(text)) if w not in _STOPWORDS}


def _quoted(instruction: str) -> list[str]:
    return [a or b for a, b in re.findall(r"'([^']+)'|\"([^\"]+)\"", instruction)]


def _label(n: UINode) -> str:
    return n.text or n.content_desc


def _rel_bounds(n: UINode, screen: UIScreen) -> tuple[float, float, float, float] | None:
    """Relative bounds clamped to the screen; ``None`` when degenerate or off-screen."""
    w, h = screen.width, screen.height
    if w <= 0 or h <= 0:
        return None
    b = n.bounds

    def c(v: float) -> float:
        return round(min(1.0, max(0.0, v)), 4)

    left, top, right, bottom = c(b.left / w), c(b.top / h), c(b.right / w), c(b.bottom / h)
    if right <= left or bottom <= top:
        return None
    return (left, top, right, bottom)


def component_of(n: UINode, screen: UIScreen, *, with_state: bool = True) -> Component:
    """A self-contained description of ``n`` (attributes, state, relative bounds, alternatives)."""
    comp = Component(
        resource_id=n.resource_id or None,
        class_name=n.class_name or None,
        bounds=_rel_bounds(n, screen),
    )
    stateful = with_state and n.checkable and bool(n.resource_id)
    if stateful and _STATE_WORD.search(n.text or ""):
        pass  # "Use 24-hour time format ON": the text changes with the state; the id and the
        # checked state identify it (so the switch is still found when set the other way)
    elif n.text:
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


_STATE_WORD = re.compile(r"\s+(on|off)$", re.I)


def _stateless(label: str) -> str:
    """A toggle's label without the trailing ``ON``/``OFF`` some apps add to it."""
    return _STATE_WORD.sub("", normalise_text(label))


def _row_label(screen: UIScreen, node: UINode) -> str:
    """The label of the row a bare (text-less) control sits in."""
    parent = screen.parent_of(node)
    for anc in ([parent] if parent is not None else []):
        for d in screen.descendants(anc):
            if d.visible and _label(d):
                return normalise_text(_label(d))
    return ""


def _signature(n: UINode) -> tuple[str, str, str, str, bool | None]:
    return (
        n.resource_id,
        n.class_name,
        normalise_text(n.text),
        normalise_text(n.content_desc),
        n.checked if n.checkable else None,
    )


def _labelled_target(
    screen: UIScreen, x: float, y: float, element: str | None = None
) -> UINode | None:
    """The node a tap at (x, y) hit, or its first labelled descendant when it has no label."""

    target = tap_target(screen, x, y, element) or screen.hit_test(x, y, clickable_only=False)
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
    screens: list[UIScreen],
    instruction: str,
    typed: list[str],
    texts: AppTexts | None = None,
    config: ProposerConfig | None = None,
) -> list[UINode]:
    """Distinctive labelled components of the last screen.

    Never a transient message (:func:`in_popup`) and, with the app's ``texts``, never a text
    on most of the app's screens or only ever in a pop-up.

    *Strong*: new compared with the first screen and the label echoes a quoted string of the
    instruction or a typed text, shares a content word with the instruction, or the component
    is checkable and its state differs from the first screen's. *Weak*: only new. Up to
    :data:`MAX_FINAL_COMPONENTS` strong ones are kept; weak ones (at most 2) only when there
    is no strong one.
    """
    first, last = screens[0], screens[-1]
    first_sigs = {_signature(n) for n in first.nodes if n.visible}
    # the state a toggle had on the latest earlier screen that showed it
    prior_state: dict[tuple[str, str], bool] = {}
    for scr in screens[:-1]:
        for n in scr.nodes:
            if n.checkable:
                prior_state[(n.resource_id, _stateless(_label(n)))] = n.checked
    echoes = [normalise_text(t) for t in [*_quoted(instruction), *typed] if t.strip()]
    words = _words(instruction)
    strong: list[tuple[int, int, UINode]] = []
    weak: list[UINode] = []
    seen: set[tuple[Any, ...]] = set()
    cfg = config or ProposerConfig()
    for n in last.nodes:
        label = normalise_text(_label(n))
        if not label and n.visible and n.checkable and n.resource_id:
            label = _row_label(last, n)  # a bare switch beside its label
        if not n.visible or not label or label in GENERIC_LABELS or _DYNAMIC.match(label):
            continue
        if in_popup(last, n):
            continue
        if texts is not None and (
            texts.common(label, cfg.common_fraction) or texts.transient(label)
        ):
            continue
        sig = _signature(n)
        if sig in seen or len(label) > 60:
            continue
        seen.add(sig)
        score = 0
        if any(e and (e in label or label in e) for e in echoes):
            score += 3
        if words & _words(label):
            score += 1
        before = prior_state.get((n.resource_id, _stateless(_label(n))))
        if n.checkable and before is not None and before != n.checked:
            score += 2
        new = sig not in first_sigs
        if score and new:
            strong.append((score, n.index, n))
        elif new:
            weak.append(n)
    strong.sort(key=lambda t: (-t[0], t[1]))
    if strong:
        return [n for _, _, n in strong[:MAX_FINAL_COMPONENTS]]
    return weak[:2]


def propose_annotation(
    trace: Trace,
    task: Task | None = None,
    *,
    world: World | None = None,
    config: ProposerConfig | None = None,
    texts: AppTexts | None = None,
) -> Annotation:
    """Propose essential states from a ground-truth ``trace`` (see the module docstring).

    ``world`` (the task's world) lets the proposer drop texts that do not tell the goal apart
    (``texts``, when given, is that world's :class:`AppTexts` already counted).
    """

    man = trace.manifest
    task_id = task.id if task else (man.task.id or man.episode_id)
    instruction = task.instruction if task else man.task.instruction
    app = task.app if task else man.task.app
    steps = list(trace.steps)
    if not steps:
        raise ValueError(f"trace {trace.root} has no steps")
    screens = [s.screen() for s in steps]
    actions = [s.action() for s in steps]
    typed = [a.text for a in actions if isinstance(a, Type)]
    cfg = config or ProposerConfig()
    if texts is None and world is not None:
        texts = AppTexts.of(world, app)
    page = cfg.page_goals and goal_is_page(instruction)
    words = _words(instruction)
    checkpoints: list[Checkpoint] = []
    last_tap: tuple[int, UINode] | None = None
    word_taps: list[tuple[int, UINode, str]] = []
    for i, (scr, act) in enumerate(zip(screens, actions, strict=True)):
        if isinstance(act, Type):
            checkpoints.append(
                Checkpoint([TypePrimitive(text=act.text)], note=f"types {act.text!r}", gt_step=i)
            )
        elif isinstance(act, (Tap, LongPress)):
            node = _labelled_target(scr, act.x, act.y, act.element)
            if node is None:
                continue
            last_tap = (i, node)
            label = _label(node)
            if label and words & _words(label) and normalise_text(label) not in GENERIC_LABELS:
                word_taps.append((i, node, label))
    # Of consecutive taps that echo the instruction ("Sort by" then "Descending") keep the
    # last: the earlier ones navigate to the choice, the last one is the choice.
    for j, (i, node, label) in enumerate(word_taps):
        if j + 1 < len(word_taps) and word_taps[j + 1][0] == i + 1:
            continue
        checkpoints.append(
            Checkpoint(
                [ClickPrimitive(component=component_of(node, screens[i], with_state=False))],
                note=f"taps {label!r}",
                gt_step=i,
            )
        )
    last = screens[-1]
    final_prims: list[Primitive] = []
    if steps[-1].record.activity and steps[-1].record.activity != steps[0].record.activity:
        final_prims.append(ActivityPrimitive(activity=steps[-1].record.activity))
    for n in _final_components(screens, instruction, typed, texts, cfg):
        final_prims.append(ExactPrimitive(component=component_of(n, last)))
    if page and not final_prims and steps[-1].record.activity:
        final_prims.append(ActivityPrimitive(activity=steps[-1].record.activity))
    n_steps = len(steps)
    opts = EvalOptions()
    if final_prims:
        final = Checkpoint(
            final_prims,
            note="the page the task asks for, on the last screen"
            if page
            else "the resulting state",
            gt_step=n_steps - 1,
            final=page,
            persist=not page and cfg.persist_states and bool(
                [p for p in final_prims if isinstance(p, ExactPrimitive)]
            ),
        )
        weak = n_steps >= 2 and check_checkpoint(0, final, StepView(steps[-2]), opts)[0] is True
    else:
        final = None
        weak = True
    if weak and last_tap is not None:
        i, node = last_tap
        if not any(c.gt_step == i for c in checkpoints):
            label = _label(node) or node.resource_id or node.class_name
            checkpoints.append(
                Checkpoint(
                    [ClickPrimitive(component=component_of(node, screens[i], with_state=False))],
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
                [ActivityPrimitive(activity=steps[-1].record.activity or app, match="package")],
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
