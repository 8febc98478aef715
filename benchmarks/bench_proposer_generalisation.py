"""F1 of the automatic proposals per failure mode, with leave-one-app-out tuning and 95% CIs.

Imports ../shared/data/droidtask (or --import-dir, an existing import), replays every
unflagged task on the virtual device, generates the failure-mode variants
(llamatouch.datasets.failure_modes), labels them by the instruction, proposes an annotation
per task from its ground-truth replay and scores every variant with it
(llamatouch.annotating.generalisation). Prints markdown tables: overall figures for the
leave-one-app-out proposer and for the baseline proposer (no world, no goal kind), per-mode
figures, and the threshold each fold chose.

Usage: python benchmarks/bench_proposer_generalisation.py [--import-dir DIR] [--apps a,b]
       [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from llamatouch.annotating.generalisation import Study, run_study
from llamatouch.datasets.droidtask import import_droidtask
from llamatouch.evaluator.agreement import Metrics
from llamatouch.paths import droidtask_dir


def _ci(ci: Any) -> str:
    lo, hi = ci
    return f"[{lo:.3f}, {hi:.3f}]"


def _overall_row(name: str, m: Metrics) -> str:
    return (
        f"| {name} | {m.n} | {m.f1:.3f} {_ci(m.intervals['f1'])} | "
        f"{m.accuracy:.3f} {_ci(m.intervals['accuracy'])} | {m.kappa:.3f} |"
    )


def report(study: Study) -> dict[str, Any]:
    loao, base = study.overall(study.loao), study.overall(study.baseline)
    print(f"tasks: {study.tasks}, labelled traces: {len(study.cases)}\n")
    print("| proposer | traces | F1 (95% CI) | accuracy (95% CI) | kappa |")
    print("|---|---|---|---|---|")
    print(_overall_row("world + goal kind, leave-one-app-out", loao))
    print(_overall_row("baseline (trace only)", base))
    print("\n| mode | label | traces | accuracy LOAO (95% CI) | F1 with GT LOAO (95% CI) |"
          " accuracy baseline |")
    print("|---|---|---|---|---|---|")
    per, per_base = study.per_mode(study.loao), study.per_mode(study.baseline)
    for mode, row in per.items():
        print(
            f"| {mode} | {row['label']} | {row['n']} | {row['accuracy']:.3f} "
            f"{_ci(row['accuracy_ci95'])} | {row['f1_with_gt']:.3f} {_ci(row['f1_ci95'])} | "
            f"{per_base[mode]['accuracy']:.3f} |"
        )
    print("\nthreshold chosen per held-out app (common_fraction):")
    print(", ".join(f"{a}={v}" for a, v in sorted(study.chosen.items())))
    print("F1 over all traces per value tried (1.01: filter off): "
          + ", ".join(f"{v}: {f:.3f}" for v, f in study.grid_f1.items()))
    return {
        "tasks": study.tasks,
        "traces": len(study.cases),
        "loao": loao.to_json(),
        "baseline": base.to_json(),
        "per_mode_loao": per,
        "per_mode_baseline": per_base,
        "chosen": study.chosen,
        "grid_f1": study.grid_f1,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--import-dir", type=Path, help="an existing DroidTask import")
    ap.add_argument("--apps", help="comma-separated app folders (default: all)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-proposer-") as tmp:
        t0 = time.perf_counter()
        root = args.import_dir
        if root is None:
            root = Path(tmp) / "import"
            import_droidtask(droidtask_dir(), root)
        apps = set(args.apps.split(",")) if args.apps else None
        study = run_study(root, Path(tmp) / "work", apps=apps)
        out = report(study)
        print(f"\n({time.perf_counter() - t0:.0f} s)")
        if args.json:
            args.json.write_text(json.dumps(out, indent=2, default=list))


if __name__ == "__main__":
    main()
