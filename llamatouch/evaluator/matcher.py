"""Walk an agent's trace against an annotation's checkpoints.

Checkpoint *k* is satisfied by the earliest step (after the step that satisfied *k-1*, or at
it with ``allow_shared_screen``) on which all its primitives hold; a ``final`` checkpoint must
hold on the last step. Earliest-first matching is optimal for an ordered subsequence, so the
walk never misses a success that some other assignment of steps would find.

Uncomputable primitives (``EvaluationError``) make that step *unknown* for that checkpoint.
The walk goes on as if it had failed there; if it still ends in success the unknowns did not
matter (success from a later step implies success from an earlier one), otherwise the verdict
is ``error`` and names every unknown, never a silent ``fail``.
"""

from __future__ import annotations

from llamatouch.actions import Finish
from llamatouch.errors import EvaluationError
from llamatouch.essential.schema import PRIMITIVE_TYPES, Annotation, Checkpoint
from llamatouch.evaluator.options import EvalOptions, Evidence, Verdict
from llamatouch.evaluator.primitives import CHECKS
from llamatouch.evaluator.stepview import StepView
from llamatouch.trace.format import Trace

_ORDER = {t: i for i, t in enumerate(PRIMITIVE_TYPES)}


def check_checkpoint(
    k: int, cp: Checkpoint, sv: StepView, opts: EvalOptions, *, full: bool = False
) -> tuple[bool | None, list[Evidence], int]:
    """(True / False / None=unknown, evidence, number of primitives that held)."""
    evidence: list[Evidence] = [
        Evidence(k, i, p.type, sv.index, None, detail="not evaluated")
        for i, p in enumerate(cp.primitives)
    ]
    order = sorted(range(len(cp.primitives)), key=lambda i: _ORDER[cp.primitives[i].type])
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
            out = CHECKS[p.type](p, sv, opts)
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
        start = matched if opts.allow_shared_screen else matched + 1

    if failed_at is None:
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
