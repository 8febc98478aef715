"""In-process virtual device: observe() per second on the demo world (cold = first
rendering of each screen, warm = rendered-screenshot cache hit), memory of 1 and 32 devices."""

from __future__ import annotations

import time
import tracemalloc

from llamatouch_emulator.virtual import VirtualDevice
from llamatouch_emulator.worlds import load_named_world


def main() -> None:
    world = load_named_world("demo")
    dev = VirtualDevice(world)
    apps = [a.package for a in world.apps]
    t0 = time.perf_counter()
    for p in apps:
        dev.reset(p)
        dev.observe()
    cold = len(apps) / (time.perf_counter() - t0)
    n = 2000
    t0 = time.perf_counter()
    for i in range(n):
        if i % 50 == 0:
            dev.reset(apps[(i // 50) % len(apps)])
        dev.observe()
    warm = n / (time.perf_counter() - t0)
    print(f"observe/s cold (render each screen): {cold:.1f}")
    print(f"observe/s warm (cache):              {warm:.1f}  (target >= 500)")
    print(f"ratio warm/cold:                     {warm / cold:.1f}x")
    tracemalloc.start()
    one = VirtualDevice(world)
    one.observe()
    cur1, _ = tracemalloc.get_traced_memory()
    devs = [VirtualDevice(world, serial=f"v{i}") for i in range(32)]
    for d in devs:
        d.observe()
    cur32, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"memory: 1 device {cur1 / 1024:.0f} KiB, 32 devices {cur32 / 1024:.0f} KiB "
        f"(peak {peak / 1024:.0f} KiB; world shared)"
    )


if __name__ == "__main__":
    main()
