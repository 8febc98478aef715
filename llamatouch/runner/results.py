"""Episode results: derived from the trace manifests, summarised, written as CSV / JSON.

The trace manifests are the single source of truth: ``results.csv`` / ``results.json`` are
rebuilt from them after every run (and after a resume), so an episode can never be counted
twice or lost between the two.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from llamatouch.errors import LlamaTouchError
from llamatouch.fsutil import atomic_write_json, atomic_write_text
from llamatouch.runner.stats import flip_rate, pass_at_k, pass_hat_k, wilson_interval
from llamatouch.trace.format import TraceManifest, find_traces, read_trace
from llamatouch.trace.records import EpisodeStatus, FailureKind, OnDeviceUsage, VerdictStatus

#: Episode statuses that count as finished work (an ``infra_error`` is retried on resume; a
#: ``crash`` used up its retries and is final).
DONE_STATUSES = frozenset({EpisodeStatus.FINISHED, EpisodeStatus.STEP_LIMIT,
                           EpisodeStatus.AGENT_ERROR, EpisodeStatus.CRASH})

#: Failure kinds of episodes that did not run to an end: left out of the success rate.
NOT_RUN_KINDS = frozenset({FailureKind.INFRA, FailureKind.CRASH})


@dataclass(slots=True)
class EpisodeResult:
    """One row of ``results.csv``.

    Attributes:
        episode_id: ``<task>__<agent>__t<trial>``.
        task_id, suite, app: what was attempted.
        trial: 0-based trial number (``--trials K`` runs trials 0..K-1).
        agent: the agent's name.
        status: ``finished`` | ``step_limit`` | ``agent_error`` | ``infra_error`` | ``crash``.
        verdict: the evaluator's status: ``success`` | ``fail`` | ``error``, or ``unscored``
            (no annotation) / ``not_run`` (infrastructure failure).
        success: ``verdict == "success"``.
        failure_kind: ``""`` (success), ``agent`` (the agent failed or did not complete the
            task), ``infra`` (device or LLM-service failure after retries), ``crash`` (the
            episode killed its worker process on every attempt), ``eval`` (the evaluator could
            not decide) or ``unscored`` (the task has no annotation).
        steps: actions taken (the ``finish`` action included).
        llm_calls, prompt_tokens, completion_tokens, cached_prompt_tokens: LLM usage totals.
        saved_llm_calls: LLM calls the agent avoided (AutoDroid's query optimisation).
        prefill_s, decode_s, llm_s: LLM seconds.
        agent_s, device_s, wall_s: seconds in the agent, in device calls, and overall.
        seconds_per_step: ``wall_s / max(steps, 1)``.
        infra_attempts: episode attempts spent on infrastructure failures before this one.
        error: the agent or infrastructure error message, if any.
        reason: the evaluator's reason.
        trace_dir: the episode's trace folder, relative to the run folder.
        oracle: the agent was handed the task's ground truth (an oracle baseline such as
            ``replay``): not a measure of an agent's ability.
        device_llm_pss_mb: ``--model device:PORT``: the larger PSS of the model server on the
            device at the episode's start and end, MB (0: the model ran on the host, or the
            device could not say). The per-step prefill/decode seconds are then the device's.
        device_battery_drop: ``--model device:PORT``: battery percentage points lost during
            the episode (negative while charging; 0 when unknown).
        evaluator: the evaluator that gave ``verdict`` in a ``llamatouch score`` run
            (``essential``, ``exact`` or ``lcs``); ``""`` in an ``eval`` run (which scores
            with essential states when the task is annotated).
    """

    episode_id: str
    task_id: str
    suite: str
    app: str
    trial: int
    agent: str
    status: str
    verdict: str
    success: bool
    failure_kind: str
    steps: int
    llm_calls: int
    prompt_tokens: int
    completion_tokens: int
    cached_prompt_tokens: int
    saved_llm_calls: int
    prefill_s: float
    decode_s: float
    llm_s: float
    agent_s: float
    device_s: float
    wall_s: float
    seconds_per_step: float
    infra_attempts: int
    error: str
    reason: str
    trace_dir: str
    oracle: bool = False
    device_llm_pss_mb: float = 0.0
    device_battery_drop: float = 0.0
    evaluator: str = ""


def _failure_kind(status: str, verdict: str) -> str:
    kind = FailureKind.AGENT
    if verdict == VerdictStatus.SUCCESS:
        kind = FailureKind.NONE
    elif status == EpisodeStatus.INFRA_ERROR:
        kind = FailureKind.INFRA
    elif status == EpisodeStatus.CRASH:
        kind = FailureKind.CRASH
    elif verdict == VerdictStatus.UNSCORED:
        kind = FailureKind.UNSCORED
    elif verdict == VerdictStatus.ERROR:
        kind = FailureKind.EVAL
    return str(kind)


def result_from_manifest(manifest: TraceManifest, trace_dir: str) -> EpisodeResult:
    """Build the result row of one finished episode from its manifest (the one builder of
    rows: ``eval``, ``report`` and the notebooks all use it)."""
    u = manifest.usage
    v = manifest.verdict
    if manifest.status in (EpisodeStatus.INFRA_ERROR, EpisodeStatus.CRASH):
        verdict = str(VerdictStatus.NOT_RUN)
    else:
        verdict = str(v.status) if v is not None else str(VerdictStatus.UNSCORED)
    steps = u.actions if u.actions is not None else max(0, manifest.num_steps)
    wall = u.wall_s
    return EpisodeResult(
        episode_id=manifest.episode_id,
        task_id=manifest.task.id,
        suite=manifest.task.suite,
        app=manifest.task.app,
        trial=manifest.task.trial,
        agent=str(manifest.agent.get("name", "")),
        status=str(manifest.status),
        verdict=verdict,
        success=verdict == VerdictStatus.SUCCESS,
        failure_kind=_failure_kind(manifest.status, verdict),
        steps=steps,
        llm_calls=u.llm.calls,
        prompt_tokens=u.llm.prompt_tokens,
        completion_tokens=u.llm.completion_tokens,
        cached_prompt_tokens=u.llm.cached_prompt_tokens,
        saved_llm_calls=u.llm.saved_calls,
        prefill_s=u.llm.prefill_s,
        decode_s=u.llm.decode_s,
        llm_s=u.llm.seconds,
        agent_s=u.agent_s,
        device_s=u.device_s,
        wall_s=wall,
        seconds_per_step=wall / max(steps, 1),
        infra_attempts=u.infra_attempts,
        error=str(manifest.error or ""),
        reason=v.reason if v is not None else "",
        trace_dir=trace_dir,
        oracle=manifest.agent.get("oracle") is True,
        evaluator="",
        **_on_device_columns(u.on_device),
    )


def result_from_score(
    manifest: TraceManifest, trace_dir: str, *, evaluator: str, verdict: str, reason: str
) -> EpisodeResult:
    """The result row of a trace scored by ``llamatouch score``: the episode's columns from its
    manifest (:func:`result_from_manifest`), the verdict from ``evaluator``.

    Args:
        manifest: the trace's manifest (a bare ``TraceManifest(episode_id=...)`` when the
            trace could not be read).
        trace_dir: the trace folder, relative to the score run folder when inside it.
        evaluator: ``essential``, ``exact`` or ``lcs``.
        verdict: ``success``, ``fail`` or ``error``.
        reason: the evaluator's reason.
    """
    row = result_from_manifest(replace(manifest, verdict=None), trace_dir)
    status = VerdictStatus(verdict)
    row.verdict = str(status)
    row.success = status is VerdictStatus.SUCCESS
    row.failure_kind = str(
        FailureKind.NONE if row.success
        else FailureKind.EVAL if status is VerdictStatus.ERROR else FailureKind.AGENT
    )
    row.reason = reason
    row.evaluator = evaluator
    return row


def _on_device_columns(on_device: OnDeviceUsage | None) -> dict[str, float]:
    """The result columns of an episode's ``usage.on_device`` (zeros when absent)."""
    if on_device is None:
        return {}
    states = [st for st in (on_device.start, on_device.end) if st is not None]
    pss = [st.pss_kb for st in states if st.pss_kb is not None]
    start, end = on_device.start, on_device.end
    drop = 0.0
    if start is not None and end is not None and start.battery_level is not None \
            and end.battery_level is not None:
        drop = float(start.battery_level - end.battery_level)
    return {"device_llm_pss_mb": max(pss) / 1024 if pss else 0.0, "device_battery_drop": drop}


