"""AutoDroid with the embedded model: where a step's time goes, what prefix caching buys, and
how many LLM calls query optimisation saves.

1. Per-step latency on the demo world through the ADB path (real adb server <-> our ADB
   server <-> AdbDevice), embedded SmolLM2-135M-Instruct via llama.cpp: observe, prompt build
   (screen -> HTML, prompt, answer parsing), prefill, decode, act.
2. Prefill with prompt-prefix caching against without, in the same run: the prompts recorded in
   part 1 are replayed, in order, through two backends that differ only in ``prefix_cache``.
   Target: at least 2x less prefill time per step after the first of each episode.
3. LLM calls saved by query optimisation on DroidTask: the offline step-wise evaluation with
   the exploration memory (template describer) over every app, counting the recorded steps a
   confident memory path answers without the LLM, and how many of those picks are right.

4. The embedded model offline on DroidTask (every app, ``--offline-tasks`` tasks per app):
   action accuracy, completion (the artifact's definition) and accuracy per action type, for
   each configuration given with ``--config NAME:KEY=VALUE,KEY=VALUE`` (agent params; the
   key ``memdir=1`` gives the configuration an exploration memory and query optimisation).
   Nothing here is tuned on these apps: every app is held out (leave-one-app-out holds
   trivially); the per-app rows are printed so that any later tuning can be checked app by
   app. ``--only-offline`` runs part 4 alone.

Usage: python benchmarks/bench_autodroid.py [--tasks N] [--max-steps N] [--skip-droidtask]
       python benchmarks/bench_autodroid.py --only-offline --offline-tasks 2 \
           --config before:answer=id,id_grammar=any --config after:answer=label
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from typing import Any

from llamatouch.agent import AgentOptions, AgentTask, DeviceCapabilities, StepHistory
from llamatouch.llm import LLMConfig, load_backend
from llamatouch.llm.base import ChatMessage, LLMBackend, LLMResult
from llamatouch.paths import droidtask_dir
from llamatouch.tasks import load_suite


class RecordingLLM(LLMBackend):
    """Delegates to a backend and keeps every prompt (with the episode it belongs to)."""

    name = "recording"

    def __init__(self, inner: LLMBackend) -> None:
        self.inner = inner
        self.episode = 0
        self.prompts: list[tuple[int, list[ChatMessage]]] = []

    def complete(self, messages: list[ChatMessage], **kw: Any) -> LLMResult:
        self.prompts.append((self.episode, list(messages)))
        return self.inner.complete(messages, **kw)


def part1_latency(n_tasks: int, max_steps: int) -> tuple[list[dict[str, float]], RecordingLLM]:
    from llamatouch_agents.autodroid import AutoDroidAgent
    from llamatouch_emulator.harness import AdbSession
    from llamatouch_emulator.virtual import VirtualDevice
    from llamatouch_emulator.worlds import load_named_world

    suite = load_suite("demo")
    world = load_named_world("demo")
    llm = RecordingLLM(load_backend(LLMConfig(prefix_cache=True)))
    mem_dir = tempfile.mkdtemp(prefix="bench-autodroid-mem-")
    agent = AutoDroidAgent(
        AgentOptions(memory_dir=mem_dir, params={"describer": "template"}), llm=llm
    )
    rows: list[dict[str, float]] = []
    served = VirtualDevice(world, seed=0)
    with AdbSession(served) as session:
        dev = session.device
        w, h = dev.screen_size()
        caps = DeviceCapabilities(session.serial, "adb-virtual", w, h, True, str(world.root))
        for ep, task in enumerate(suite.tasks[:n_tasks]):
            llm.episode = ep
            dev.reset(task.app)
            # the agent's view (no ground truth), as the runner gives it; builds the app's
            # memory on first use (not timed)
            agent.reset(AgentTask.from_task(task, max_steps=max_steps), caps)
            history: list[StepHistory] = []
            for i in range(max_steps):
                t0 = time.perf_counter()
                obs = dev.observe()
                t_obs = time.perf_counter() - t0
                t0 = time.perf_counter()
                step = agent.step(obs, history)
                t_agent = time.perf_counter() - t0
                u = step.usage
                t_act = 0.0
                if step.action.kind != "finish":
                    t0 = time.perf_counter()
                    res = dev.act(step.action)
                    t_act = time.perf_counter() - t0
                    history.append(StepHistory(i, step.action, step.reasoning, res.effect,
                                               obs.activity, step.description))
                rows.append({
                    "episode": ep,
                    "observe": t_obs,
                    "prompt": max(0.0, t_agent - u.seconds),
                    "prefill": u.prefill_s,
                    "decode": u.decode_s,
                    "act": t_act,
                    "calls": u.calls,
                    "saved": u.saved_calls,
                    "prompt_tokens": u.prompt_tokens,
                    "cached_tokens": u.cached_prompt_tokens,
                })
                if step.action.kind == "finish":
                    break
    agent.close()
    llm.inner.close()
    return rows, llm


def part2_prefix_cache(prompts: list[tuple[int, list[ChatMessage]]]) -> None:
    from llamatouch_agents.autodroid.prompt import ANSWER_SCHEMA

    results: dict[bool, list[tuple[int, float, int]]] = {}
    for cached in (True, False):
        backend = load_backend(LLMConfig(prefix_cache=cached))
        out = []
        for ep, msgs in prompts:
            r = backend.complete(msgs, json_schema=ANSWER_SCHEMA, max_tokens=48)
            out.append((ep, r.usage.prefill_s, r.usage.prefilled_tokens))
        backend.close()
        results[cached] = out

    def after_first(rows: list[tuple[int, float, int]]) -> list[tuple[float, int]]:
        seen: set[int] = set()
        keep = []
        for ep, s, n in rows:
            if ep in seen:
                keep.append((s, n))
            seen.add(ep)
        return keep

    on, off = after_first(results[True]), after_first(results[False])
    if not on:
        print("part 2: no episode had more than one LLM call; nothing to compare")
        return
    mean_on = statistics.mean(s for s, _ in on)
    mean_off = statistics.mean(s for s, _ in off)
    print(f"\n== 2. prefill per step after the first (same {len(on)} prompts, same run)")
    print(f"  with prefix cache:    {1000 * mean_on:8.1f} ms  "
          f"({statistics.mean(n for _, n in on):.0f} tokens prefilled)")
    print(f"  without prefix cache: {1000 * mean_off:8.1f} ms  "
          f"({statistics.mean(n for _, n in off):.0f} tokens prefilled)")
    print(f"  ratio (without / with): {mean_off / mean_on:.2f}x  (target >= 2x)")


def part3_saved_calls(thresholds: tuple[float, ...] = (0.65, 0.75, 0.55)) -> None:
    from llamatouch_agents.autodroid.offline import (
        OfflineConfig,
        format_offline_table,
        run_offline_stepwise,
    )

    print("\n== 3. query optimisation on DroidTask (offline step-wise over all apps; memory "
          "from each app's imported transition graph, template describer, MiniLM retrieval)")
    with tempfile.TemporaryDirectory(prefix="bench-autodroid-dt-") as mem:
        for i, th in enumerate(thresholds):
            t0 = time.perf_counter()
            report = run_offline_stepwise(
                OfflineConfig(droidtask_dir(), memory_dir=mem, ask_llm=False),
                AgentOptions(memory_dir=mem, params={"describer": "template",
                                                     "path_threshold": str(th)}),
            )
            dt = time.perf_counter() - t0
            total = report.total()
            if i == 0:
                print(format_offline_table(report))
                print("  (accuracy columns count only memory picks: the LLM was not asked)")
            print(f"  path_threshold {th:.2f}: {total.saved_calls} of {total.steps} recorded steps "
                  f"({100 * total.saved_calls / max(total.steps, 1):.1f}%) answered from memory "
                  f"without an LLM call, {total.memory_correct} of them the recorded element "
                  f"({dt:.0f} s)")


def part4_embedded_offline(configs: list[str], tasks_per_app: int, out: str) -> None:
    import json
    from pathlib import Path

    from llamatouch_agents.autodroid.offline import (
        OfflineConfig,
        format_offline_table,
        run_offline_stepwise,
    )

    print(f"\n== 4. embedded SmolLM2-135M offline on DroidTask ({tasks_per_app or 'all'} tasks "
          "per app, our rendering, the artifact's verdict rule)")
    rows = []
    for spec in configs:
        name, _, raw = spec.partition(":")
        params = dict(kv.split("=", 1) for kv in raw.split(",") if kv)
        mem = ""
        if params.pop("memdir", ""):
            mem = tempfile.mkdtemp(prefix="bench-autodroid-mem-")
            params.setdefault("describer", "template")
        params.setdefault("threads", "1")
        t0 = time.perf_counter()
        report = run_offline_stepwise(
            OfflineConfig(droidtask_dir(), max_tasks_per_app=tasks_per_app, memory_dir=mem,
                          out=Path(out) / name if out else None),
            AgentOptions(memory_dir=mem, params=params),
        )
        dt = time.perf_counter() - t0
        t = report.total()
        print(f"\n-- {name} ({params}{', memory + query optimisation' if mem else ''}): "
              f"{dt:.0f} s, {dt / max(t.steps, 1):.1f} s/step")
        print(format_offline_table(report))
        rows.append({"config": name, "params": params, "memory": bool(mem), "seconds": dt,
                     **t.to_json()})
    print("\n  config         action       tap     input       end   completion  LLM calls")
    for r in rows:
        print(f"  {r['config']:<12} {r['correct']:>4}/{r['steps']:<4}"
              f" {100 * r['tap_accuracy']:>6.1f}% {100 * r['input_accuracy']:>6.1f}%"
              f" {100 * r['end_accuracy']:>6.1f}%"
              f" {r['tasks_completed']:>4}/{r['tasks']:<4} {r['llm_calls']:>8}")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "summary.json").write_text(json.dumps(rows, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tasks", type=int, default=6, help="demo tasks for parts 1-2")
    ap.add_argument("--max-steps", type=int, default=5)
    ap.add_argument("--skip-droidtask", action="store_true")
    ap.add_argument("--only-offline", action="store_true", help="part 4 only")
    ap.add_argument("--offline-tasks", type=int, default=2, help="part 4: tasks per app (0: all)")
    ap.add_argument("--config", action="append", default=[],
                    help="part 4: NAME:KEY=VALUE,... (agent params; memdir=1: with memory)")
    ap.add_argument("--out", default="", help="part 4: write stepwise.json per config here")
    args = ap.parse_args()
    configs = args.config or ["before:answer=id,id_grammar=any", "after:answer=label"]
    if args.only_offline:
        part4_embedded_offline(configs, args.offline_tasks, args.out)
        return

    rows, rec = part1_latency(args.tasks, args.max_steps)
    llm_rows = [r for r in rows if r["calls"] > 0]
    print(f"== 1. AutoDroid per-step latency, demo world over ADB, embedded SmolLM2-135M "
          f"({len(rows)} steps, {len(llm_rows)} with LLM calls, "
          f"{sum(r['saved'] for r in rows):.0f} from memory)")
    print(f"  {'part':<12} {'mean ms':>9} {'median ms':>10}")
    for key in ("observe", "prompt", "prefill", "decode", "act"):
        vals = [1000 * r[key] for r in (llm_rows if key in ("prefill", "decode") else rows)]
        print(f"  {key:<12} {statistics.mean(vals):>9.1f} {statistics.median(vals):>10.1f}")
    total = [1000 * sum(r[k] for k in ("observe", "prompt", "prefill", "decode", "act"))
             for r in rows]
    print(f"  {'step total':<12} {statistics.mean(total):>9.1f} {statistics.median(total):>10.1f}")
    print(f"  prompt tokens per call: "
          f"{statistics.mean(r['prompt_tokens'] / r['calls'] for r in llm_rows):.0f}, "
          f"of which served from the prefix cache: "
          f"{statistics.mean(r['cached_tokens'] / r['calls'] for r in llm_rows):.0f}")
    part2_prefix_cache(rec.prompts)
    if not args.skip_droidtask:
        part3_saved_calls()
        part4_embedded_offline(configs, args.offline_tasks, args.out)


if __name__ == "__main__":
    main()
