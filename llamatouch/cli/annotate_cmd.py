"""Placeholder: this subcommand is being built (see the issue tracker)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    raise SystemExit(f"llamatouch {args.command}: not implemented yet")