def collect_results(run_dir: str | Path) -> list[EpisodeResult]:
    """Result rows of every finished episode under ``run_dir/traces`` (sorted by id).

    Episodes still marked ``running`` (a killed run) are not results: they are rerun on resume.
    """
    root = Path(run_dir)
    out: list[EpisodeResult] = []
    for folder in find_traces(root / "traces"):
        try:
            manifest = read_trace(folder).manifest
        except LlamaTouchError:
            continue  # an unreadable half-written episode is rerun clean
        if manifest.status == "running":
            continue
        out.append(result_from_manifest(manifest, str(folder.relative_to(root))))
    out.sort(key=lambda r: (r.task_id, r.trial, r.episode_id))
    return out


# -- summaries ------------------------------------------------------------------------------
@dataclass(slots=True)
class GroupSummary:
    """Aggregates of a group of episodes (all, or one app).

    Attributes:
        name: ``all`` or the app package.
        episodes: episodes in the group (infrastructure failures included).
        scored: episodes that ran and were scored (no infrastructure failure, annotated).
        successes: episodes scored ``success``.
        rate, ci_low, ci_high: success rate over ``scored`` and its 95% Wilson interval.
        agent_failures, infra_failures, eval_errors: episodes per failure kind.
        mean_steps, mean_llm_calls, mean_tokens: per-episode means over the episodes that ran
            (scored or not; infrastructure failures excluded).
        saved_llm_calls: total LLM calls avoided.
        seconds_per_step: total wall seconds over total steps.
        crash_failures: episodes that crashed their worker on every attempt (left out of the
            rate, like infrastructure failures).
        oracle_episodes: episodes whose agent was handed the ground truth.
    """

    name: str
    episodes: int
    scored: int
    successes: int
    rate: float
    ci_low: float
    ci_high: float
    agent_failures: int
    infra_failures: int
    eval_errors: int
    mean_steps: float
    mean_llm_calls: float
    mean_tokens: float
    saved_llm_calls: int
    seconds_per_step: float
    crash_failures: int = 0
    oracle_episodes: int = 0


