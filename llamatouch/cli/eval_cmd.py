"""``llamatouch eval``: run an agent on tasks on a device, record, score, report.

With no ``--device`` the tasks run on the virtual device through the real ADB path; with no
``--model``, agents that use an LLM run the embedded SmolLM2 model. See ``docs/eval.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--agent",
        default="autodroid",
        help="agent: a built-in name (autodroid, random, replay), a name registered under the "
        "entry-point group llamatouch.agents, or path/to/file.py:ClassName (runs that file's "
        "code). Default: autodroid",
    )
    parser.add_argument(
        "--device",
        action="append",
        default=[],
        metavar="SPEC",
        help="device: an adb serial, virtual:WORLD (in process), adb-virtual[:WORLD] (virtual "
        "device over ADB; the default). Repeat for several devices",
    )
    parser.add_argument(
        "--tasks", default="demo", metavar="SUITE|FILE", help="task suite (default: demo)"
    )
    parser.add_argument(
        "--task", action="append", default=[], metavar="ID", help="run only this task (repeat)"
    )
    parser.add_argument(
        "--model",
        default="embedded",
        help="LLM: embedded (SmolLM2-135M-Instruct, default), a .gguf path, or openai:MODEL",
    )
    parser.add_argument(
        "--base-url", default=None, help="OpenAI-compatible endpoint (key from $OPENAI_API_KEY)"
    )
    parser.add_argument("--trials", type=int, default=1, metavar="K", help="trials per task")
    parser.add_argument(
        "--max-steps", type=int, default=None, metavar="N", help="step limit per episode"
    )
    parser.add_argument(
        "--workers", type=int, default=0, metavar="N",
        help="episodes in parallel (one per device; default: one per --device)",
    )
    parser.add_argument(
        "--out", default=None, metavar="DIR",
        help="run folder (default: runs/<suite>-<agent>-<time>)",
    )
    parser.add_argument(
        "--resume", action="store_true",
        help="continue the run in --out (default: the latest run of this suite and agent)",
    )
    parser.add_argument(
        "--infra-retries", type=int, default=2, metavar="N",
        help="retries of an episode hit by a device failure (default 2)",
    )
    parser.add_argument("--seed", type=int, default=0, help="base seed")
    parser.add_argument("--annotations", default="", metavar="DIR", help="annotations folder")
    parser.add_argument(
        "--require-finish", action="store_true",
        help="success also requires the agent to have declared completion",
    )
    parser.add_argument(
        "--agent-param", action="append", default=[], metavar="KEY=VALUE",
        help="agent-specific setting (repeat)",
    )
    parser.add_argument(
        "--memory-dir", default="", metavar="DIR",
        help="AutoDroid exploration memory folder (built on first use when missing)",
    )
    parser.add_argument(
        "--offline-stepwise", default=None, metavar="DROIDTASK_DIR",
        help="instead of running episodes: AutoDroid's offline step-wise evaluation on the "
        "recorded DroidTask screens (action accuracy and task completion per app)",
    )
    parser.add_argument(
        "--apps", default="", metavar="A,B", help="--offline-stepwise: only these apps"
    )
    parser.add_argument(
        "--offline-max-tasks", type=int, default=0, metavar="N",
        help="--offline-stepwise: at most N tasks per app (default: all)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--list-agents", action="store_true", help="list agents and exit")


def _params(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"llamatouch eval: --agent-param expects KEY=VALUE, got {item!r}")
        out[key.strip()] = value
    return out


def _default_out(suite: str, agent: str, resume: bool) -> Path:
    import re

    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{Path(suite).stem}-{Path(agent).stem}")
    runs = Path("runs")
    if resume:
        previous = sorted(runs.glob(f"{stem}-2*"))
        if not previous:
            raise SystemExit(f"llamatouch eval: --resume: no earlier run {runs}/{stem}-* found")
        return previous[-1]
    return runs / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"


def run(args: argparse.Namespace) -> int:
    from llamatouch.agent_registry import available_agents

    if args.list_agents:
        for name in available_agents():
            print(name)
        return 0
    params = _params(args.agent_param)
    if args.offline_stepwise:
        return _run_offline(args, params)

    from tqdm import tqdm

    from llamatouch.runner import EvalConfig, run_eval
    from llamatouch.runner.results import format_table

    out = Path(args.out) if args.out else _default_out(args.tasks, args.agent, args.resume)
    config = EvalConfig(
        agent=args.agent,
        out=out,
        tasks=args.tasks,
        task_ids=tuple(args.task),
        devices=tuple(args.device),
        workers=args.workers,
        model=args.model,
        base_url=args.base_url,
        trials=args.trials,
        max_steps=args.max_steps,
        resume=args.resume,
        infra_retries=args.infra_retries,
        seed=args.seed,
        annotations=args.annotations,
        require_finish=args.require_finish,
        agent_params=params,
        memory_dir=args.memory_dir,
    )
    bar = tqdm(total=0, unit="episode", disable=args.no_progress, file=sys.stderr)

    def on_total(n: int) -> None:
        bar.total = n
        bar.refresh()

    import signal

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # clean up devices; the run stays resumable

    previous = signal.signal(signal.SIGTERM, on_term)
    t0 = time.perf_counter()
    try:
        outcome = run_eval(config, progress=bar.update, on_total=on_total)
    finally:
        bar.close()
        signal.signal(signal.SIGTERM, previous)
    print(format_table(outcome.summary))
    unscored = sum(r.failure_kind == "unscored" for r in outcome.rows)
    if unscored:
        print(
            f"\nnote: {unscored} episode(s) unscored: their tasks have no essential-state "
            "annotation (see --annotations)"
        )
    print(
        f"\n{outcome.ran} episode(s) run, {outcome.skipped} already done"
        + (f" ({outcome.rescored} re-scored)" if outcome.rescored else "")
        + f", {time.perf_counter() - t0:.1f} s. Results: {out}/results.csv, "
        f"{out}/results.json; traces: {out}/traces/"
    )
    return 0


def _run_offline(args: argparse.Namespace, params: dict[str, str]) -> int:
    from llamatouch.agent import AgentOptions
    from llamatouch_agents.autodroid.offline import (
        OfflineConfig,
        format_offline_table,
        run_offline_stepwise,
    )

    if args.agent != "autodroid":
        raise SystemExit("llamatouch eval: --offline-stepwise works with --agent autodroid")
    apps = tuple(a for a in args.apps.split(",") if a)
    config = OfflineConfig(
        droidtask_dir=Path(args.offline_stepwise),
        apps=apps,
        max_tasks_per_app=args.offline_max_tasks,
        memory_dir=args.memory_dir,
        out=Path(args.out) if args.out else None,
    )
    options = AgentOptions(
        model=args.model, base_url=args.base_url, seed=args.seed, params=params,
        memory_dir=args.memory_dir,
    )
    report = run_offline_stepwise(config, options, progress=not args.no_progress)
    print(format_offline_table(report))
    return 0
