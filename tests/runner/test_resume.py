"""Resume after a killed run: `llamatouch eval` is killed (SIGKILL) in the middle of an episode,
rerun with --resume, and the results are compared with an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llamatouch.runner.results import load_results_json

pytestmark = pytest.mark.slow

AGENT = f"{Path(__file__).with_name('slow_agent.py')}:SlowReplayAgent"


def _cmd(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "llamatouch", "eval", "--agent", AGENT, "--device", "virtual",
            "--out", str(out), "--no-progress", *extra]


def _manifests(out: Path) -> dict[str, dict]:
    found = {}
    for m in (out / "traces").glob("*/manifest.json"):
        try:
            found[m.parent.name] = json.loads(m.read_text())
        except (OSError, ValueError):
            continue  # being replaced right now
    return found


def _children(pid: int) -> set[int]:
    """Live processes whose parent is ``pid`` (from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_resume_after_kill(tmp_path: Path) -> None:
    out = tmp_path / "killed"
    proc = subprocess.Popen(_cmd(out), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    killed_in: str | None = None
    try:
        while time.monotonic() < deadline:
            ms = _manifests(out)
            done = [k for k, m in ms.items() if m["status"] != "running"]
            mid = [k for k, m in ms.items() if m["status"] == "running" and m["num_steps"] >= 1]
            if len(done) >= 3 and mid:
                workers = _children(proc.pid)  # the episode runs in a worker process
                os.kill(proc.pid, signal.SIGKILL)
                killed_in = mid[0]
                break
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None and killed_in is None:
            proc.kill()
        proc.wait(timeout=30)
    assert killed_in is not None, "the run ended before it could be killed mid-episode"
    assert proc.returncode == -signal.SIGKILL
    # its worker processes die with it (parent-death signal), even on kill -9
    assert workers, "no worker process was found"
    deadline = time.monotonic() + 30
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers), "worker processes outlived the killed driver"

    before = _manifests(out)
    finished_before = {k: m for k, m in before.items() if m["status"] != "running"}
    assert before[killed_in]["status"] == "running"

    resumed = subprocess.run(_cmd(out, "--resume"), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(finished_before)} already done" in resumed.stdout

    after = _manifests(out)
    # nothing lost: every task has exactly one episode, all finished
    rows = load_results_json(out / "results.json")
    ids = [r["episode_id"] for r in rows]
    assert len(ids) == len(set(ids)) == len(after)
    assert all(m["status"] != "running" for m in after.values())
    # finished episodes were not rerun (same start time), the killed one restarted clean
    for k, m in finished_before.items():
        assert after[k]["started_at"] == m["started_at"], k
    killed = after[killed_in]
    assert killed["started_at"] > before[killed_in]["started_at"]
    steps = sorted(p.name for p in (out / "traces" / killed_in / "steps").iterdir())
    assert steps == [f"{i:04d}" for i in range(killed["num_steps"])]  # no half-written leftovers

    # the same results as an uninterrupted run
    clean_out = tmp_path / "clean"
    clean = subprocess.run(_cmd(clean_out), capture_output=True, text=True, timeout=300)
    assert clean.returncode == 0, clean.stderr
    keys = ("episode_id", "status", "verdict", "steps", "success")
    got = sorted(tuple(r[k] for k in keys) for r in rows)
    want = sorted(tuple(r[k] for k in keys) for r in load_results_json(clean_out / "results.json"))
    assert got == want


def test_sigterm_stops_the_workers_and_the_run_stays_resumable(tmp_path: Path) -> None:
    out = tmp_path / "terminated"
    proc = subprocess.Popen(_cmd(out, "--workers", "2"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    workers: set[int] = set()
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            ms = _manifests(out)
            if sum(m["status"] != "running" for m in ms.values()) >= 2 and any(
                m["status"] == "running" for m in ms.values()
            ):
                workers = _children(proc.pid)
                proc.terminate()
                break
            time.sleep(0.05)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert workers, "the run ended before it could be stopped"
    assert proc.returncode == 130 and "interrupted" in err
    # the workers were joined before the driver exited; multiprocessing's resource tracker
    # follows once it sees the driver's end of its pipe close
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers), "workers outlived a clean stop"
    assert any(m["status"] == "running" for m in _manifests(out).values())
    resumed = subprocess.run(_cmd(out, "--resume"), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert all(m["status"] == "finished" for m in _manifests(out).values())
    assert len(load_results_json(out / "results.json")) == 15