def summarize_group(name: str, rows: list[EpisodeResult]) -> GroupSummary:
    ran = [r for r in rows if r.failure_kind not in NOT_RUN_KINDS]
    scored = [r for r in ran if r.failure_kind != "unscored"]
    n = len(scored)
    s = sum(r.success for r in scored)
    lo, hi = wilson_interval(s, n)
    m = len(ran)
    steps = sum(r.steps for r in ran)
    return GroupSummary(
        name=name,
        episodes=len(rows),
        scored=n,
        successes=s,
        rate=s / n if n else 0.0,
        ci_low=lo,
        ci_high=hi,
        agent_failures=sum(r.failure_kind == "agent" for r in rows),
        infra_failures=sum(r.failure_kind == "infra" for r in rows),
        eval_errors=sum(r.failure_kind == "eval" for r in rows),
        mean_steps=steps / m if m else 0.0,
        mean_llm_calls=sum(r.llm_calls for r in ran) / m if m else 0.0,
        mean_tokens=sum(r.prompt_tokens + r.completion_tokens for r in ran) / m if m else 0.0,
        saved_llm_calls=sum(r.saved_llm_calls for r in ran),
        seconds_per_step=sum(r.wall_s for r in ran) / steps if steps else 0.0,
        crash_failures=sum(r.failure_kind == "crash" for r in rows),
        oracle_episodes=sum(r.oracle for r in rows),
    )


@dataclass(slots=True)
class TaskTrials:
    """Per-task consistency over ``--trials K``.

    Attributes:
        task_id: the task.
        trials: trials that ran (infrastructure failures excluded).
        successes: successful trials.
        pass_at_k, pass_hat_k: with ``k`` = the run's trial count (``None`` if fewer ran).
        flip_rate: see :func:`llamatouch.runner.stats.flip_rate`.
    """

    task_id: str
    trials: int
    successes: int
    pass_at_k: float | None
    pass_hat_k: float | None
    flip_rate: float


@dataclass(slots=True)
class RunSummary:
    """What ``llamatouch eval`` prints and writes to ``summary.json``."""

    overall: GroupSummary
    per_app: list[GroupSummary]
    k: int
    per_task: list[TaskTrials]

    def mean_pass_at_k(self) -> float | None:
        vals = [t.pass_at_k for t in self.per_task if t.pass_at_k is not None]
        return sum(vals) / len(vals) if vals else None

    def mean_pass_hat_k(self) -> float | None:
        vals = [t.pass_hat_k for t in self.per_task if t.pass_hat_k is not None]
        return sum(vals) / len(vals) if vals else None

    def mean_flip_rate(self) -> float:
        return sum(t.flip_rate for t in self.per_task) / len(self.per_task) if self.per_task else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "overall": asdict(self.overall),
            "per_app": [asdict(g) for g in self.per_app],
            "k": self.k,
            "pass_at_k": self.mean_pass_at_k(),
            "pass_hat_k": self.mean_pass_hat_k(),
            "flip_rate": self.mean_flip_rate(),
            "per_task": [asdict(t) for t in self.per_task],
        }


