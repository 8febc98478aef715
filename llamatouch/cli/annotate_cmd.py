"""``llamatouch annotate TRACE_DIR``: the web annotation tool on a ground-truth trace."""

from __future__ import annotations

import argparse
import sys

from llamatouch.cli import args as argtypes
from llamatouch.cli.common import add_hidden_alias


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("trace_dir", type=argtypes.existing_dir,
                        help="ground-truth episode folder (trace v1)")
    parser.add_argument(
        "--annotations",
        type=argtypes.output_dir,
        default=None,
        help="annotation store the tool saves to (default: the repository's annotations/)",
    )
    parser.add_argument("--task", type=argtypes.text_arg(200), default="", metavar="ID",
                        help="task id (default: from the trace)")
    add_hidden_alias(parser, "--task-id", dest="task", type=argtypes.text_arg(200))
    parser.add_argument("--host", type=argtypes.text_arg(255), default="127.0.0.1",
                        help="interface to listen on (default: 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=argtypes.port_or_any, default=8765,
                        help="port, 1..65535, 0: any free port (default: 8765)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.add_argument("--suite", type=argtypes.output_file, default=None,
                        help="when TRACE_DIR is a world folder: author tasks on it and add "
                        "them to this suite file (docs/record.md)")


def run(ns: argparse.Namespace) -> int:
    if (ns.trace_dir / "world.json").is_file():  # a world: author tasks on it
        from llamatouch.cli.world_cmd import run_author

        return run_author(ns, ns.trace_dir)
    import webbrowser

    from llamatouch.paths import annotations_dir
    from llamatouch.web.app import create_app, make_server
    from llamatouch.web.guard import new_token
    from llamatouch.web.session import AnnotationSession, SessionConfig

    session = AnnotationSession(
        SessionConfig(
            trace_dir=ns.trace_dir.resolve(),
            annotations_dir=(ns.annotations or annotations_dir()).resolve(),
            task_id=ns.task,
        )
    )
    token = new_token()
    server = make_server(create_app(session, token), ns.host, ns.port)
    raw_host = server.server_address[0]
    host = raw_host.decode() if isinstance(raw_host, bytes) else str(raw_host)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{server.server_port}/?token={token}"
    if ns.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {ns.host}: anyone who can reach it and has the URL "
              "can read the trace and write annotations", file=sys.stderr)
    print(f"annotating {session.config.task_id} ({len(session.trace.steps)} steps)")
    print(f"saving to {session.config.annotations_dir}")
    print(f"open {url}", flush=True)
    if not ns.no_browser:
        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
