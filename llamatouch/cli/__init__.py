"""The ``llamatouch`` command.

Each subcommand lives in its own module ``llamatouch.cli.<module>`` that defines
``add_arguments(parser)`` and ``run(args) -> int``. Those modules import only the standard
library at the top; heavy imports happen inside ``run`` so that ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from llamatouch import __version__
from llamatouch.cli.common import DefaultsHelpFormatter
from llamatouch.errors import InputFormatError, LlamaTouchError
from llamatouch.redact import install_log_redaction

#: (command, module, one-line help) in the order ``--help`` lists them.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("eval", "eval_cmd", "run an agent on tasks, record traces, score them, report"),
    ("score", "score_cmd", "score recorded traces against essential-state annotations"),
    ("report", "report_cmd", "write a static HTML report of an eval or score run"),
    ("annotate", "annotate_cmd", "open the web annotation tool on a ground-truth trace"),
    ("annotations", "annotations_cmd", "propose annotations for a suite, with self-tests"),
    ("tasks", "tasks_cmd", "list task suites and their tasks"),
    ("datasets", "datasets_cmd", "import datasets (DroidTask, DroidBot, LlamaTouch)"),
    ("devices", "devices_cmd", "list connected devices and check their health"),
    ("emulator", "emulator_cmd", "serve a virtual device over the ADB protocol"),
    ("world", "world_cmd", "record a world by exploring an app on a device; diff two worlds"),
)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (and exit status 2), and whose help
    shows every option's default (its sub-parsers are ``_Parser`` too)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="llamatouch",
        description="A testbed for mobile UI agents: run agents on real or virtual Android "
        "devices, record their traces, and score them against essential states.",
    )
    parser.add_argument("--version", action="version", version=f"llamatouch {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module, help_text in COMMANDS:
        mod = importlib.import_module(f"llamatouch.cli.{module}")
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(levelname)s %(name)s: %(message)s",
    )
    install_log_redaction()  # no log line carries a key or URL credentials
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    mod = importlib.import_module(f"llamatouch.cli.{args._module}")
    try:
        return int(mod.run(args))
    except InputFormatError as exc:  # a file the user gave is malformed: a usage error
        print(f"llamatouch {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except LlamaTouchError as exc:
        print(f"llamatouch {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a path that cannot be read or written (permissions, disk full)
        logging.getLogger(__name__).debug("OS error", exc_info=True)
        print(f"llamatouch {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"llamatouch {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
