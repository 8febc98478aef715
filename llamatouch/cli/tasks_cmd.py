"""``llamatouch tasks list [SUITE_OR_FILE]``: list task suites, or the tasks of one suite.

Without an argument, lists the shipped suites (``tasks/<name>.json``). With a suite name or a
suite file (e.g. ``DIR/droidtask.json`` written by ``llamatouch datasets import``), prints one
row per task: id, app, ground-truth steps, world, instruction.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from llamatouch.cli import args as argtypes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    lst = sub.add_parser(
        "list",
        help="list suites, or the tasks of one suite",
        description="Without an argument, list the shipped suites (tasks/<name>.json). With a "
        "suite name or a suite file (e.g. DIR/droidtask.json written by 'llamatouch datasets "
        "import'), print one row per task: id, app, ground-truth steps, world, instruction.",
    )
    lst.add_argument(
        "suite",
        nargs="?",
        type=argtypes.text_arg(4096),
        default=None,
        help="a shipped suite name (demo) or a suite JSON file; omit to list the shipped suites",
    )
    lst.add_argument("--width", type=argtypes.int_range(10, 10_000), default=70,
                     help="instruction column width (default 70)")


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(width - 1, 1)] + "…"


def run(ns: argparse.Namespace) -> int:
    if getattr(ns, "action", None) != "list":
        print("usage: llamatouch tasks list [SUITE_OR_FILE]", file=sys.stderr)
        return 2
    from llamatouch.paths import tasks_dir
    from llamatouch.tasks import load_suite

    if ns.suite is None:
        files = sorted(tasks_dir().glob("*.json"))
        print(f"{'suite':<20}{'tasks':>6}  {'world':<20}file")
        for f in files:
            suite = load_suite(f)
            print(f"{suite.suite:<20}{len(suite.tasks):>6}  {suite.world or '-':<20}{f}")
        print(f"{len(files)} suite(s) in {tasks_dir()}")
        return 0
    suite = load_suite(ns.suite if Path(ns.suite).exists() else str(ns.suite))
    rows = [
        (
            t.id,
            t.app_label or t.app,
            str(len(t.gt_actions)) if t.gt_actions else "-",
            t.world or suite.world or "-",
            _clip(t.instruction, ns.width),
        )
        for t in suite.tasks
    ]
    heads = ("id", "app", "gt", "world", "instruction")
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(heads[:-1])]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths) + "  {}"
    print(fmt.format(*heads))
    for r in rows:
        print(fmt.format(*r))
    with_gt = sum(1 for t in suite.tasks if t.gt_actions)
    print(
        f"{len(suite.tasks)} task(s) in suite {suite.suite!r} ({with_gt} with a ground truth) "
        f"from {suite.source}"
    )
    return 0
