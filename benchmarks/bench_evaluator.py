"""Evaluator throughput on DroidTask traces, on one core.

Builds the DroidTask worlds (importer), writes every variant trace of every resolved task
(ground truth, stopped short, wrong last action, detours...; see
``llamatouch.evaluator.pathgen``), then scores them all with

1. the essential-state evaluator and the shipped annotations (no semantic primitive);
2. the same annotations with a ``semantic`` primitive added next to every ``exact`` one that
   names a text (MiniLM, first pass with a cold embedding cache, second pass warm);
3. the two action-matching baselines (``exact``, ``lcs``), as the reference measured in the
   same run.

Prints traces/s (median of the timed passes), the ratio to the baselines, tracemalloc's peak
while scoring and the process's peak RSS. Usage::

    .venv/bin/python benchmarks/bench_evaluator.py [--repeat 3] [--cpu 0]
"""

from __future__ import annotations

import argparse
import os

# one core: pin BLAS/OpenMP thread pools before numpy is imported
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402
from unittest import mock  # noqa: E402

from llamatouch.datasets.droidtask import import_droidtask  # noqa: E402
from llamatouch.essential.schema import (  # noqa: E402
    Primitive,
    load_annotations_dir,
    save_annotation,
)
from llamatouch.evaluator import EvalOptions, score_dir  # noqa: E402
from llamatouch.evaluator.pathgen import write_variants  # noqa: E402
from llamatouch.paths import annotations_dir, droidtask_dir  # noqa: E402
from llamatouch.world import load_world  # noqa: E402


def build(tmp: Path) -> tuple[Path, int]:
    imported = import_droidtask(droidtask_dir(), tmp / "import")
    worlds = {}
    out = tmp / "traces"
    n = 0
    with mock.patch("os.fsync"):  # throw-away benchmark files: durability is irrelevant
        for task in imported.fully_resolved:
            world = worlds.get(task.world)
            if world is None:
                world = worlds[task.world] = load_world(imported.out_dir / "worlds" / task.world)
            n += len(write_variants(world, task, out))
    return out, n


def with_semantic(src: Path, dst: Path) -> int:
    anns = load_annotations_dir(src)
    added = 0
    for ann in anns.values():
        for cp in ann.checkpoints:
            for p in list(cp.primitives):
                if p.type == "exact" and p.component is not None and p.component.text:
                    comp = type(p.component)(text=p.component.text)
                    cp.primitives.append(Primitive("semantic", component=comp, threshold=0.8))
                    added += 1
        save_annotation(ann, dst / f"{ann.task_id}.json")
    return added


def timed(label: str, traces: Path, anns: Path, repeat: int, **kw: object) -> dict[str, float]:
    """Median wall time of ``repeat`` passes (no tracing), then one traced pass for memory."""
    times = []
    statuses: dict[str, int] = {}
    n = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = score_dir(traces, anns, **kw)  # type: ignore[arg-type]
        times.append(time.perf_counter() - t0)
        n = len(res)
        statuses = {}
        for r in res:
            statuses[r.status] = statuses.get(r.status, 0) + 1
    tracemalloc.start()
    score_dir(traces, anns, **kw)  # type: ignore[arg-type]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    med = statistics.median(times)
    print(
        f"{label:<44} {n / med:8.1f} traces/s  (median of {repeat}: {med * 1000:7.1f} ms "
        f"for {n} traces; peak traced {peak / 2**20:6.1f} MiB; {statuses})"
    )
    return {"traces_per_s": n / med, "seconds": med, "n": n, "peak_mib": peak / 2**20}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cpu", type=int, default=0, help="core to pin the process to")
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    print(f"pinned to core {args.cpu}; BLAS threads = {os.environ['OMP_NUM_THREADS']}")
    with tempfile.TemporaryDirectory(prefix="bench-evaluator-") as td:
        tmp = Path(td)
        t0 = time.perf_counter()
        traces, n = build(tmp)
        print(f"built {n} DroidTask variant traces in {time.perf_counter() - t0:.1f} s")
        anns = annotations_dir() / "droidtask"
        sem = tmp / "semantic-annotations"
        sem.mkdir()
        added = with_semantic(anns, sem)
        figs: dict[str, dict[str, float]] = {}
        figs["exact_baseline"] = timed(
            "baseline: AITW exact action match", traces, anns, args.repeat, evaluator="exact"
        )
        figs["lcs_baseline"] = timed(
            "baseline: LCS over actions", traces, anns, args.repeat, evaluator="lcs"
        )
        figs["essential"] = timed(
            "essential states (no semantic)", traces, anns, args.repeat, options=EvalOptions()
        )
        from llamatouch.embed import get_encoder

        t0 = time.perf_counter()
        get_encoder()
        load_s = time.perf_counter() - t0
        print(f"MiniLM encoder loaded once in {load_s:.2f} s ({added} semantic primitives added)")
        figs["semantic_cold"] = timed("essential + semantic (cold embedding cache)", traces, sem, 1)
        figs["semantic_warm"] = timed("essential + semantic (warm cache)", traces, sem, args.repeat)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        ess = figs["essential"]["traces_per_s"]
        r_exact = ess / figs["exact_baseline"]["traces_per_s"]
        r_lcs = ess / figs["lcs_baseline"]["traces_per_s"]
        print(
            f"\nessential / exact-match baseline speed: {r_exact:.2f}x; essential / LCS: "
            f"{r_lcs:.2f}x"
        )
        print(
            f"target >= 200 traces/s without semantic: {'met' if ess >= 200 else 'NOT met'} "
            f"({ess:.0f}/s)"
        )
        print(f"peak RSS of the whole process (incl. import, trace writing, MiniLM): {rss:.0f} MiB")
        if args.json:
            Path(args.json).write_text(json.dumps({"figures": figs, "peak_rss_mib": rss}, indent=2))


if __name__ == "__main__":
    main()
