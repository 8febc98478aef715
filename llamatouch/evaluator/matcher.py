"""Walk an agent's trace against an annotation's checkpoints.

Checkpoint *k* is satisfied by the earliest step (after the step that satisfied *k-1*, or at
it when the checkpoint is ``shared_screen`` or with ``allow_shared_screen``) on which all its
primitives hold; a ``final`` checkpoint must hold on the last step; a ``persist`` checkpoint
must not be undone later (:func:`check_persistence`). Earliest-first matching is optimal for
an ordered subsequence, so the walk never misses a success that some other assignment of
steps would find.

Uncomputable primitives (``EvaluationError``) make that step *unknown* for that checkpoint.
The walk goes on as if it had failed there; if it still ends in success the unknowns did not
matter (success from a later step implies success from an earlier one), otherwise the verdict
is ``error`` and names every unknown, never a silent ``fail``.
"""

from __future__ import annotations

from dataclasses import replace

from llamatouch.actions import Finish
from llamatouch.errors import EvaluationError
from llamatouch.essential.schema import (
    PRIMITIVE_TYPES,
    ActivityPrimitive,
    Annotation,
    Checkpoint,
    Component,
    ExactPrimitive,
)
from llamatouch.evaluator.options import EvalOptions, Evidence, Verdict
from llamatouch.evaluator.primitives import check_activity, check_exact, check_primitive
from llamatouch.evaluator.stepview import StepView
from llamatouch.trace.format import Trace

_ORDER = {c: i for i, c in enumerate(PRIMITIVE_TYPES.values())}


def check_checkpoint(
    k: int, cp: Checkpoint, sv: StepView, opts: EvalOptions, *, full: bool = False
) -> tuple[bool | None, list[Evidence], int]:
    """(True / False / None=unknown, evidence, number of primitives that held)."""
    evidence: list[Evidence] = [
        Evidence(k, i, p.type, sv.index, None, detail="not evaluated")
        for i, p in enumerate(cp.primitives)
    ]
    order = sorted(range(len(cp.primitives)), key=lambda i: _ORDER[type(cp.primitives[i])])
    failed = False
    unknown = False
    held = 0
    for i in order:
        p = cp.primitives[i]
        ev = evidence[i]
        if p.type in opts.skip_types:
            ev.passed, ev.detail = True, "skipped (options.skip_types)"
            held += 1
            continue
        try:
            out = check_primitive(p, sv, opts)
        except EvaluationError as exc:
            ev.passed, ev.detail = None, str(exc)
            unknown = True
            continue
        ev.passed, ev.score, ev.threshold = out.passed, out.score, out.threshold
        ev.expected, ev.found, ev.detail = out.expected, out.found, out.detail
        if out.passed:
            held += 1
        else:
            failed = True
            if not full:
                break
    if failed:
        return False, evidence, held
    if unknown:
        return None, evidence, held
    return True, evidence, held


def _context_holds(cp: Checkpoint, sv: StepView, opts: EvalOptions) -> bool:
    """Whether ``sv`` shows the place of a ``persist`` checkpoint's state.

    The context is the checkpoint's ``activity`` primitives and its ``exact`` components
    that carry a ``checked``/``selected`` state, located without that state (the switch is
    on screen, whichever way it is set: :func:`_stateless`). A checkpoint with neither is
    judged on the last step. Raises :class:`EvaluationError` when that cannot be computed.
    """
    for p in cp.primitives:
        if isinstance(p, ActivityPrimitive):
            if not check_activity(p, sv, opts).passed:
                return False
        elif isinstance(p, ExactPrimitive):
            comp = p.component
            if comp.checked is None and comp.selected is None:
                continue
            if not check_exact(ExactPrimitive(component=_stateless(comp)), sv, opts).passed:
                return False
    return True


def _stateless(comp: Component) -> Component:
    """``comp`` whichever way it is set: by its resource-id and class when it has a
    resource-id (a switch's text often carries its state: "... ON" / "... OFF"), else by its
    own attributes without ``checked``/``selected``."""
    if comp.resource_id:
        return Component(resource_id=comp.resource_id, class_name=comp.class_name)
    return replace(comp, checked=None, selected=None)


def _has_context(cp: Checkpoint) -> bool:
    return any(
        isinstance(p, ActivityPrimitive)
        or (
            isinstance(p, ExactPrimitive)
            and (p.component.checked is not None or p.component.selected is not None)
        )
        for p in cp.primitives
    )


