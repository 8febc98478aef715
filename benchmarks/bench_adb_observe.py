"""observe() latency through AdbDevice against the virtual device's ADB server, next to the
raw adb calls it wraps, all measured in the same run on the same served device.

Rows:
  raw-cli     the adb binary as a user script calls it, one process per call:
              `adb exec-out screencap -p` + `adb shell uiautomator dump` + `adb shell cat FILE`
  raw-adbutils the same three calls in-process through adbutils (no process spawns; adbutils
              sleeps 10 ms whenever it closes a connection)
  raw-exec    the same three calls on AdbDevice's own transport, unwrapped (the baseline for
              "our overhead")
  observe     AdbDevice.observe() on the plain adb path (screenshot + dump + read + XML parse
              + foreground activity via dumpsys)
  observe-sd  the screenshot + dump part of observe() alone (its own per-call timings), i.e.
              the work the raw rows do
  observe-u2  AdbDevice.observe() on the uiautomator2 path

Rows are timed round-robin (one call of each per round) so machine load hits all alike.
Target (issue 4): observe() at most 10% above the raw calls it wraps.
Usage: python benchmarks/bench_adb_observe.py [--n 40] [--world demo]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from collections.abc import Callable

import adbutils

from llamatouch_emulator.harness import AdbSession


def measure(
    fns: dict[str, Callable[[], object]], n: int, warmup: int = 3
) -> dict[str, list[float]]:
    """Time every row ``n`` times, round-robin (one call of each row per round), so that load
    from other processes on the machine hits every row alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    out: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(n):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            out[name].append(time.perf_counter() - t0)
    return out


def p95(xs: list[float]) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(0.95 * (len(s) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40, help="timed repetitions per row")
    ap.add_argument("--world", default="demo")
    args = ap.parse_args()
    with AdbSession.for_world(args.world) as s:
        s.virtual.reset("com.llamatouch.notes")
        env = s.env()
        dump = "/sdcard/window_dump.xml"

        def raw_cli() -> None:
            for argv in (("exec-out", "screencap", "-p"), ("shell", "uiautomator", "dump"),
                         ("shell", "cat", dump)):
                subprocess.run(s.adb_cmd(*argv), env=env, capture_output=True, check=True)

        d = adbutils.AdbClient(host="127.0.0.1", port=s.adb_port).device(s.serial)

        def raw_adbutils() -> None:
            png = d.shell("screencap -p", encoding=None)
            d.shell("uiautomator dump")
            xml = d.sync.read_bytes(dump)
            assert png[:4] == b"\x89PNG" and xml.startswith(b"<?xml")

        plain = s.make_device(use_u2="off")
        sd: list[float] = []

        def raw_exec() -> None:
            # the same three calls on AdbDevice's own transport (no wrapping, no parsing)
            png = plain._exec_raw("screencap -p", 20)
            plain._exec_raw("uiautomator dump", 20)
            xml = plain._exec_raw(f"cat {dump}", 20)
            assert png[:4] == b"\x89PNG" and xml.startswith(b"<?xml")

        def observe() -> None:
            obs = plain.observe()
            sd.append(obs.timings["screenshot"] + obs.timings["dump"])

        u2 = s.make_device(use_u2="on")
        u2.observe()

        times = measure({"raw-cli": raw_cli, "raw-adbutils": raw_adbutils, "raw-exec": raw_exec,
                         "observe": observe, "observe-u2": lambda: u2.observe()}, args.n)
        rows = [(name, times[name])
                for name in ("raw-cli", "raw-adbutils", "raw-exec", "observe")]
        rows.append(("observe-sd", sd[-args.n:]))
        rows.append(("observe-u2", times["observe-u2"]))

    print(f"observe() latency, world {args.world!r}, n={args.n} (milliseconds)")
    print(f"{'row':<14}{'median':>9}{'p95':>9}{'mean':>9}")
    med = {}
    for name, xs in rows:
        med[name] = statistics.median(xs)
        print(f"{name:<14}{1000 * med[name]:>9.2f}{1000 * p95(xs):>9.2f}"
              f"{1000 * statistics.fmean(xs):>9.2f}")
    print()
    base = med["raw-exec"]
    print(f"observe / raw-exec          = {med['observe'] / base:.2f}  "
          "(whole observe incl. activity query + XML parse; target <= 1.10)")
    print(f"observe-sd / raw-exec       = {med['observe-sd'] / base:.2f}  "
          "(screenshot + dump part: the same work as the raw calls)")
    print(f"observe / raw-adbutils      = {med['observe'] / med['raw-adbutils']:.2f}")
    print(f"observe / raw-cli           = {med['observe'] / med['raw-cli']:.2f}")
    print(f"observe-u2 / observe        = {med['observe-u2'] / med['observe']:.2f}")


if __name__ == "__main__":
    main()
