"""``llamatouch eval``: run an agent on tasks on a device, record, score, report.

With no ``--device`` the tasks run on the virtual device through the real ADB path; with no
``--model``, agents that use an LLM run the embedded SmolLM2 model. See ``docs/eval.md``.

Exit codes: 0 every episode ran (whatever the agent scored); 1 some episode ended as an
infrastructure failure or a crash (re-run the infrastructure failures with ``--resume``), or
an error stopped the run; 2 a usage error (bad argument, conflicting ``--resume``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from llamatouch.cli import args as argtypes
from llamatouch.cli.common import adb_server_env, add_adb_args, add_evaluator_args

#: Exit code when some episode ended as an infrastructure failure or a crash.
EXIT_INFRA = 1
#: Exit code of a usage error.
EXIT_USAGE = 2

#: Defaults of the run-defining arguments. They are applied after parsing, so that an
#: explicit argument can be told from a default (``--resume`` restores the recorded ones).
DEFAULTS: dict[str, Any] = {
    "agent": "autodroid",
    "tasks": "demo",
    "model": "embedded",
    "base_url": None,
    "trials": 1,
    "max_steps": None,
    "seed": 0,
    "annotations": "",
    "require_completion": False,
    "allow_shared_screen": False,
    "skip_types": (),
    "memory_dir": "",
    "workers": 0,
    "infra_retries": 2,
}


def _int_at_least(low: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--agent",
        default=None,
        help="agent: a built-in name (autodroid, random, replay), a name registered under the "
        "entry-point group llamatouch.agents, or path/to/file.py:ClassName (runs that file's "
        "code). Default: autodroid (with --resume: the agent of the run resumed)",
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
        "--tasks", default=None, metavar="SUITE|FILE", help="task suite (default: demo)"
    )
    parser.add_argument(
        "--task", action="append", default=[], metavar="ID", help="run only this task (repeat)"
    )
    parser.add_argument(
        "--model",
        default=None,
        help="LLM: embedded (SmolLM2-135M-Instruct, default), a .gguf path, openai:MODEL, or "
        "device:PORT (the model server on port PORT of each --device, through adb forward; "
        "see docs/on-device.md)",
    )
    parser.add_argument(
        "--base-url", default=None, help="OpenAI-compatible endpoint (key from $OPENAI_API_KEY)"
    )
    parser.add_argument(
        "--trials", type=_int_at_least(1), default=None, metavar="K",
        help="trials per task (default: 1)",
    )
    parser.add_argument(
        "--max-steps", type=_int_at_least(1), default=None, metavar="N",
        help="step limit per episode (default: each task's own)",
    )
    parser.add_argument(
        "--workers", type=_int_at_least(1), default=None, metavar="N",
        help="episodes in parallel, each in its own worker process with its own device "
        "(default: one per --device)",
    )
    parser.add_argument(
        "--out", default=None, metavar="DIR",
        help="run folder (default: runs/<suite>-<agent>-<time>)",
    )
    parser.add_argument(
        "--resume", action="store_true",
        help="continue the run in --out (default: the latest run of --agent on --tasks) with "
        "the configuration recorded in its run.json; a conflicting argument is an error",
    )
    parser.add_argument(
        "--infra-retries", type=_int_at_least(0), default=None, metavar="N",
        help="retries of an episode hit by an infrastructure failure (device, LLM service) or "
        "by a crash of its worker process (default: 2)",
    )
    parser.add_argument("--seed", type=int, default=None, help="base seed (default: 0)")
    parser.add_argument("--annotations", default=None, metavar="DIR", help="annotations folder")
    add_evaluator_args(parser, unset=True)
    add_adb_args(parser, timeout=False)
    parser.add_argument(
        "--agent-param", action="append", default=[], metavar="KEY=VALUE",
        help="agent-specific setting (repeat)",
    )
    parser.add_argument(
        "--memory-dir", type=argtypes.as_text(argtypes.output_dir), default=None, metavar="DIR",
        help="AutoDroid exploration memory folder (built on first use when missing)",
    )
    parser.add_argument(
        "--record-llm", default=None, metavar="DIR",
        help="AutoDroid: also write every LLM answer to DIR in the recorded format (same as "
        "--agent-param record_llm=DIR; replay with --model recorded:DIR)",
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
        "--offline-max-tasks", type=_int_at_least(0), default=0, metavar="N",
        help="--offline-stepwise: at most N tasks per app (default: all)",
    )
    parser.add_argument(
        "--executor", choices=("local", "ray"), default="local",
        help="where episodes run: local worker processes (default) or the devices of a Ray "
        "cluster (needs llamatouch[ray]; see docs/scale-out.md)",
    )
    parser.add_argument(
        "--address", default=None, metavar="auto|HOST:PORT|ray://HOST:PORT",
        help="--executor ray: the cluster to join (default: a private one-node Ray on this "
        "machine holding the --device specs)",
    )
    parser.add_argument(
        "--trace-store", choices=("driver", "shared"), default="driver",
        help="--executor ray: traces shipped back and written here (default), or written by "
        "the nodes straight into --out on a shared file system",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--list-agents", action="store_true", help="list agents and exit")


def _params(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            print(f"llamatouch eval: error: --agent-param expects KEY=VALUE, got {item!r}",
                  file=sys.stderr)
            raise SystemExit(EXIT_USAGE)
        out[key.strip()] = value
    return out


def _default_out(suite: str, agent: str, resume: bool) -> Path:
    import re

    from llamatouch.runner import RunError

    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{Path(suite).stem}-{Path(agent).stem}")
    runs = Path("runs")
    if resume:
        previous = sorted(runs.glob(f"{stem}-2*"))
        if not previous:
            raise RunError(f"--resume: no earlier run {runs}/{stem}-* found (name it with --out)")
        return previous[-1]
    return runs / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"


#: ``EvalConfig`` field ← ``args`` attribute, for the arguments given as plain values.
_PLAIN = (
    "agent", "tasks", "model", "base_url", "trials", "max_steps", "seed", "annotations",
    "memory_dir", "workers", "infra_retries",
)


def _explicit(args: argparse.Namespace, params: dict[str, str]) -> dict[str, Any]:
    """The settings given on the command line (``EvalConfig`` field names)."""
    out = {name: getattr(args, name) for name in _PLAIN if getattr(args, name) is not None}
    if args.require_completion is not None:  # --require-completion (or --require-finish)
        out["require_completion"] = args.require_completion
    if args.allow_shared_screen is not None:
        out["allow_shared_screen"] = args.allow_shared_screen
    if args.skip:
        out["skip_types"] = tuple(sorted(set(args.skip)))
    if args.task:
        out["task_ids"] = tuple(args.task)
    if args.device:
        out["devices"] = tuple(args.device)
    if args.agent_param:
        out["agent_params"] = params
    return out


def _config(args: argparse.Namespace, params: dict[str, str]) -> Any:
    """The run's :class:`EvalConfig`: from the arguments and defaults, or with ``--resume``
    from the run's ``run.json`` (explicit arguments must agree with it)."""
    from llamatouch.runner import EvalConfig, RunError, resume_config

    explicit = _explicit(args, params)
    if args.resume:
        if args.out:
            out = Path(args.out)
        elif args.agent:
            out = _default_out(args.tasks or DEFAULTS["tasks"], args.agent, resume=True)
        else:
            raise RunError("--resume needs --out DIR (or --agent, to resume its latest run)")
        return resume_config(out, explicit)
    settings = {**DEFAULTS, **explicit}
    out = (
        Path(args.out)
        if args.out
        else _default_out(settings["tasks"], settings["agent"], resume=False)
    )
    return EvalConfig(out=out, **settings)


