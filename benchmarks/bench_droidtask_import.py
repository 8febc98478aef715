"""DroidTask import speed, next to the cost of merely reading the same files, in one run.

Rows:
  raw-read     json.loads of every state/event file + yaml.safe_load of every task file (the
               floor: any importer has to read them)
  import-bare  llamatouch.datasets.droidtask.import_droidtask with annotations={} (parse,
               de-duplicate, build the worlds, resolve every task record, replay every ground
               truth on the virtual device, write worlds/suite/report)
  import       the default import: also scores every replay with the shipped annotation
  gt-traces    write_gt_traces for every fully resolved task (hierarchy XML + a screenshot
               rendered from the hierarchy per step, atomic step folders)

Usage: python benchmarks/bench_droidtask_import.py [--path DIR] [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from llamatouch.datasets.droidtask import import_droidtask
from llamatouch.datasets.gt_trace import write_gt_traces
from llamatouch.paths import droidtask_dir


def raw_read(root: Path) -> int:
    n = 0
    for f in sorted(root.glob("*/states/*.json")) + sorted(root.glob("*/events/*.json")):
        with contextlib.suppress(json.JSONDecodeError):  # the two malformed event files
            json.loads(f.read_bytes())
        n += 1
    for f in sorted(root.glob("*/task*.yaml")):
        yaml.safe_load(f.read_text())
        n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", type=Path, default=droidtask_dir())
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    raw_t, bare_t, imp_t, gt_t = [], [], [], []
    files = states = tasks = steps = 0
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        files = raw_read(args.path)
        raw_t.append(time.perf_counter() - t0)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            import_droidtask(args.path, Path(tmp) / "bare", annotations={})
            bare_t.append(time.perf_counter() - t0)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            res = import_droidtask(args.path, tmp)
            imp_t.append(time.perf_counter() - t0)
            states = res.report.total("state_files")
            t0 = time.perf_counter()
            traces = write_gt_traces(
                res.suite, res.out_dir, Path(tmp) / "traces", tasks=res.fully_resolved
            )
            gt_t.append(time.perf_counter() - t0)
            tasks = len(traces)
            steps = sum(len(t.gt_states) for t in res.fully_resolved)
    raw, bare, imp, gt = (statistics.median(x) for x in (raw_t, bare_t, imp_t, gt_t))
    print(f"dataset: {args.path} ({files} files, {states} state files), median of {args.repeat}")
    print(f"{'row':<12}{'seconds':>9}  rate")
    print(f"{'raw-read':<12}{raw:>9.2f}  {files / raw:,.0f} files/s")
    print(
        f"{'import-bare':<12}{bare:>9.2f}  {states / bare:,.0f} state files/s  "
        f"({bare / raw:.1f}x raw-read)"
    )
    print(
        f"{'import':<12}{imp:>9.2f}  {states / imp:,.0f} state files/s  ({imp / raw:.1f}x raw-read)"
    )
    print(f"{'gt-traces':<12}{gt:>9.2f}  {tasks} traces, {steps / gt:,.0f} steps/s")


if __name__ == "__main__":
    main()
