"""``llamatouch world record`` (explore an app on a device into a world) and
``llamatouch world diff`` (compare two worlds by content)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from llamatouch.cli import args as argtypes
from llamatouch.cli.common import adb_server_env, add_adb_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="world_command", metavar="ACTION")
    rec = sub.add_parser(
        "record",
        help="explore an app on a device breadth-first and write what was seen as a world",
        description="Explore PACKAGE on a device (a phone or emulator over adb, or a virtual "
        "device served by `llamatouch emulator serve`) breadth-first over the actions each "
        "screen offers, and write the screens and transitions as a world (docs/record.md). "
        "Ctrl-C stops and keeps what was found; --resume continues.",
    )
    rec.add_argument("--device", required=True,
                     help="adb serial (emulator-5554, 127.0.0.1:5555, USB serial) or a device "
                     "spec (virtual:WORLD, adb-virtual:WORLD); adb serials are looked up on the "
                     "adb server at --adb-host/--adb-port")
    rec.add_argument("--app", required=True, help="package to explore")
    add_adb_args(rec, timeout=False)
    rec.add_argument("--out", required=True, type=argtypes.output_dir, metavar="DIR",
                     help="world folder to write")
    rec.add_argument("--budget-steps", type=argtypes.positive_int, default=None,
                     help="stop after N device actions (exploring, navigating, restarting)")
    rec.add_argument("--budget-minutes", type=argtypes.positive_float, default=None,
                     help="stop after M minutes")
    rec.add_argument("--inputs", type=argtypes.existing_file, default=None,
                     help="input dictionary: a text file (one input per line, # comments) or "
                     "a JSON list of strings; each is typed into every text field "
                     "(default: 'hello')")
    rec.add_argument("--avoid", nargs="+", default=None, metavar="TEXT",
                     help="never tap views labelled with these words (replaces the default "
                     "list: Delete, Uninstall, Remove, Erase, Factory reset, Format, Sign out, "
                     "Log out, Clear data, Clear storage)")
    rec.add_argument("--repeat", type=argtypes.positive_int, default=1, metavar="N",
                     help="try each action that changed the screen N times in all, on separate "
                     "visits (finds the other outcomes of apps that answer the same input "
                     "differently; default 1)")
    rec.add_argument("--resume", action="store_true",
                     help="continue the recording saved in --out")
    rec.add_argument("--no-leaf-taps", action="store_true",
                     help="do not tap leaf views that no clickable view handles")
    rec.add_argument("--settle", type=argtypes.non_negative_float, default=None,
                     help="seconds to wait after each action on an adb device (real phones "
                     "animate; default 0)")
    rec.add_argument("--launch-wait", type=argtypes.non_negative_float, default=0.0,
                     metavar="S", help="seconds to wait after (re)launching the app before "
                     "observing (real phones: 1-3; default 0)")
    rec.add_argument("--name", default="", help="world name (default: recorded-PACKAGE)")

    dif = sub.add_parser(
        "diff",
        help="compare two worlds by screen content: states/transitions only in A, only in B, "
        "in both, and how much of B A covers",
        description="Compare world A with world B (folders or shipped names). States are "
        "matched by content (hierarchy + activity), not by id. `coverage` is the share of "
        "B's states that A has; `reachable` limits it to B's states reachable from its start.",
    )
    dif.add_argument("a", help="world A (folder or shipped name)")
    dif.add_argument("b", help="world B (folder or shipped name)")
    dif.add_argument("--app", default="", help="compare only the states of this package")
    dif.add_argument("--format", choices=("table", "json"), default="table",
                     help="output format")

    rem = sub.add_parser(
        "remap",
        help="move a suite's tasks from a world onto a recording of it (states by content)",
        description="Rewrite the tasks of SUITE that run in SOURCE so that they run in "
        "RECORDING: their start and ground-truth states are matched by content. Tasks whose "
        "screens the recording never reached are listed and left out.",
    )
    rem.add_argument("suite", help="suite file (or shipped suite name)")
    rem.add_argument("source", help="the world the tasks run in (folder or shipped name)")
    rem.add_argument("recording", type=argtypes.existing_dir, help="the recorded world folder")
    rem.add_argument("--out", required=True, type=argtypes.output_file, metavar="FILE",
                     help="suite file to write (annotations: the source suite's, by task id)")

    aut = sub.add_parser(
        "author",
        help="author tasks on a world in the browser (also: llamatouch annotate WORLD --suite)",
        description="Open a world in the browser, click through its recorded screens to "
        "demonstrate a task, type the instruction and save: the task goes into --suite, its "
        "proposed and validated essential states into the annotation store.",
    )
    add_author_arguments(aut)
    aut.add_argument("world", type=argtypes.existing_dir, help="world folder")
    aut.add_argument("--host", default="127.0.0.1",
                     help="interface to listen on (default 127.0.0.1: this machine only)")
    aut.add_argument("--port", type=argtypes.port_or_any, default=8766,
                     help="port (0: any free port; default 8766)")
    aut.add_argument("--no-browser", action="store_true", help="do not open a browser")


def add_author_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the authoring app (shared with ``llamatouch annotate WORLD``)."""
    parser.add_argument("--suite", type=argtypes.output_file, default=None,
                        help="suite file new tasks are added to (created when missing)")
    parser.add_argument("--traces", type=argtypes.output_dir, default=None,
                        help="where the ground-truth traces of saved tasks go (default: "
                        "SUITE_DIR/traces)")
    parser.add_argument("--annotations-out", type=argtypes.output_dir, default=None,
                        help="annotation store (default: SUITE_DIR/annotations); eval finds "
                        "them with --annotations DIR/SUITE_NAME")


