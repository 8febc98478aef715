"""``llamatouch score``: score recorded traces against essential-state annotations.

    llamatouch score TRACES_DIR --annotations DIR [--labels CSV]
                     [--evaluator essential|exact|lcs] [--format table|json|csv]
                     [--out DIR | --out FILE.json|.csv|.txt] [--workers N]

Every trace folder below TRACES_DIR (a folder with ``manifest.json``) is scored against
``DIR/<task_id>.json``. Bad traces and bad annotations become ``error`` rows; the run goes on
and the summary counts them. With ``--labels`` the agreement with human labels (accuracy,
precision, recall, F1, Cohen's kappa with 95% intervals, by app and by primitive type, and
every disagreement) follows the summary. ``--out DIR`` writes a run folder in the row format
of ``eval`` (``llamatouch report DIR`` reads it). Exit status: 0, or 1 when nothing could be
scored; 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from llamatouch.cli import args as argtypes
from llamatouch.cli.common import add_evaluator_args

#: ``--out`` names a results file (the form before score wrote run folders) when it ends so.
_FILE_SUFFIXES = frozenset({".json", ".csv", ".txt", ".tsv"})
#: ``run.json`` schema of a score run folder.
SCORE_RUN_SCHEMA = "llamatouch.score-run/1"


def _out_path(text: str) -> Path:
    """``--out``: a results file when it ends in one of :data:`_FILE_SUFFIXES` (or is an
    existing file), else a run folder."""
    path = Path(text)
    if path.suffix.lower() in _FILE_SUFFIXES or path.is_file():
        return argtypes.output_file(text)
    return argtypes.output_dir(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("traces_dir", metavar="TRACES_DIR", type=argtypes.existing_dir,
                        help="folder of trace folders")
    parser.add_argument(
        "--annotations", required=True, metavar="DIR", type=argtypes.existing_dir,
        help="folder of <task_id>.json files"
    )
    parser.add_argument("--labels", metavar="CSV", type=argtypes.existing_file,
                        help="human labels: episode,human[,note]")
    parser.add_argument("--format", choices=("table", "json", "csv"), default="table",
                        help="what is printed (or written to --out FILE.json/.csv/.txt)")
    parser.add_argument(
        "--out", metavar="DIR", type=_out_path,
        help="run folder to write: results.json, results.csv, summary.json, run.json, as "
        "'eval' writes them ('llamatouch report DIR' reads it); a path ending in .json, "
        ".csv, .txt or .tsv is a file that gets the --format output instead "
        "(default: print only)",
    )
    add_evaluator_args(parser, choose=True)
    parser.add_argument(
        "--workers", type=argtypes.positive_int, default=1, metavar="N",
        help="score in N processes (same results, same order)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _is_file_out(path: Path) -> bool:
    return path.suffix.lower() in _FILE_SUFFIXES or path.is_file()


def _check_run_folder(out: Path, traces_dir: Path) -> str:
    """Why ``out`` cannot be a score run folder (``""``: it can): it must be new or empty, an
    earlier score run, or the folder holding TRACES_DIR (and not an ``eval`` run)."""
    if not out.exists() or not any(out.iterdir()):
        return ""
    run_json = out / "run.json"
    if run_json.is_file():
        try:
            schema = json.loads(run_json.read_text(encoding="utf-8")).get("schema")
        except (OSError, ValueError, AttributeError):
            schema = None
        if schema == SCORE_RUN_SCHEMA:
            return ""
        return f"{out} is a folder holding another run ({run_json}): give a new folder"
    if (out / "results.json").exists() or (out / "results.csv").exists():
        return f"{out} is a folder holding results of another run: give a new folder"
    if traces_dir.resolve().parent == out.resolve():
        return ""
    return (f"{out} is a folder with other files: give a new or empty folder, an earlier "
            "score run, or the folder holding TRACES_DIR")


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
    from llamatouch.evaluator import EvalOptions, score_dir, summarize, to_frame
    from llamatouch.evaluator.agreement import agreement, load_labels

    unknown = [t for t in args.skip if t not in PRIMITIVE_TYPES]
    if unknown:
        print(f"llamatouch score: unknown primitive type(s) {unknown}", file=sys.stderr)
        return 2
    if not Path(args.traces_dir).is_dir():
        print(f"llamatouch score: {args.traces_dir} is not a folder", file=sys.stderr)
        return 2
    run_dir = args.out if args.out is not None and not _is_file_out(args.out) else None
    if run_dir is not None:
        why = _check_run_folder(run_dir, Path(args.traces_dir))
        if why:
            print(f"llamatouch score: error: argument --out: {why}", file=sys.stderr)
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
    summary = summarize(results)
    ag = agreement(results, labels) if labels is not None else None

    if args.format == "json":
        payload: dict[str, Any] = {
            "evaluator": args.evaluator,
            "summary": summary.to_json(),
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
    to_file = args.out is not None and run_dir is None
    if to_file:
        from llamatouch.fsutil import atomic_write_text

        atomic_write_text(args.out, text)
    else:
        sys.stdout.write(text)
    if run_dir is not None:
        _write_run_folder(run_dir, args, results)

    # the summary table always goes to stderr when results go to stdout (keeps them parseable)
    stream = sys.stdout if to_file else sys.stderr
    print(
        f"\nSummary ({args.evaluator}): {summary.overall.total} traces, "
        f"{summary.overall.success} success, {summary.overall.fail} fail, "
        f"{summary.overall.error} error",
        file=stream,
    )
    print(f"  {'app':<40} {'total':>5} {'success':>8} {'fail':>5} {'error':>6}", file=stream)
    for app, c in sorted(summary.by_app.items()):
        print(
            f"  {app:<40} {c.total:>5} {c.success:>8} {c.fail:>5} {c.error:>6}",
            file=stream,
        )
    if ag is not None:
        print(_agreement_text(ag), file=stream)
    if run_dir is not None:
        print(f"run folder: {run_dir} (results.json, results.csv, summary.json; "
              f"'llamatouch report {run_dir}' shows it)", file=stream)
    counts = summary.overall
    return 0 if counts.total > counts.error or counts.total == 0 else 1


def _write_run_folder(out: Path, args: argparse.Namespace, results: list[Any]) -> None:
    """``out/results.json``, ``results.csv``, ``summary.json`` (the rows ``eval`` writes, with
    the ``evaluator`` column set) and ``run.json`` (how the traces were scored)."""
    import time

    from llamatouch.errors import LlamaTouchError
    from llamatouch.fsutil import atomic_write_json
    from llamatouch.runner.results import (
        EpisodeResult,
        result_from_score,
        summarize,
        write_results,
    )
    from llamatouch.trace.format import TraceManifest, read_trace

    root = out.resolve()
    rows: list[EpisodeResult] = []
    for r in results:
        folder = Path(r.path).resolve()
        try:
            manifest = read_trace(folder).manifest
        except LlamaTouchError:
            manifest = TraceManifest(episode_id=r.episode_id)
        rel = folder.relative_to(root).as_posix() if root in folder.parents else str(folder)
        row = result_from_score(manifest, rel, evaluator=r.evaluator, verdict=r.status,
                                reason=r.reason)
        row.task_id, row.app = row.task_id or r.task_id, row.app or r.app
        rows.append(row)
    out.mkdir(parents=True, exist_ok=True)
    write_results(out, rows, summarize(rows))
    atomic_write_json(out / "run.json", {
        "schema": SCORE_RUN_SCHEMA,
        "config": {
            "traces_dir": str(Path(args.traces_dir).resolve()),
            "annotations": str(Path(args.annotations).resolve()),
            "labels": str(args.labels) if args.labels else None,
            "evaluator": args.evaluator,
            "lcs_threshold": args.lcs_threshold,
            "require_completion": bool(args.require_completion),
            "allow_shared_screen": bool(args.allow_shared_screen),
            "skip": list(args.skip),
        },
        "updated_at": time.time(),
    })
