"""In-process virtual device: observe() per second and memory, on the demo world and on a
DroidTask world (imported from ../shared into a temporary folder), all in one run.

Rows (observe() calls per second, median of ``--repeats`` timed batches):
  same-screen     observe() again and again on one screen (the agent loop between actions)
  walk-warm       observe() after moving to each state of the world in turn
                  (reset_to_state), every state already seen once (caches warm)
  walk-cold       the same on a fresh device over a fresh world: the first observe() of every
                  state (reads the state's XML from disk, renders a screenshot when the world has
                  none recorded)
  baseline-parse  read_uiautomator_xml() of the served dump bytes: what parsing the hierarchy
                  from scratch costs per screen, the work a caching device skips

Target (issue 4): in-process virtual observe() at least 500/s.

Memory (measured first): one device, then 32 at once, sharing one loaded world (tracemalloc
held and peak Python allocations, and the process RSS growth from /proc/self/statm), each
device having observed every state of the world once (so its caches are full). The first
device's figure includes the world's shared cache of rendered screenshots (World.rendered),
which later devices reuse.

Usage: python benchmarks/bench_virtual_device.py [--repeats 5] [--droidtask-app NAME]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from llamatouch.datasets.droidtask import import_droidtask
from llamatouch.paths import shared_data_dir
from llamatouch.ui.xmlio import read_uiautomator_xml
from llamatouch.world import World, load_world
from llamatouch_emulator.virtual import VirtualDevice
from llamatouch_emulator.worlds import demo_world_dir, load_named_world

N_DEVICES = 32


def rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def rate(fn: Callable[[], int], repeats: int) -> float:
    """Calls per second of ``fn`` (which returns how many calls it made), median of batches."""
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        n = fn()
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def walk(dev: VirtualDevice, states: list[str]) -> int:
    for sid in states:
        dev.reset_to_state(sid)
        dev.observe()
    return len(states)


def speed(label: str, load: Callable[[], World], repeats: int) -> dict[str, float]:
    world = load()
    states = sorted(world.states)
    dev = VirtualDevice(world)
    walk(dev, states)  # warm
    dev.reset_to_state(states[0])
    n_same = 2000

    def same() -> int:
        for _ in range(n_same):
            dev.observe()
        return n_same

    dumps = []
    for sid in states:
        dev.reset_to_state(sid)
        dumps.append(dev.dump_xml())

    def parse() -> int:
        for d in dumps:
            read_uiautomator_xml(d)
        return len(dumps)

    cold_rates = []
    for _ in range(max(1, repeats // 2)):
        fresh = VirtualDevice(load())
        t0 = time.perf_counter()
        walk(fresh, states)
        cold_rates.append(len(states) / (time.perf_counter() - t0))
    out = {
        "same-screen": rate(same, repeats),
        "walk-warm": rate(lambda: walk(dev, states), repeats),
        "walk-cold": statistics.median(cold_rates),
        "baseline-parse": rate(parse, repeats),
    }
    shots = sum(1 for s in world.states.values() if s.screenshot)
    print(
        f"\n[{label}] world {world.name!r}: {len(states)} states, {len(world.transitions)} "
        f"transitions, {shots} recorded screenshots"
    )
    for k, v in out.items():
        print(f"  {k:15s} {v:10.0f} /s")
    print(
        f"  same-screen / baseline-parse = {out['same-screen'] / out['baseline-parse']:.1f}x;"
        f" walk-warm / baseline-parse = {out['walk-warm'] / out['baseline-parse']:.1f}x;"
        f" target >= 500/s: same-screen {'met' if out['same-screen'] >= 500 else 'MISSED'},"
        f" walk-warm {'met' if out['walk-warm'] >= 500 else 'MISSED'}"
    )
    return out


def memory(label: str, load: Callable[[], World]) -> None:
    world = load()
    states = sorted(world.states)
    for sid in states:  # the world's own state cache, shared by every device
        world.screen(sid)
    gc.collect()
    rss0 = rss_mib()
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    one = VirtualDevice(world, serial="virtual-0")
    walk(one, states)
    gc.collect()
    cur1, peak1 = tracemalloc.get_traced_memory()
    rss1 = rss_mib()
    devs = [one] + [VirtualDevice(world, serial=f"virtual-{i}") for i in range(1, N_DEVICES)]
    for d in devs[1:]:
        walk(d, states)
    gc.collect()
    cur32, peak32 = tracemalloc.get_traced_memory()
    rss32 = rss_mib()
    tracemalloc.stop()
    print(
        f"\n[{label}] memory (world loaded once and shared; every device observed every state once)"
    )
    print(
        f"  1 device:   {(cur1 - base) / 2**20:7.2f} MiB held (tracemalloc), "
        f"peak {(peak1 - base) / 2**20:7.2f} MiB, RSS +{rss1 - rss0:7.1f} MiB"
    )
    print(
        f"  {N_DEVICES} devices: {(cur32 - base) / 2**20:7.2f} MiB held (tracemalloc), "
        f"peak {(peak32 - base) / 2**20:7.2f} MiB, RSS +{rss32 - rss0:7.1f} MiB "
        f"({(cur32 - base) / N_DEVICES / 2**20:.2f} MiB per device)"
    )
    print(f"  process RSS now {rss32:.0f} MiB")
    del devs, one


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument(
        "--droidtask-app",
        default="",
        help="DroidTask world to use (default: the one with the most states)",
    )
    args = ap.parse_args()
    print(f"demo world: {demo_world_dir()}")
    with tempfile.TemporaryDirectory() as tmp:
        src = shared_data_dir() / "data" / "droidtask"
        t0 = time.perf_counter()
        res = import_droidtask(src, Path(tmp))
        print(f"\nDroidTask imported from {src} in {time.perf_counter() - t0:.1f} s")
        worlds = sorted((Path(tmp) / "worlds").iterdir())
        if args.droidtask_app:
            chosen = Path(tmp) / "worlds" / args.droidtask_app
        else:
            chosen = max(worlds, key=lambda p: len(load_world(p).states))
        del res
        # memory first, so that RSS growth is not hidden by pages freed by the speed runs
        memory("demo", lambda: load_named_world("demo"))
        memory(f"droidtask:{chosen.name}", lambda: load_world(chosen))
        speed("demo", lambda: load_named_world("demo"), args.repeats)
        speed(f"droidtask:{chosen.name}", lambda: load_world(chosen), args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
