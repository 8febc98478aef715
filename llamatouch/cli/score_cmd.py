"""``llamatouch score``: score recorded traces against essential-state annotations.

    llamatouch score TRACES_DIR --annotations DIR [--labels CSV]
                     [--evaluator essential|exact|lcs] [--format table|json|csv] [--out FILE]
                     [--workers N]

Every trace folder below TRACES_DIR (a folder with ``manifest.json``) is scored against
``DIR/<task_id>.json``. Bad traces and bad annotations become ``error`` rows; the run goes on
and the summary counts them. With ``--labels`` the agreement with human labels (accuracy,
precision, recall, F1, Cohen's kappa with 95% intervals, by app and by primitive type, and
every disagreement) follows the summary. Exit status: 0, or 1 when nothing could be scored.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from llamatouch.cli import args as argtypes


def _workers(text: str) -> int:
    """``--workers``: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("traces_dir", metavar="TRACES_DIR", type=argtypes.existing_dir,
                        help="folder of trace folders")
    parser.add_argument(
        "--annotations", required=True, metavar="DIR", type=argtypes.existing_dir,
        help="folder of <task_id>.json files"
    )
    parser.add_argument("--labels", metavar="CSV", type=argtypes.existing_file,
                        help="human labels: episode,human[,note]")
    parser.add_argument(
        "--evaluator",
        choices=("essential", "exact", "lcs"),
        default="essential",
        help="essential states (default), AITW exact action match, or LCS over actions",
    )
    parser.add_argument("--format", choices=("table", "json", "csv"), default="table")
    parser.add_argument("--out", metavar="FILE", type=argtypes.output_file,
                        help="write the results here (default stdout)")
    parser.add_argument(
        "--allow-shared-screen",
        action="store_true",
        help="one screen may satisfy several consecutive checkpoints (as if every checkpoint "
        "had shared_screen: true; annotations can set it per checkpoint)",
    )
    parser.add_argument(
        "--require-completion",
        action="store_true",
        help="the agent must have declared completion (finish/success)",
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="TYPE",
        help="ignore primitives of this type (repeatable; e.g. --skip semantic)",
    )
    parser.add_argument(
        "--lcs-threshold",
        type=argtypes.fraction,
        default=1.0,
        help="LCS evaluator: success when LCS/len(ground truth) >= this (default 1.0)",
    )
    parser.add_argument(
        "--workers",
        type=_workers,
        default=1,
        metavar="N",
        help="score in N processes (same results, same order; default 1)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _fmt(v: float) -> str:
    return "  nan" if v != v else f"{v:.3f}"


def _agreement_text(ag: Any) -> str:
    lines = []
    o = ag.overall
    ci = o.intervals
    lines.append(
        f"Agreement with human labels ({o.n} episodes; {ag.errors} errors left out, "
        f"{ag.unlabelled} unlabelled results, {len(ag.missing)} labels without a trace)"
    )
    for name in ("accuracy", "precision", "recall", "f1", "kappa"):
        lo, hi = ci[name]
        lines.append(f"  {name:<9} {_fmt(getattr(o, name))}  95% [{_fmt(lo)}, {_fmt(hi)}]")
    c = o.confusion
    lines.append(f"  confusion: tp={c.tp} fp={c.fp} tn={c.tn} fn={c.fn}")
    for title, group in (("by app", ag.by_app), ("by primitive type", ag.by_primitive)):
        lines.append(f"  {title}:")
        for k, m in group.items():
            lines.append(
                f"    {k:<40} n={m.n:<4} acc={_fmt(m.accuracy)} f1={_fmt(m.f1)} "
                f"kappa={_fmt(m.kappa)}"
            )
    lines.append(f"  disagreements ({len(ag.disagreements)}):")
    for d in ag.disagreements:
        lines.append(
            f"    {d.episode}: human={int(d.human)} evaluator={d.status}: {d.reason}"
            + (f"  [label note: {d.note}]" if d.note else "")
        )
        for e in d.evidence:
            if e.get("passed") is False:
                lines.append(
                    f"      - checkpoint {e['checkpoint']} {e['type']} at step "
                    f"{e['step']}: score {e['score']} vs {e['threshold']}: {e['detail']}"
                )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from llamatouch.essential.schema import PRIMITIVE_TYPES
    from llamatouch.evaluator import EvalOptions, score_dir, summarise, to_frame
    from llamatouch.evaluator.agreement import agreement, load_labels

    unknown = [t for t in args.skip if t not in PRIMITIVE_TYPES]
    if unknown:
        print(f"llamatouch score: unknown primitive type(s) {unknown}", file=sys.stderr)
        return 2
    if not Path(args.traces_dir).is_dir():
        print(f"llamatouch score: {args.traces_dir} is not a folder", file=sys.stderr)
        return 2
    options = EvalOptions(
        allow_shared_screen=args.allow_shared_screen,
        require_completion=args.require_completion,
        skip_types=frozenset(args.skip),
    )
    labels = load_labels(args.labels) if args.labels else None

    progress = None
    if not args.no_progress:
        from tqdm import tqdm

        def progress(paths: Any) -> Any:
            return tqdm(
                paths, desc="scoring", unit="trace", file=sys.stderr, disable=len(paths) < 2
            )

    results = score_dir(
        args.traces_dir,
        args.annotations,
        evaluator=args.evaluator,
        options=options,
        lcs_threshold=args.lcs_threshold,
        progress=progress,
        workers=args.workers,
    )
    summary = summarise(results)
    ag = agreement(results, labels) if labels is not None else None

    if args.format == "json":
        payload: dict[str, Any] = {
            "evaluator": args.evaluator,
            "summary": summary,
            "results": [r.to_json() for r in results],
        }
        if ag is not None:
            payload["agreement"] = ag.to_json()
        text = json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n"
    elif args.format == "csv":
        frame = to_frame(results)
        text = frame.to_csv(index=False)
    else:
        rows = [f"{'episode':<48} {'status':<8} reason"]
        for r in results:
            rows.append(f"{r.episode_id[:48]:<48} {r.status:<8} {r.reason}")
        text = "\n".join(rows) + "\n"
    if args.out:
        from llamatouch.fsutil import atomic_write_text

        atomic_write_text(args.out, text)
    else:
        sys.stdout.write(text)

    # the summary table always goes to stderr when results go to stdout (keeps them parseable)
    stream = sys.stdout if args.out else sys.stderr
    print(
        f"\nSummary ({args.evaluator}): {summary['total']} traces, "
        f"{summary['success']} success, {summary['fail']} fail, {summary['error']} error",
        file=stream,
    )
    print(f"  {'app':<40} {'total':>5} {'success':>8} {'fail':>5} {'error':>6}", file=stream)
    for app, c in sorted(summary["by_app"].items()):
        print(
            f"  {app:<40} {c['total']:>5} {c['success']:>8} {c['fail']:>5} {c['error']:>6}",
            file=stream,
        )
    if ag is not None:
        print(_agreement_text(ag), file=stream)
    return 0 if summary["total"] > summary["error"] or summary["total"] == 0 else 1