def _usage_error(message: str) -> int:
    print(f"llamatouch world: error: {message}", file=sys.stderr)
    return 2


def read_inputs(path: Path) -> tuple[str, ...]:
    """The input dictionary in ``path`` (JSON list of strings, else one input per line)."""
    from llamatouch.errors import InputFormatError

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFormatError(path, f"cannot read: {exc}") from exc
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputFormatError(path, f"malformed JSON: {exc}") from exc
        if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
            raise InputFormatError(path, "expected a JSON list of strings")
        items = [x for x in data if x]
    else:
        items = [ln.strip() for ln in text.splitlines()]
        items = [x for x in items if x and not x.startswith("#")]
    if not items:
        raise InputFormatError(path, "no inputs")
    return tuple(dict.fromkeys(items))


def run(args: argparse.Namespace) -> int:
    which = getattr(args, "world_command", None)
    if which == "record":
        return _record(args)
    if which == "diff":
        return _diff(args)
    if which == "remap":
        return _remap(args)
    if which == "author":
        return run_author(args, args.world)
    print("usage: llamatouch world record --device SERIAL --app PACKAGE --out DIR ... | "
          "llamatouch world diff A B [--app PACKAGE] [--format table|json]", file=sys.stderr)
    return 2


def _record(args: argparse.Namespace) -> int:
    import re

    from llamatouch.errors import InputFormatError
    from llamatouch.record.candidates import DEFAULT_AVOID, CandidateOptions
    from llamatouch.record.explorer import (
        Explorer,
        Progress,
        RecordConfig,
        RecordSetupError,
        prepare_state,
    )

    if not re.fullmatch(r"[A-Za-z][\w]*(\.[\w]+)*", args.app):
        return _usage_error(f"--app {args.app!r} is not a package name")
    inputs: tuple[str, ...] | None = None
    if args.inputs:
        try:
            inputs = read_inputs(Path(args.inputs))
        except InputFormatError as exc:
            return _usage_error(f"--inputs {exc}")
    defaults = CandidateOptions()
    options = CandidateOptions(
        inputs=inputs if inputs is not None else defaults.inputs,
        avoid=tuple(args.avoid) if args.avoid is not None else DEFAULT_AVOID,
        tap_leaves=not args.no_leaf_taps,
    )
    config = RecordConfig(app=args.app, out=Path(args.out), budget_steps=args.budget_steps,
                          budget_minutes=args.budget_minutes, options=options,
                          resume=args.resume, world_name=args.name, repeats=args.repeat,
                          launch_wait_s=args.launch_wait)
    from llamatouch.device import connect

    adb_options = {"settle_s": args.settle} if args.settle is not None else {}
    try:
        state = prepare_state(config)  # check the folder before connecting
    except (RecordSetupError, InputFormatError) as exc:
        return _usage_error(str(exc))
    with adb_server_env(args.adb_host, args.adb_port):  # where a serial is looked up
        device = connect(args.device, **adb_options)
    try:
        from tqdm import tqdm

        explorer = Explorer(device, config, state)
        with tqdm(total=args.budget_steps, desc="recording", unit="step",
                  file=sys.stderr, dynamic_ncols=True) as bar:

            def show(p: Progress) -> None:
                bar.set_postfix(states=p.states, edges=p.edges, frontier=p.frontier,
                                refresh=False)
                bar.update(p.steps - bar.n)

            outcome = explorer.run(show)
    finally:
        device.close()
    p = outcome.progress
    print(f"recorded {p.states} states, {p.transitions} transitions ({p.edges} actions tried, "
          f"{p.steps} device actions, {p.restarts} restarts) in {p.elapsed_s:.1f}s "
          f"-> {outcome.out}")
    if outcome.unreachable:
        print(f"{outcome.unreachable} state(s) could not be reached again; their remaining "
              "actions were skipped")
    if outcome.stopped_by == "done":
        print("done: every action of every screen of the app was tried")
        return 0
    if outcome.stopped_by == "interrupted":
        print("interrupted: what was found is saved; continue with --resume", file=sys.stderr)
        return 130
    if outcome.stopped_by == "device-gone":
        print("the device went away: what was found is saved; continue with --resume",
              file=sys.stderr)
        return 1
    print(f"stopped: {outcome.stopped_by} ({p.frontier} screens left to explore); continue "
          "with --resume")
    return 0


