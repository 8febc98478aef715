"""``llamatouch world record`` speed and coverage: every demo app, and DroidTask apps imported
from ../shared, recorded through the real ADB path, next to the same recording on the
in-process virtual device (the baseline: exploration work without the ADB round trips).

For each app (one row per path):
  states          states recorded (content-keyed)
  edges           candidate actions tried
  steps           device actions sent (exploration + navigation + restarts)
  time            wall-clock seconds
  states/min      states found per minute
  steps/s         device actions per second
  reach-cov       share of the source world's states reachable from the app's launch screen
                  that the recording has (``llamatouch world diff --app``)
  adb/in-proc     time through ADB divided by time in process, same app, same run

Usage: python benchmarks/bench_world_record.py [--droidtask-app clock ...] [--repeat 2]
       [--budget-minutes 10] [--no-demo]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from llamatouch.datasets.droidtask import import_droidtask
from llamatouch.paths import shared_data_dir
from llamatouch.record.diff import diff_worlds
from llamatouch.record.explorer import Explorer, RecordConfig, RecordOutcome
from llamatouch.world import World, load_world
from llamatouch_emulator.harness import AdbSession, SessionConfig, free_port
from llamatouch_emulator.virtual import VirtualDevice
from llamatouch_emulator.worlds import demo_world_dir, load_named_world

DEMO_APPS = ("com.llamatouch.notes", "com.llamatouch.contacts", "com.llamatouch.clock",
             "com.llamatouch.settings", "com.llamatouch.shop")


@dataclass(frozen=True, slots=True)
class Row:
    """One recording's figures."""

    label: str
    path: str
    outcome: RecordOutcome
    seconds: float
    coverage: float
    reachable: str


def record(world_dir: Path, app: str, out: Path, *, adb: bool, repeat: int,
           budget_minutes: float) -> tuple[RecordOutcome, float]:
    config = RecordConfig(app=app, out=out, repeats=repeat, budget_minutes=budget_minutes)
    t0 = time.perf_counter()
    if adb:
        with AdbSession.for_world(world_dir, config=SessionConfig(
                adb_port=free_port(), device_port=free_port())) as s:
            device = s.make_device()
            device.reset_hook = None  # restarts go through am force-stop + monkey, as on a phone
            outcome = Explorer(device, config).run()
    else:
        outcome = Explorer(VirtualDevice(load_world(world_dir)), config).run()
    return outcome, time.perf_counter() - t0


def measure(label: str, world_dir: Path, source: World, app: str, tmp: Path, *, repeat: int,
            budget_minutes: float) -> list[Row]:
    rows = []
    for adb in (False, True):
        path = "adb" if adb else "in-proc"
        out = tmp / f"{label}-{path}"
        outcome, secs = record(world_dir, app, out, adb=adb, repeat=repeat,
                               budget_minutes=budget_minutes)
        d = diff_worlds(load_world(out), source, app)
        rows.append(Row(label, path, outcome, secs, d.reachable_coverage,
                        f"{d.reachable_found}/{d.reachable_b}"))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--droidtask-app", action="append", default=None,
                    help="DroidTask app folder(s) to record (default: clock)")
    ap.add_argument("--repeat", type=int, default=2, help="RecordConfig.repeats (default 2)")
    ap.add_argument("--budget-minutes", type=float, default=10.0)
    ap.add_argument("--no-demo", action="store_true", help="skip the demo apps")
    args = ap.parse_args()
    os.environ.setdefault("ADB_MDNS", "0")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        if not args.no_demo:
            demo = load_named_world("demo")
            for app in DEMO_APPS:
                rows += measure(f"demo:{app.rsplit('.', 1)[-1]}", demo_world_dir(), demo, app,
                                tmp, repeat=1, budget_minutes=args.budget_minutes)
        apps = args.droidtask_app or ["clock"]
        src = shared_data_dir() / "data" / "droidtask"
        if src.is_dir():
            data = tmp / "dt-data"
            data.mkdir()
            for app in apps:
                (data / app).symlink_to(src / app, target_is_directory=True)
            result = import_droidtask(data, tmp / "dt")
            for app in apps:
                world_dir = result.worlds[app]
                source = load_world(world_dir)
                rows += measure(f"droidtask:{app}", world_dir, source, source.apps[0].package,
                                tmp, repeat=args.repeat, budget_minutes=args.budget_minutes)
        else:
            print(f"(no DroidTask data at {src}: demo apps only)")
    print(f"{'app':24s} {'path':8s} {'states':>6s} {'edges':>6s} {'steps':>6s} {'time s':>7s} "
          f"{'states/min':>10s} {'steps/s':>8s} {'reach-cov':>14s} {'adb/in-proc':>11s}")
    base: dict[str, float] = {}
    for r in rows:
        p = r.outcome.progress
        if r.path == "in-proc":
            base[r.label] = r.seconds
        ratio = f"{r.seconds / base[r.label]:.1f}x" if r.path == "adb" else ""
        print(f"{r.label:24s} {r.path:8s} {p.states:6d} {p.edges:6d} {p.steps:6d} "
              f"{r.seconds:7.1f} {60 * p.states / r.seconds:10.0f} {p.steps / r.seconds:8.0f} "
              f"{r.reachable + f' {r.coverage:.0%}':>14s} {ratio:>11s}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
