"""``llamatouch emulator serve --llm-server``: bad arguments are one line and exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(("extra", "says"), [
    (("--llm-model", "missing.gguf"), "--llm-model"),
    (("--llm-port", "0"), "--llm-port"),
    (("--llm-port", "70000"), "--llm-port"),
    (("--llm-threads", "-1"), "--llm-threads"),
])
def test_bad_llm_server_arguments_are_one_line_exit_2(tmp_path: Path, extra: tuple[str, ...],
                                                      says: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "llamatouch", "emulator", "serve", "--port", "0",
         "--llm-server", *extra],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert says in lines[-1] and "error" in lines[-1], done.stderr