def _diff(args: argparse.Namespace) -> int:
    from llamatouch.errors import InputFormatError
    from llamatouch.record.diff import diff_worlds, format_table
    from llamatouch_emulator.worlds import load_named_world

    try:
        a = load_named_world(args.a)
        b = load_named_world(args.b)
    except InputFormatError as exc:
        return _usage_error(str(exc))
    d = diff_worlds(a, b, args.app)
    if args.format == "json":
        print(json.dumps(d.to_json(), indent=2))
    else:
        print(format_table(d))
    return 0


def _remap(args: argparse.Namespace) -> int:
    from llamatouch.errors import InputFormatError
    from llamatouch.record.remap import remap_tasks
    from llamatouch.tasks import load_suite
    from llamatouch.world import load_world
    from llamatouch_emulator.worlds import load_named_world

    try:
        suite = load_suite(args.suite)
        source = load_named_world(args.source)
        recording = load_world(args.recording)
    except (InputFormatError, OSError) as exc:
        return _usage_error(str(exc))
    result = remap_tasks(suite, source, recording, args.recording)
    result.suite.save(args.out)
    total = len(result.suite.tasks) + len(result.missing)
    print(f"{len(result.suite.tasks)} of {total} task(s) of {source.name} run on "
          f"{recording.name} -> {args.out}")
    for task_id, states in sorted(result.missing.items()):
        print(f"  {task_id}: not recorded: {', '.join(states)}")
    return 0


def run_author(args: argparse.Namespace, world: Path) -> int:
    """Serve the authoring app on ``world`` until Ctrl-C (``llamatouch world author`` and
    ``llamatouch annotate WORLD --suite FILE``)."""
    import webbrowser

    from llamatouch.errors import LlamaTouchError
    from llamatouch.web.app import make_server
    from llamatouch.web.author import AuthorConfig, AuthorSession, create_author_app
    from llamatouch.web.guard import new_token

    if args.suite is None:
        return _usage_error("--suite FILE is required to author tasks on a world")
    suite = Path(args.suite).resolve()
    # ``llamatouch annotate WORLD`` names the store --annotations, ``world author``
    # --annotations-out
    store = getattr(args, "annotations_out", None) or getattr(args, "annotations", None)
    traces = getattr(args, "traces", None)
    config = AuthorConfig(
        world_dir=Path(world).resolve(),
        suite_path=suite,
        annotations_dir=Path(store or suite.parent / "annotations").resolve(),
        traces_dir=Path(traces or suite.parent / "traces").resolve(),
    )
    try:
        session = AuthorSession(config)
    except LlamaTouchError as exc:
        return _usage_error(str(exc))
    token = new_token()
    host = getattr(args, "host", "127.0.0.1")
    server = make_server(create_author_app(session, token), host, getattr(args, "port", 0))
    url = f"http://{host}:{server.server_port}/author?token={token}"
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {host}: anyone who can reach it and has the URL can "
              "write tasks and annotations", file=sys.stderr)
    print(f"authoring tasks on {session.world.name} -> {suite}")
    print(f"open {url}", flush=True)
    if not getattr(args, "no_browser", False):
        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
