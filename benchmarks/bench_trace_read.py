"""Cost of checking every field when a trace is read.

Writes N synthetic traces (S steps each, records like the runner writes: an action, its
result, LLM usage, timings) and times, in the same run:

- the floor: ``json.loads`` of every ``manifest.json`` and ``step.json`` (no checks at all);
- ``read_trace`` (every field of the manifest and of each step record checked, typed records
  built, symbolic links refused).

Prints both rates and their ratio (median of R rounds).

    .venv/bin/python benchmarks/bench_trace_read.py [--traces 200] [--steps 10] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from unittest import mock

from llamatouch.actions import Finish, Tap
from llamatouch.agent import DeviceCapabilities, LLMUsageSummary
from llamatouch.device.base import ActResult, Effect
from llamatouch.trace.format import StepRecord, TraceManifest, TraceWriter, find_traces, read_trace
from llamatouch.trace.records import EpisodeUsage, TaskRef, VerdictRecord, VerdictStatus


def _write(root: Path, n: int, steps: int) -> list[Path]:
    with mock.patch("os.fsync"):
        for t in range(n):
            w = TraceWriter(root / f"ep{t:04d}", TraceManifest(
                episode_id=f"ep{t:04d}", task=TaskRef(id=f"task{t}", app="com.app",
                                                     instruction="do the thing"),
                agent={"name": "bench"},
                device=DeviceCapabilities("virtual", "virtual", 1080, 2400)))
            for i in range(steps):
                last = i == steps - 1
                w.write_step(StepRecord(
                    index=i, activity="com.app/.Main", package="com.app",
                    action=Finish() if last else Tap(10 * i, 20 * i, element=f"k{i}"),
                    action_result=ActResult(
                        ok=True, effect=Effect.FINISHED if last else Effect.CHANGED,
                        detail="hit", timings={"input": 0.01}),
                    reasoning="because", observed_at=1.7e9 + i, acted_at=1.7e9 + i + 0.5,
                    timings={"observe": 0.05, "agent": 0.4, "act": 0.02},
                    llm=LLMUsageSummary(calls=1, prompt_tokens=900, completion_tokens=30),
                    width=1080, height=2400, extra={"agent": {"note": "x"}}), None, None)
            w.update(usage=EpisodeUsage(llm=LLMUsageSummary(calls=steps), actions=steps),
                     verdict=VerdictRecord(VerdictStatus.SUCCESS, "ok", checkpoint_steps=[1]))
            w.finish("finished")
    return find_traces(root)


def _floor(folders: list[Path]) -> int:
    n = 0
    for f in folders:
        m = json.loads((f / "manifest.json").read_bytes())
        for i in range(m["num_steps"]):
            json.loads((f / "steps" / f"{i:04d}" / "step.json").read_bytes())
            n += 1
    return n


def _checked(folders: list[Path]) -> int:
    return sum(len(read_trace(f)) for f in folders)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--traces", type=int, default=200)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folders = _write(Path(tmp), a.traces, a.steps)
        times: dict[str, list[float]] = {"json.loads (floor)": [], "read_trace (checked)": []}
        for _ in range(a.rounds):
            for name, fn in (("json.loads (floor)", _floor), ("read_trace (checked)", _checked)):
                t0 = time.perf_counter()
                steps = fn(folders)
                times[name].append(time.perf_counter() - t0)
        print(f"{a.traces} traces x {a.steps} steps ({steps} step records), median of "
              f"{a.rounds} rounds:")
        med = {k: statistics.median(v) for k, v in times.items()}
        for name, s in med.items():
            print(f"  {name:<22} {s * 1000:8.1f} ms  {a.traces / s:8.0f} traces/s  "
                  f"{steps / s:8.0f} steps/s")
        ratio = med["read_trace (checked)"] / med["json.loads (floor)"]
        print(f"  read_trace / floor: {ratio:.2f}x the time")


if __name__ == "__main__":
    main()
