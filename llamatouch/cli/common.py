"""Argument groups shared by several subcommands, and the help formatter they all use.

One name per concept across subcommands (``docs/eval.md`` lists them):

- :func:`add_evaluator_args`: how a trace is judged (``--require-completion``,
  ``--allow-shared-screen``, ``--skip``; with ``choose=True`` also ``--evaluator`` and
  ``--lcs-threshold``). Used by ``eval`` and ``score``.
- :func:`add_adb_args`: where the adb server is (``--adb-host``, ``--adb-port``) and how long
  a device query may take (``--timeout``). Used by ``devices`` and (without ``--timeout``)
  ``eval``, which hands them to its adb devices through :func:`adb_server_env`.
- :func:`add_hidden_alias`: an old spelling that keeps working but is not listed in ``--help``
  (``eval --require-finish``, ``report --max-steps``, ``annotate --task-id``).

:class:`DefaultsHelpFormatter` appends ``(default: X)`` to every option whose help does not
already name its default, so every subcommand shows its defaults the same way.

Only the standard library is imported here (``--help`` stays fast).
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from typing import Any

from llamatouch.cli import args as argtypes

#: The primitive types ``--skip`` accepts (kept in step with ``essential.schema`` by a test).
PRIMITIVE_TYPE_NAMES: tuple[str, ...] = (
    "activity", "type", "click", "installed", "uninstalled", "exact", "absent", "fuzzy",
    "image", "semantic",
)


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Adds ``(default: X)`` to an option's help unless the help already says ``default`` or
    there is nothing to show (no default, a flag that is off, an empty list)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.help is argparse.SUPPRESS or "default" in text.lower():
            return action.help
        default = action.default
        if default is None or default is argparse.SUPPRESS or default is False:
            return action.help
        if isinstance(default, list | tuple) and not default:
            return action.help
        if not action.option_strings and action.nargs not in ("?", "*"):
            return action.help
        shown = "''" if default == "" else "%(default)s"
        return f"{text} (default: {shown})".strip()


def add_hidden_alias(
    parser: argparse.ArgumentParser | Any, old: str, *, dest: str, **kwargs: Any
) -> None:
    """Accept ``old`` (an earlier spelling of an option) into ``dest``, unlisted in ``--help``.

    ``kwargs`` are those of the option it stands for (``action``, ``type``...); the default is
    left to that option (``argparse.SUPPRESS`` here, so the alias never overwrites it).
    """
    parser.add_argument(old, dest=dest, help=argparse.SUPPRESS, default=argparse.SUPPRESS,
                        **kwargs)


def add_evaluator_args(
    parser: argparse.ArgumentParser, *, choose: bool = False, unset: bool = False
) -> None:
    """The options of the essential-state evaluator, in one group.

    Args:
        parser: the subcommand's parser.
        choose: also ``--evaluator essential|exact|lcs`` and ``--lcs-threshold`` (``score``;
            ``eval`` scores with essential states only).
        unset: flags default to ``None`` instead of ``False`` / ``[]`` (``eval``, which tells an
            explicit argument from a default for ``--resume``).

    Namespace attributes: ``require_completion``, ``allow_shared_screen``, ``skip`` (and
    ``evaluator``, ``lcs_threshold`` with ``choose``).
    """
    group = parser.add_argument_group("evaluator")
    off: bool | None = None if unset else False
    if choose:
        group.add_argument(
            "--evaluator", choices=("essential", "exact", "lcs"), default="essential",
            help="essential states, AITW exact action match, or LCS over actions",
        )
        group.add_argument(
            "--lcs-threshold", type=argtypes.fraction, default=1.0, metavar="X",
            help="LCS evaluator: success when LCS/len(ground truth) >= X",
        )
    group.add_argument(
        "--require-completion", action="store_true", default=off,
        help="success also requires the agent to have declared completion (finish/success) "
        "(default: off)",
    )
    add_hidden_alias(group, "--require-finish", dest="require_completion",
                     action="store_true")
    group.add_argument(
        "--allow-shared-screen", action="store_true", default=off,
        help="one screen may satisfy several consecutive checkpoints (as if every checkpoint "
        "had shared_screen: true; annotations can set it per checkpoint) (default: off)",
    )
    group.add_argument(
        "--skip", action="append", default=None if unset else [], metavar="TYPE",
        choices=PRIMITIVE_TYPE_NAMES,
        help="ignore primitives of this type (repeatable; e.g. --skip semantic; "
        "default: none skipped)",
    )


def default_adb_port() -> int:
    """``$ANDROID_ADB_SERVER_PORT``, else 5037 (adb's own default)."""
    text = os.environ.get("ANDROID_ADB_SERVER_PORT", "")
    return int(text) if text.isascii() and text.isdigit() and 0 < int(text) < 65536 else 5037


def add_adb_args(parser: argparse.ArgumentParser, *, timeout: bool = True) -> None:
    """Where the adb server is and (with ``timeout``) how long one device query may take, in
    one group.

    Namespace attributes: ``adb_host``, ``adb_port`` (and ``timeout``).
    """
    group = parser.add_argument_group("adb")
    group.add_argument("--adb-host", type=argtypes.text_arg(255), default="127.0.0.1",
                       metavar="HOST", help="adb server host")
    group.add_argument("--adb-port", type=argtypes.port, default=default_adb_port(),
                       metavar="PORT",
                       help="adb server port (default: $ANDROID_ADB_SERVER_PORT, else 5037)")
    if timeout:
        group.add_argument("--timeout", type=argtypes.positive_float, default=5.0,
                           metavar="SECONDS", help="seconds per device query")


#: The environment variables adb clients (adbutils, ``adb``) read the server's address from.
ADB_HOST_ENV = "ANDROID_ADB_SERVER_HOST"
ADB_PORT_ENV = "ANDROID_ADB_SERVER_PORT"


@contextlib.contextmanager
def adb_server_env(host: str, port: int) -> Iterator[None]:
    """Within the block, adb devices are looked up on the server at ``host:port``: the
    variables :data:`ADB_HOST_ENV` / :data:`ADB_PORT_ENV` are set (worker processes inherit
    them), and restored afterwards."""
    saved = {k: os.environ.get(k) for k in (ADB_HOST_ENV, ADB_PORT_ENV)}
    os.environ[ADB_HOST_ENV], os.environ[ADB_PORT_ENV] = host, str(port)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