def run(args: argparse.Namespace) -> int:
    from llamatouch.agent_registry import AgentNotFoundError, available_agents
    from llamatouch.runner import RunError

    if args.list_agents:
        for name in available_agents():
            print(name)
        return 0
    if args.record_llm:  # an agent setting of AutoDroid (llamatouch_agents.autodroid)
        args.agent_param = [*args.agent_param, f"record_llm={args.record_llm}"]
    params = _params(args.agent_param)
    if args.offline_stepwise:
        return _run_offline(args, params)
    try:
        return _run(args, params)
    except (RunError, AgentNotFoundError) as exc:
        print(f"llamatouch eval: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _run(args: argparse.Namespace, params: dict[str, str]) -> int:
    from tqdm import tqdm

    from llamatouch.runner import run_eval
    from llamatouch.runner.results import format_table
    from llamatouch.trace.records import FailureKind

    config = _config(args, params)
    outcome_executor = _executor(args, config)
    out = config.out
    bars: list[Any] = []  # opened once the run is validated and planned (on_total)

    def on_total(n: int) -> None:
        bars.append(tqdm(total=n, unit="episode", disable=args.no_progress, file=sys.stderr))

    def progress(k: int) -> None:
        if bars:
            bars[0].update(k)

    import signal

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # clean up devices; the run stays resumable

    previous = signal.signal(signal.SIGTERM, on_term)
    t0 = time.perf_counter()
    try:
        with adb_server_env(args.adb_host, args.adb_port):  # where --device SERIAL is found
            outcome = run_eval(config, progress=progress, on_total=on_total,
                               executor=outcome_executor)
    finally:
        for bar in bars:
            bar.close()
        signal.signal(signal.SIGTERM, previous)
    print(format_table(outcome.summary))
    for retired in getattr(outcome_executor, "retired", []):
        print(f"device taken out of the pool: {retired.device} ({retired.reason})",
              file=sys.stderr)
    unscored = sum(r.failure_kind == FailureKind.UNSCORED for r in outcome.rows)
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
    if outcome.infra_failures:
        print(
            f"{outcome.infra_failures} episode(s) ended as an infrastructure failure or a "
            f"crash (exit code {EXIT_INFRA}); infrastructure failures are re-run by: "
            f"llamatouch eval --resume --out {out}",
            file=sys.stderr,
        )
        return EXIT_INFRA
    return 0


def _executor(args: argparse.Namespace, config: Any) -> Any:
    """The executor ``--executor`` names (``None``: run_eval's default, local processes)."""
    from llamatouch.runner import RunError

    if args.executor == "local":
        if args.address or args.trace_store != "driver":
            raise RunError("--address and --trace-store go with --executor ray")
        return None
    try:
        import ray  # noqa: F401

        from llamatouch.runner.ray_executor import RayExecutor
    except ImportError as exc:
        raise RunError(f"--executor ray needs Ray: pip install 'llamatouch[ray]' ({exc})") from exc
    return RayExecutor(args.address, trace_store=args.trace_store,
                       max_workers=config.workers or None)


def _run_offline(args: argparse.Namespace, params: dict[str, str]) -> int:
    """``--offline-stepwise DIR``: the agent's own offline evaluation
    (:meth:`llamatouch.agent.Agent.offline_stepwise`), for any agent that has one."""
    from llamatouch.agent import AgentOptions, OfflineRequest, OfflineUnsupportedError
    from llamatouch.agent_registry import AgentNotFoundError, resolve_agent_class

    request = OfflineRequest(
        dataset_dir=Path(args.offline_stepwise),
        options=AgentOptions(
            model=args.model or DEFAULTS["model"], base_url=args.base_url,
            seed=args.seed or 0, params=params, memory_dir=args.memory_dir or "",
        ),
        apps=tuple(a for a in args.apps.split(",") if a),
        max_tasks_per_app=args.offline_max_tasks,
        out=Path(args.out) if args.out else None,
        progress=not args.no_progress,
    )
    try:
        agent_class = resolve_agent_class(args.agent or "autodroid")
        table = agent_class.offline_stepwise(request)
    except (AgentNotFoundError, OfflineUnsupportedError) as exc:
        print(f"llamatouch eval: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(table)
    return 0


