"""Episodes per second with the replay agent on the DroidTask suite: local worker processes vs
Ray actors, at 1, 2 and 4 workers, in one run on this machine.

Rows (one per executor and worker count):
  local    LocalProcessExecutor with N worker processes (the default executor)
  ray      RayExecutor with N device actors on a one-node Ray started once for the benchmark
           (``llamatouch_virtual`` resources; traces shipped back to the driver, the default)

Each figure is the whole ``run_eval`` (worker/actor start, every episode, scoring, results);
Ray's own start-up (``ray.init``, ~10-15 s) is paid once and printed apart. Printed: episodes/s,
Ray's overhead against local processes at equal workers (target <= 15 %), and scaling
efficiency (eps(N) / (N x eps(1))) for both.

Usage: python benchmarks/bench_ray.py [--path DROIDTASK_DIR] [--tasks 40] [--workers 1,2,4]
       [--device virtual|adb-virtual]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

from llamatouch.datasets.droidtask import import_droidtask
from llamatouch.paths import droidtask_dir
from llamatouch.runner import EvalConfig, LocalProcessExecutor, run_eval
from llamatouch.runner.executor import Executor
from llamatouch.tasks import load_suite


def timed_run(suite: Path, task_ids: tuple[str, ...], out: Path, workers: int, device: str,
              executor: Executor) -> tuple[float, int]:
    config = EvalConfig(agent="replay", out=out, tasks=str(suite), task_ids=task_ids,
                        devices=(device,), workers=workers)
    t0 = time.perf_counter()
    outcome = run_eval(config, executor=executor)
    return time.perf_counter() - t0, outcome.ran


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", type=Path, default=droidtask_dir())
    ap.add_argument("--tasks", type=int, default=40, help="first N tasks of the suite (0: all)")
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--device", default="virtual", choices=("virtual", "adb-virtual"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    counts = [int(n) for n in args.workers.split(",")]

    import ray

    from llamatouch.runner.ray_executor import RayExecutor
    from llamatouch.runner.ray_pool import RES_VIRTUAL

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        suite_path = import_droidtask(args.path, root / "import").suite_path
        tasks = load_suite(str(suite_path)).tasks
        ids = tuple(t.id for t in (tasks[: args.tasks] if args.tasks else tasks))
        t0 = time.perf_counter()
        ray.init(resources={RES_VIRTUAL: max(counts)}, include_dashboard=False,
                 configure_logging=False, log_to_driver=False)
        ray_start = time.perf_counter() - t0
        results: dict[tuple[str, int], tuple[float, int]] = {}
        try:
            for n in counts:  # interleaved, so that load changes hit both alike
                results["local", n] = timed_run(suite_path, ids, root / f"local-{n}", n,
                                                args.device, LocalProcessExecutor())
                results["ray", n] = timed_run(suite_path, ids, root / f"ray-{n}", n,
                                              args.device, RayExecutor(max_workers=n))
        finally:
            ray.shutdown()

    print(f"DroidTask replay, {len(ids)} episodes, device {args.device}, "
          f"{os.cpu_count()} CPU(s); Ray start-up {ray_start:.1f} s (once, not counted)")
    print(f"{'executor':<8} {'workers':>7} {'seconds':>8} {'episodes/s':>10} {'scaling eff.':>12}")
    eps = {k: ran / s for k, (s, ran) in results.items()}
    for kind in ("local", "ray"):
        for n in counts:
            s, _ = results[kind, n]
            eff = eps[kind, n] / (n * eps[kind, counts[0]] / counts[0])
            print(f"{kind:<8} {n:>7} {s:>8.2f} {eps[kind, n]:>10.2f} {eff:>11.0%}")
    print("\nRay overhead vs local processes at equal workers (target <= 15%):")
    for n in counts:
        overhead = results["ray", n][0] / results["local", n][0] - 1
        print(f"  {n} worker(s): ray/local time = {1 + overhead:.2f} ({overhead:+.0%})")


if __name__ == "__main__":
    main()
