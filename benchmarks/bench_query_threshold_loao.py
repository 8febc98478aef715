"""Query optimisation's ``path_threshold`` (AutoDroid, default 0.65) under leave-one-app-out.

The threshold decides when AutoDroid follows a memorised tap path without asking the LLM. It
was chosen on all 11 DroidTask apps at once; this script reports what choosing it on 10 apps
does on the 11th. For every threshold of a grid, the offline step-wise pipeline runs over the
recorded steps with the LLM never asked (``ask_llm=False``: only memory picks are counted), and
gives per app: steps answered from memory and how many of those are the recorded element.

Selection rule (fixed before looking at held-out apps): on the training apps, the threshold
with the most correct memory answers among those whose memory precision is at least 0.85
(a wrong memory step sends the episode off the task, so precision comes first).

    .venv/bin/python benchmarks/bench_query_threshold_loao.py
"""

from __future__ import annotations

import tempfile
import time

from llamatouch.agent import AgentOptions
from llamatouch.paths import droidtask_dir
from llamatouch_agents.autodroid.offline import OfflineConfig, run_offline_stepwise

GRID = (0.45, 0.55, 0.6, 0.65, 0.7, 0.75, 0.85)
MIN_PRECISION = 0.85


def per_app_counts() -> dict[float, dict[str, tuple[int, int, int]]]:
    """threshold -> app -> (steps, answered from memory, of those correct)."""
    out: dict[float, dict[str, tuple[int, int, int]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-qt-") as mem:
        for th in GRID:
            t0 = time.perf_counter()
            report = run_offline_stepwise(
                OfflineConfig(droidtask_dir(), memory_dir=mem, ask_llm=False),
                AgentOptions(memory_dir=mem, params={"describer": "template",
                                                     "path_threshold": str(th)}),
            )
            out[th] = {a.app: (a.steps, a.saved_calls, a.memory_correct) for a in report.apps}
            print(f"  threshold {th:.2f}: done in {time.perf_counter() - t0:.0f} s")
    return out


def choose(counts: dict[float, dict[str, tuple[int, int, int]]], apps: list[str]) -> float:
    best, best_key = GRID[-1], (-1, 0.0)
    for th in GRID:
        saved = sum(counts[th][a][1] for a in apps)
        right = sum(counts[th][a][2] for a in apps)
        precision = right / saved if saved else 1.0
        if precision >= MIN_PRECISION and (right, -th) > best_key:
            best, best_key = th, (right, -th)
    return best


def main() -> None:
    print("== query optimisation threshold, leave-one-app-out over the DroidTask apps")
    counts = per_app_counts()
    apps = sorted(next(iter(counts.values())))
    print(f"\n{'held-out app':<14} {'chosen':>6} {'steps':>6} {'memory':>7} {'right':>6}"
          f" {'precision':>9}   at 0.65: memory right")
    tot = [0, 0, 0]
    tot65 = [0, 0]
    chosen = []
    for app in apps:
        th = choose(counts, [a for a in apps if a != app])
        chosen.append(th)
        steps, saved, right = counts[th][app]
        s65, r65 = counts[0.65][app][1:]
        tot[0] += steps
        tot[1] += saved
        tot[2] += right
        tot65[0] += s65
        tot65[1] += r65
        prec = f"{right / saved:.2f}" if saved else "-"
        print(f"{app:<14} {th:>6.2f} {steps:>6} {saved:>7} {right:>6} {prec:>9}   "
              f"{s65:>6} {r65:>5}")
    print(f"{'all (LOAO)':<14} {'':>6} {tot[0]:>6} {tot[1]:>7} {tot[2]:>6} "
          f"{tot[2] / max(tot[1], 1):>9.2f}   {tot65[0]:>6} {tot65[1]:>5}")
    print(f"thresholds chosen across folds: {sorted(set(chosen))}")


if __name__ == "__main__":
    main()
