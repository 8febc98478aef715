"""``llamatouch datasets import KIND PATH --out DIR``: import a dataset into our formats.

Kinds: ``droidtask`` (worlds + task suite + ground-truth traces), ``droidbot`` (a world with
the real screenshots + the exploration trace), ``llamatouch-gt`` (LlamaTouch ground-truth
episodes → traces, metadata TSV → task suite), ``agentenv`` (AgentEnv execution traces →
traces). Prints what was imported and every problem found. See ``docs/datasets.md``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from llamatouch.cli import args as argtypes

KINDS = ("droidtask", "droidbot", "llamatouch-gt", "agentenv")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    imp = sub.add_parser(
        "import",
        help="import a dataset folder",
        description="Import a dataset you downloaded into llamatouch's formats. droidtask: "
        "worlds + task suite + ground-truth traces; droidbot: a world with the real "
        "screenshots + the exploration trace; llamatouch-gt: LlamaTouch ground-truth "
        "episodes -> traces, metadata TSV -> task suite; agentenv: AgentEnv execution "
        "traces -> traces. Prints what was imported and every problem found "
        "(all of them in DIR/import-report.json). See docs/datasets.md.",
    )
    imp.add_argument("kind", choices=KINDS, help="dataset layout")
    imp.add_argument("path", type=argtypes.existing_dir,
                     help="the dataset folder (your own download)")
    imp.add_argument("--out", type=argtypes.output_dir, required=True, metavar="DIR",
                     help="output folder")
    imp.add_argument(
        "--no-traces",
        action="store_true",
        help="droidtask: do not write ground-truth traces (traces/<task>/)",
    )
    imp.add_argument(
        "--metadata",
        type=argtypes.existing_file,
        default=None,
        help="llamatouch-gt: the llamatouch_task_metadata.tsv (default: PATH/"
        "llamatouch_task_metadata.tsv when present)",
    )
    imp.add_argument(
        "--max-problems",
        type=argtypes.non_negative_int,
        default=20,
        help="problems listed in full (all are in import-report.json); default 20",
    )


def run(args: argparse.Namespace) -> int:
    if getattr(args, "action", None) != "import":
        print("usage: llamatouch datasets import KIND PATH --out DIR", file=sys.stderr)
        return 2
    if args.kind == "droidtask":
        return _droidtask(args)
    if args.kind == "droidbot":
        return _droidbot(args)
    if args.kind == "llamatouch-gt":
        return _llamatouch_gt(args)
    return _agentenv(args)


def _print_problems(problems: list[Any], limit: int) -> None:
    from collections import Counter

    counts = Counter(p.kind for p in problems)
    print(f"problems:        {len(problems)}" + (f"  ({dict(counts)})" if counts else ""))
    for p in problems[:limit]:
        print(f"  - {p}")
    if len(problems) > limit:
        print(f"  ... {len(problems) - limit} more in import-report.json")


def _droidtask(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from llamatouch.datasets.droidtask import app_folders, import_droidtask
    from llamatouch.datasets.gt_trace import write_gt_traces

    n_apps = len(app_folders(args.path)) if args.path.is_dir() else 0
    with tqdm(total=n_apps, desc="apps", unit="app", file=sys.stderr) as bar:

        def progress(name: str) -> None:
            bar.set_postfix_str(name)
            bar.update(1)

        result = import_droidtask(args.path, args.out, progress=progress)
    rep = result.report
    print(f"imported DroidTask from {args.path} into {args.out}")
    print(f"{'app':<14}{'package':<44}{'states':>7}{'edges':>7}{'tasks':>7}{'resolved':>10}")
    for a in rep.apps:
        print(
            f"{a.app:<14}{a.package:<44}{a.states:>7}{a.transitions:>7}{a.tasks:>7}"
            f"{a.fully_resolved:>10}"
        )
    print(f"apps:            {len(rep.apps)}")
    print(f"state files:     {rep.total('state_files')}")
    print(f"states:          {rep.total('states')} (de-duplicated)")
    print(f"transitions:     {rep.total('transitions')}")
    print(f"tasks:           {rep.total('tasks')}")
    print(f"fully resolved:  {rep.total('fully_resolved')}")
    if not args.no_traces:
        tasks = result.fully_resolved
        with tqdm(total=len(tasks), desc="gt traces", unit="task", file=sys.stderr) as bar:
            written = write_gt_traces(
                result.suite, args.out, args.out / "traces", tasks=tasks, progress=bar.update
            )
        print(f"gt traces:       {len(written)} in {args.out / 'traces'}")
    _print_problems(rep.problems, args.max_problems)
    print(f"suite:           {result.suite_path}")
    print(f"report:          {args.out / 'import-report.json'}")
    return 0


def _droidbot(args: argparse.Namespace) -> int:
    from llamatouch.datasets.droidbot import import_droidbot

    res = import_droidbot(args.path, args.out)
    shots = sum(1 for s in res.world.states.values() if s.screenshot)
    print(f"imported DroidBot output from {args.path} into {args.out}")
    print(
        f"apps:            {len(res.world.apps)} ({', '.join(a.package for a in res.world.apps)})"
    )
    print(f"states:          {len(res.world.states)} ({shots} with their real screenshot)")
    print(f"transitions:     {len(res.world.transitions)}")
    print(f"trace steps:     {res.steps} in {res.trace_dir}")
    _print_problems(res.report.problems, args.max_problems)
    print(f"world:           {res.world_dir}")
    return 0


def _llamatouch_gt(args: argparse.Namespace) -> int:
    from llamatouch.datasets.llamatouch import import_llamatouch_gt

    res = import_llamatouch_gt(args.path, args.out, metadata=args.metadata)
    print(f"imported LlamaTouch ground truth from {args.path} into {args.out}")
    print(f"tasks (metadata): {res.tasks}")
    print(f"episodes:         {res.episodes} converted to traces in {args.out / 'traces'}")
    _print_problems(res.problems, args.max_problems)
    if res.suite_path is not None:
        print(f"suite:            {res.suite_path}")
    return 0


def _agentenv(args: argparse.Namespace) -> int:
    from llamatouch.datasets.llamatouch import import_agentenv

    res = import_agentenv(args.path, args.out)
    print(f"imported AgentEnv traces from {args.path} into {args.out}")
    print(f"episodes:        {res.episodes}")
    _print_problems(res.problems, args.max_problems)
    return 0
