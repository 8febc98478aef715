"""Self-tests of an annotation against its ground-truth trace.

An annotation is sound for its task when:

- the ground-truth trace scores ``success``;
- the task's first screen alone (no action taken) scores ``fail``;
- the ground-truth trace cut before its last action (the agent stopped one action short: the
  screen the last action was taken on becomes the last screen, with no action) scores
  ``fail``.

The annotation tool uses the same checks for its live validation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from llamatouch.actions import Finish
from llamatouch.errors import SchemaError
from llamatouch.essential.schema import Annotation
from llamatouch.evaluator.matcher import evaluate_views
from llamatouch.evaluator.options import EvalOptions, Verdict
from llamatouch.evaluator.stepview import StepView
from llamatouch.trace.format import Trace, TraceStep


@dataclass(slots=True)
class SelfTest:
    """The three verdicts and whether each is the expected one."""

    task_id: str
    gt: Verdict
    first_screen: Verdict
    cut: Verdict | None  # None when the trace has no action to cut

    @property
    def gt_ok(self) -> bool:
        return self.gt.status == "success"

    @property
    def first_ok(self) -> bool:
        return self.first_screen.status == "fail"

    @property
    def cut_ok(self) -> bool:
        return self.cut is None or self.cut.status == "fail"

    @property
    def ok(self) -> bool:
        return self.gt_ok and self.first_ok and self.cut_ok

    def to_json(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "gt": self.gt.status,
            "first_screen": self.first_screen.status,
            "cut": None if self.cut is None else self.cut.status,
            "ok": self.ok,
            "reasons": {
                "gt": self.gt.reason,
                "first_screen": self.first_screen.reason,
                "cut": None if self.cut is None else self.cut.reason,
            },
        }


def _without_action(step: TraceStep) -> StepView:
    return StepView(step, record=replace(step.record, action=None))


def last_action_index(trace: Trace) -> int | None:
    """Index of the step carrying the last real action (``finish`` excluded)."""
    for s in reversed(trace.steps):
        a = s.action()
        if a is not None and not isinstance(a, Finish):
            return s.index
    return None


def cut_views(trace: Trace) -> list[StepView] | None:
    """The trace stopped before its last real action (``None`` if it has none)."""
    k = last_action_index(trace)
    if k is None:
        return None
    return [StepView(s) for s in trace.steps[:k]] + [_without_action(trace.steps[k])]


def self_test(
    annotation: Annotation, gt_trace: Trace, options: EvalOptions | None = None
) -> SelfTest:
    opts = options or EvalOptions()
    eid = gt_trace.manifest.episode_id
    gt = evaluate_views([StepView(s) for s in gt_trace.steps], annotation, opts, episode_id=eid)
    first = evaluate_views(
        [_without_action(gt_trace.steps[0])], annotation, opts, episode_id=f"{eid}#first"
    )
    cv = cut_views(gt_trace)
    cut = None if cv is None else evaluate_views(cv, annotation, opts, episode_id=f"{eid}#cut")
    return SelfTest(annotation.task_id, gt, first, cut)


def check_against_trace(annotation: Annotation, gt_trace: Trace) -> list[SchemaError]:
    """Structural checks of an annotation against its ground-truth trace.

    Every ``gt_step`` must name a step of the trace (a reference to an absent screen is an
    error naming the checkpoint), and the ``gt_step`` of successive checkpoints must not go
    backwards. Returns the problems (empty when sound); the verdict checks are
    :func:`self_test`.
    """
    out: list[SchemaError] = []
    src = f"annotation {annotation.task_id}"
    n = len(gt_trace.steps)
    last = -1
    for i, cp in enumerate(annotation.checkpoints):
        if cp.gt_step is None:
            continue
        if cp.gt_step >= n:
            out.append(
                SchemaError(
                    src,
                    f"checkpoints[{i}].gt_step",
                    f"references step {cp.gt_step}; the trace has {n} steps",
                )
            )
        elif cp.gt_step < last:
            out.append(
                SchemaError(
                    src,
                    f"checkpoints[{i}].gt_step",
                    f"step {cp.gt_step} comes before the previous checkpoint's",
                )
            )
        last = max(last, cp.gt_step)
    return out
