"""``llamatouch emulator serve --port``: validated, and the default lies outside adb's
emulator scan range (5555-5585)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from llamatouch.cli import build_parser
from llamatouch.cli.emulator_cmd import ADB_SCAN_RANGE, DEFAULT_PORT


def test_default_port_is_outside_adbs_emulator_scan_range() -> None:
    args = build_parser().parse_args(["emulator", "serve"])
    assert args.port == DEFAULT_PORT
    assert args.port not in ADB_SCAN_RANGE and not 5554 <= args.port <= 5585
    assert build_parser().parse_args(["emulator", "serve", "--port", "0"]).port == 0
    assert build_parser().parse_args(["emulator", "serve", "--port", "65535"]).port == 65535


@pytest.mark.parametrize("bad", ["99999", "-1", "65536", "abc", "5555.5", ""])
def test_bad_ports_are_one_clear_line_and_exit_2(bad: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "llamatouch", "emulator", "serve", "--port", bad],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "--port" in last and ("1..65535" in last or "not a whole number" in last), last


def test_help_says_why() -> None:
    proc = subprocess.run([sys.executable, "-m", "llamatouch", "emulator", "serve", "--help"],
                          capture_output=True, text=True, timeout=60, check=False)
    text = " ".join(proc.stdout.split())
    assert proc.returncode == 0
    assert f"default {DEFAULT_PORT}" in text and "5555-5585" in text and "scans" in text
