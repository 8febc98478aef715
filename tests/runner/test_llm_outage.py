"""An unreachable LLM is an infrastructure failure, not the agent failing: AutoDroid against a
real closed port (connection refused) is retried, left out of the success rate, makes `eval`
exit 1, and is re-run by --resume."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from llamatouch.runner.results import load_results_json
from llamatouch.trace.format import read_trace

pytestmark = pytest.mark.slow

CLOSED = "http://127.0.0.1:9/v1"  # the discard port: nothing listens on it here


def _eval(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "llamatouch", "eval", "--out", str(out), "--no-progress",
           *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_unreachable_llm_is_an_infrastructure_failure(tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = _eval(out, "--agent", "autodroid", "--agent-param", "memory=off",
                 "--model", "openai:gpt-4o-mini", "--base-url", CLOSED,
                 "--task", "contacts-call-alice", "--device", "virtual", "--infra-retries", "1")
    assert done.returncode == 1, done.stderr
    assert "infrastructure failure" in done.stderr and "--resume" in done.stderr
    (row,) = load_results_json(out / "results.json")
    assert row["status"] == "infra_error" and row["failure_kind"] == "infra"
    assert row["verdict"] == "not_run" and not row["success"]
    assert "LLM unavailable at step 0" in row["error"] and "after 2 attempt(s)" in row["error"]
    assert "Connection refused" in row["error"]
    assert read_trace(out / row["trace_dir"]).manifest.usage.infra_attempts == 2
    assert "   1      0    0" in done.stdout  # 1 episode, 0 scored: not in the success rate

    # --resume re-runs it (with the recorded model and endpoint: no argument needed)
    again = _eval(out, "--resume", "--infra-retries", "0")
    assert again.returncode == 1, again.stderr
    assert "1 episode(s) run, 0 already done" in again.stdout
    (row2,) = load_results_json(out / "results.json")
    assert row2["failure_kind"] == "infra" and "after 1 attempt(s)" in row2["error"]