def check_persistence(
    views: list[StepView],
    cps: list[Checkpoint],
    steps: list[int | None],
    opts: EvalOptions,
    evidence: list[Evidence],
) -> tuple[str, str] | None:
    """``(status, reason)`` for the first ``persist`` checkpoint that was undone (``fail``)
    or cannot be judged (``error``); ``None`` when every one still holds.

    For each ``persist`` checkpoint satisfied at step *s*, the last step *t >= s* that shows
    its context (:func:`_context_holds`; the last step when it has none) must satisfy its
    state primitives (all but ``click``/``type``). *s* itself shows the context, so *t* does
    not depend on which satisfying step was chosen and earliest-first matching stays optimal.
    A step after *s* whose context, or a state primitive at *t*, cannot be computed makes the
    answer ``error`` (it could be the step that undid the state). Evidence of the check at *t*
    is appended to ``evidence``.
    """
    n = len(views)
    for k, cp in enumerate(cps):
        s = steps[k]
        if not cp.persist or s is None:
            continue
        name = f"checkpoint {k} ({cp.note or 'no note'})"
        t = n - 1
        if _has_context(cp):
            t = s
            for u in range(n - 1, s, -1):
                try:
                    ok = _context_holds(cp, views[u], opts)
                except EvaluationError as exc:
                    return "error", f"{name} (persist) cannot be judged at step {u}: {exc}"
                if ok:
                    t = u
                    break
        if t == s:
            continue
        state = Checkpoint(cp.state_primitives(), note=cp.note)
        held, ev, _ = check_checkpoint(k, state, views[t], opts, full=True)
        index = {id(p): i for i, p in enumerate(cp.primitives)}
        for e in ev:
            e.primitive = index[id(state.primitives[e.primitive])]
            e.detail = f"persist: {e.detail}"
        if held is True:
            continue
        evidence.extend(ev)
        if held is None:
            why = next(e.detail for e in ev if e.passed is None)
            return "error", f"{name} (persist) cannot be judged at step {t}: {why}"
        return (
            "fail",
            f"{name} was reached at step {s} but no longer holds at step {t} "
            "(persist: it must still hold at the end)",
        )
    return None


def _declared_completion(trace: Trace) -> tuple[bool, str]:
    if not trace.steps:
        return False, "the trace has no steps"
    last = trace.steps[-1]
    try:
        action = last.action()
    except Exception as exc:
        return False, f"the last action is unusable: {exc}"
    if isinstance(action, Finish) and action.status == "success":
        return True, "the agent declared success"
    return False, "the agent did not declare completion (no finish/success as last action)"


def evaluate(trace: Trace, annotation: Annotation, options: EvalOptions | None = None) -> Verdict:
    """Score one trace against one annotation (see the module docstring)."""
    opts = options or EvalOptions()
    views = [StepView(s) for s in trace.steps]
    return evaluate_views(
        views,
        annotation,
        opts,
        episode_id=trace.manifest.episode_id,
        manifest_status=trace.manifest.status,
        manifest_error=trace.manifest.error,
        completion=_declared_completion(trace) if opts.require_completion else None,
    )


def evaluate_views(
    views: list[StepView],
    annotation: Annotation,
    opts: EvalOptions,
    *,
    episode_id: str = "",
    manifest_status: str = "finished",
    manifest_error: str | None = None,
    completion: tuple[bool, str] | None = None,
) -> Verdict:
    """Score a list of :class:`StepView` (the trace-free core of :func:`evaluate`)."""
    n = len(views)
    cps = annotation.checkpoints
    steps: list[int | None] = [None] * len(cps)
    evidence: list[Evidence] = []
    problems: list[str] = []
    start = 0

    def verdict(status: str, reason: str) -> Verdict:
        return Verdict(
            status=status,  # type: ignore[arg-type]
            checkpoint_steps=steps,
            evidence=evidence,
            reason=reason,
            task_id=annotation.task_id,
            episode_id=episode_id,
            problems=problems,
        )

    failed_at: int | None = None
    for k, cp in enumerate(cps):
        candidates = ([n - 1] if n - 1 >= start else []) if cp.final else list(range(start, n))
        best: tuple[int, int] | None = None  # (held, step)
        for s in candidates:
            ok, ev, held = check_checkpoint(k, cp, views[s], opts)
            if ok:
                steps[k] = s
                evidence.extend(ev)
                break
            if ok is None:
                problems.extend(
                    f"checkpoint {k} at step {s}: {e.detail}"
                    for e in ev
                    if e.passed is None and e.detail != "not evaluated"
                )
            if best is None or held >= best[0]:
                best = (held, s)
        if steps[k] is None:
            failed_at = k
            if best is not None:
                _, ev, _ = check_checkpoint(k, cp, views[best[1]], opts, full=True)
                evidence.extend(ev)
            else:
                evidence.extend(
                    Evidence(k, i, p.type, None, False, detail="no step left to examine")
                    for i, p in enumerate(cp.primitives)
                )
            break
        matched = steps[k]
        assert matched is not None
        shared = k + 1 < len(cps) and cps[k + 1].shared_screen
        start = matched if opts.allow_shared_screen or shared else matched + 1

    if failed_at is None:
        undone = check_persistence(views, cps, steps, opts, evidence)
        if undone is not None:
            return verdict(*undone)
        if completion is not None and not completion[0]:
            return verdict("fail", f"all {len(cps)} checkpoints satisfied, but {completion[1]}")
        return verdict("success", f"all {len(cps)} checkpoints satisfied at steps {steps}")
    cp = cps[failed_at]
    where = "on the last screen" if cp.final else f"from step {start} on"
    if n == 0:
        reason = "the trace has no steps"
    else:
        reason = f"checkpoint {failed_at} ({cp.note or 'no note'}) is not satisfied {where}"
    if problems:
        return verdict("error", f"{reason}; undecidable because: {problems[0]}")
    if manifest_status == "infra_error" and opts.infra_error_is_error:
        return verdict(
            "error",
            f"{reason}; the episode ended by an infrastructure error: "
            f"{manifest_error or 'unknown'}",
        )
    return verdict("fail", reason)
