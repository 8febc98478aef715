"""``llamatouch annotations propose GT_TRACES_DIR --tasks SUITE_FILE --out DIR``.

Proposes one essential-state annotation per task of the suite from its ground-truth trace
(``GT_TRACES_DIR/<task id>/``, as ``llamatouch datasets import`` writes them), runs the
self-tests on each (the ground truth scores ``success``, its first screen alone and the trace
stopped one action short score ``fail``) and reports them: on the terminal, and in
``DIR/selftest-report.json``. With the task's world (``--worlds``, default: the ``worlds``
folder beside the suite file) the proposer also drops texts that do not tell the goal apart.
The proposals are drafts to review (``llamatouch annotate``). See ``docs/annotations.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from llamatouch.cli import args as argtypes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    prop = sub.add_parser(
        "propose",
        help="propose an annotation per task from its ground-truth trace, with self-tests",
        description="Propose one essential-state annotation per task of SUITE_FILE from its "
        "ground-truth trace GT_TRACES_DIR/<task id>/, run the self-tests on each and report "
        "them (DIR/selftest-report.json). The proposals are drafts to review.",
    )
    prop.add_argument("traces", type=argtypes.existing_dir, metavar="GT_TRACES_DIR",
                      help="folder with one ground-truth trace per task (<task id>/)")
    prop.add_argument("--tasks", type=argtypes.existing_file, required=True,
                      metavar="SUITE_FILE", help="the task suite (JSON)")
    prop.add_argument("--out", type=argtypes.output_dir, required=True, metavar="DIR",
                      help="where the annotations (<task id>.json) are written")
    prop.add_argument("--worlds", type=argtypes.existing_dir, default=None,
                      help="folder of the suite's worlds (default: SUITE_FILE's folder/worlds "
                      "when present)")
    prop.add_argument("--include-flagged", action="store_true",
                      help="also propose for tasks the suite flags (left out by default)")


def run(args: argparse.Namespace) -> int:
    if getattr(args, "action", None) != "propose":
        print("usage: llamatouch annotations propose GT_TRACES_DIR --tasks SUITE_FILE "
              "--out DIR", file=sys.stderr)
        return 2
    from tqdm import tqdm

    from llamatouch.annotating.goal import AppTexts
    from llamatouch.annotating.propose import propose_annotation
    from llamatouch.annotating.selftest import self_test
    from llamatouch.essential.schema import save_annotation
    from llamatouch.fsutil import atomic_write_json, safe_join
    from llamatouch.tasks import load_suite
    from llamatouch.trace.format import is_trace_dir, read_trace
    from llamatouch.world import World, load_world

    suite = load_suite(args.tasks, include_flagged=args.include_flagged)
    worlds_dir: Path | None = args.worlds
    if worlds_dir is None and (Path(args.tasks).parent / "worlds").is_dir():
        worlds_dir = Path(args.tasks).parent / "worlds"
    texts: dict[str, AppTexts | None] = {}
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    missing: list[str] = []
    with tqdm(total=len(suite.tasks), desc="proposals", unit="task", file=sys.stderr) as bar:
        for task in suite.tasks:
            bar.update()
            folder = safe_join(args.traces, task.id)
            if not is_trace_dir(folder):
                missing.append(task.id)
                continue
            trace = read_trace(folder)
            world_name = task.world or suite.world
            if world_name not in texts:
                world: World | None = None
                if worlds_dir is not None and (worlds_dir / world_name / "world.json").is_file():
                    world = load_world(safe_join(worlds_dir, world_name))
                texts[world_name] = None if world is None else AppTexts.of(world, task.app)
            ann = propose_annotation(trace, task, texts=texts[world_name])
            save_annotation(ann, safe_join(out_dir, f"{task.id}.json"))
            rows.append(self_test(ann, trace).to_json())
    ok = sum(1 for r in rows if r["ok"])
    atomic_write_json(
        out_dir / "selftest-report.json",
        {"suite": suite.suite, "proposed": len(rows), "selftests_ok": ok,
         "missing_traces": missing, "selftests": rows},
    )
    print(f"proposed:         {len(rows)} annotation(s) in {out_dir}")
    print(f"self-tests ok:    {ok}/{len(rows)}")
    for r in rows:
        if not r["ok"]:
            why = "; ".join(f"{k}: {v}" for k, v in r["reasons"].items() if v)
            print(f"  {r['task_id']}: gt={r['gt']} first_screen={r['first_screen']} "
                  f"cut={r['cut']} ({why})")
    if missing:
        print(f"no ground-truth trace for {len(missing)} task(s): {', '.join(missing[:10])}"
              + (" ..." if len(missing) > 10 else ""))
    if not rows:
        print("llamatouch annotations: error: no task had a ground-truth trace in "
              f"{args.traces}", file=sys.stderr)
        return 1
    return 0
