"""A crash costs one episode, never the run: an agent that dereferences a null pointer (a real
SIGSEGV in its worker process) on one task of the demo suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llamatouch.runner.results import load_results_json
from llamatouch.trace.format import read_trace

pytestmark = pytest.mark.slow

CRASHING_AGENT = '''
import ctypes
import os
from pathlib import Path

from llamatouch_agents.replay import ReplayAgent

ONCE = Path(os.environ["CRASH_ONCE_MARKER"])


class NullPointerReplay(ReplayAgent):
    """Replays the ground truth, but dereferences NULL at step 1 of one task (every time) and
    of another task (the first time only)."""

    name = "nullptr-replay"

    def reset(self, task, capabilities):
        super().reset(task, capabilities)
        self._crash = task.id == "contacts-call-alice" or (
            task.id == "clock-new-alarm-0630" and not ONCE.exists()
        )

    def step(self, observation, history):
        if self._crash and len(history) == 1:
            if self._task_id == "clock-new-alarm-0630":
                ONCE.touch()
            ctypes.string_at(0)  # SIGSEGV in this process
        return super().step(observation, history)
'''


def _eval(out: Path, agent: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "llamatouch", "eval", "--agent", f"{agent}:NullPointerReplay",
           "--device", "virtual", "--workers", "2", "--infra-retries", "1", "--out", str(out),
           "--no-progress", *extra]
    env = {**os.environ, "CRASH_ONCE_MARKER": str(agent.parent / "crashed-once")}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)


def test_null_pointer_crash_costs_one_episode(tmp_path: Path) -> None:
    agent = tmp_path / "crashy.py"
    agent.write_text(CRASHING_AGENT)
    out = tmp_path / "run"
    done = _eval(out, agent)
    # the run went on and printed its summary; exit 1 says an episode did not run to its end
    assert done.returncode == 1, done.stderr
    assert "95% CI" in done.stdout and "15 episode(s) run" in done.stdout
    assert "crashed their worker process" in done.stdout

    rows = load_results_json(out / "results.json")
    assert len(rows) == 15
    crashed = [r for r in rows if r["failure_kind"] == "crash"]
    assert [r["task_id"] for r in crashed] == ["contacts-call-alice"]
    (crash,) = crashed
    assert crash["status"] == "crash" and crash["verdict"] == "not_run"
    assert "SIGSEGV" in crash["error"] and "at step 1" in crash["error"]
    assert "after 2 attempt(s)" in crash["error"]  # 1 try + 1 retry, then final
    scored = [r for r in rows if r["failure_kind"] not in ("crash", "infra", "unscored")]
    assert len(scored) == 14 and all(r["success"] for r in scored)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["overall"]["scored"] == 14 and summary["overall"]["rate"] == 1.0
    assert summary["overall"]["crash_failures"] == 1

    # the crash's trace keeps the step written before it, as evidence
    trace = read_trace(out / crash["trace_dir"])
    assert trace.manifest.status == "crash" and trace.manifest.num_steps == 1
    assert trace.manifest.usage.infra_attempts == 2

    # a crash on the first attempt only: the worker was replaced, the retry went through, and
    # the trace keeps what ended the first attempt
    once = next(r for r in rows if r["task_id"] == "clock-new-alarm-0630")
    assert once["success"] and once["infra_attempts"] == 1
    (first,) = read_trace(out / once["trace_dir"]).manifest.usage.extra["earlier_failures"]
    assert first == "worker killed by signal SIGSEGV (11) at step 1"

    # --resume re-runs nothing: the 14 finished episodes and the crash are final
    again = _eval(out, agent, "--resume")
    assert again.returncode == 1, again.stderr
    assert "0 episode(s) run, 15 already done" in again.stdout
    assert load_results_json(out / "results.json") == rows