def summarize(rows: list[EpisodeResult], k: int = 1) -> RunSummary:
    by_app: dict[str, list[EpisodeResult]] = defaultdict(list)
    by_task: dict[str, list[EpisodeResult]] = defaultdict(list)
    for r in rows:
        by_app[r.app].append(r)
        by_task[r.task_id].append(r)
    per_task: list[TaskTrials] = []
    for task_id, trs in sorted(by_task.items()):
        ran = sorted(
            (r for r in trs if r.failure_kind not in NOT_RUN_KINDS), key=lambda r: r.trial
        )
        n, c = len(ran), sum(r.success for r in ran)
        ok = 0 < k <= n
        per_task.append(
            TaskTrials(
                task_id=task_id,
                trials=n,
                successes=c,
                pass_at_k=pass_at_k(n, c, k) if ok else None,
                pass_hat_k=pass_hat_k(n, c, k) if ok else None,
                flip_rate=flip_rate([r.success for r in ran]),
            )
        )
    return RunSummary(
        overall=summarize_group("all", rows),
        per_app=[summarize_group(app, rs) for app, rs in sorted(by_app.items())],
        k=k,
        per_task=per_task,
    )


# -- writing --------------------------------------------------------------------------------
COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(EpisodeResult))


def write_results(run_dir: str | Path, rows: list[EpisodeResult], summary: RunSummary) -> None:
    """``results.csv``, ``results.json`` (a list of row objects) and ``summary.json``."""
    root = Path(run_dir)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(COLUMNS))
    w.writeheader()
    for r in rows:
        w.writerow(asdict(r))
    atomic_write_text(root / "results.csv", buf.getvalue())
    atomic_write_json(root / "results.json", [asdict(r) for r in rows])
    atomic_write_json(root / "summary.json", summary.to_json())


def _pct(x: float) -> str:
    return f"{100 * x:5.1f}%"


def format_table(summary: RunSummary) -> str:
    """The summary table printed at the end of ``llamatouch eval``."""
    head = (
        f"{'app':<34} {'eps':>4} {'scored':>6} {'ok':>4} {'rate':>6} {'95% CI':>15} {'agentF':>6} "
        f"{'infraF':>6} {'steps':>6} {'calls':>6} {'saved':>5} {'tokens':>7} {'s/step':>7}"
    )
    lines = [head, "-" * len(head)]
    groups = [*summary.per_app, summary.overall] if len(summary.per_app) > 1 else [
        summary.overall
    ]
    for g in groups:
        if g is summary.overall and len(groups) > 1:
            lines.append("-" * len(head))
        lines.append(
            f"{g.name[:34]:<34} {g.episodes:>4} {g.scored:>6} {g.successes:>4} {_pct(g.rate):>6} "
            f"{'[' + _pct(g.ci_low).strip() + ', ' + _pct(g.ci_high).strip() + ']':>15} "
            f"{g.agent_failures:>6} {g.infra_failures:>6} {g.mean_steps:>6.1f} "
            f"{g.mean_llm_calls:>6.1f} {g.saved_llm_calls:>5} {g.mean_tokens:>7.0f} "
            f"{g.seconds_per_step:>7.2f}"
        )
    o = summary.overall
    if o.crash_failures:
        lines.append(
            f"{o.crash_failures} episode(s) crashed their worker process on every attempt "
            "(failure kind 'crash', left out of the rate)"
        )
    if o.oracle_episodes:
        lines.append(
            f"ORACLE RUN: the agent was handed the ground truth in {o.oracle_episodes} "
            "episode(s); its rate checks the testbed, it does not measure an agent"
        )
    if summary.k > 1:
        pk, phk = summary.mean_pass_at_k(), summary.mean_pass_hat_k()
        lines.append("")
        lines.append(
            f"k={summary.k}: pass@k={_fmt_opt(pk)}  pass^k={_fmt_opt(phk)}  "
            f"mean flip rate={summary.mean_flip_rate():.2f}"
        )
        lines.append(
            f"{'task':<40} {'trials':>6} {'ok':>3} {'pass@k':>7} {'pass^k':>7} {'flip':>5}"
        )
        for t in summary.per_task:
            lines.append(
                f"{t.task_id[:40]:<40} {t.trials:>6} {t.successes:>3} "
                f"{_fmt_opt(t.pass_at_k):>7} {_fmt_opt(t.pass_hat_k):>7} {t.flip_rate:>5.2f}"
            )
    return "\n".join(lines)


def _fmt_opt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def load_results_json(path: str | Path) -> list[dict[str, Any]]:
    """Read ``results.json`` back (a list of row objects)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of results")
    return data
