"""One private adb server per process, shared by every AdbSession (every world) of that
process, and gone when the process is: on a normal exit, on ``kill -9`` of the process, and on
``kill -9`` of an ``llamatouch eval`` run with 8 worker processes."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from proctree import children_map

from llamatouch_emulator import adb_host
from llamatouch_emulator.harness import adb_binary, free_port
from llamatouch_emulator.worlds import demo_world_dir

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def _is_adb_server(pid: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(argv) and argv[0].endswith(b"adb") and b"server" in argv


def adb_servers_under(root: int) -> set[int]:
    """adb server processes among the descendants of ``root``."""
    kids = children_map()
    found: set[int] = set()
    stack = [root]
    while stack:
        pid = stack.pop()
        for child in kids.get(pid, []):
            if _is_adb_server(child):
                found.add(child)
            stack.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    return {p for p in pids if _is_adb_server(p)}


def wait_gone(pids: set[int], timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive(pids)


SCRIPT = textwrap.dedent("""
    import json, sys, threading, time
    from concurrent.futures import ThreadPoolExecutor
    from llamatouch_emulator.harness import AdbSession

    worlds = sys.argv[1].split(",")
    hold = float(sys.argv[2])
    sessions = [AdbSession.for_world(w).__enter__() for w in worlds]
    with ThreadPoolExecutor(4) as pool:  # sessions opened from other threads share it too
        sessions += list(pool.map(lambda w: AdbSession.for_world(w).__enter__(), worlds))
    for s in sessions:
        assert s.run_adb("shell", "echo", "ok").stdout == b"ok\\n"
    print(json.dumps({"ports": sorted({s.adb_port for s in sessions}),
                      "devices": len(sessions)}), flush=True)
    for s in sessions[:2]:
        s.close()  # closing sessions never stops the shared server
    assert sessions[2].run_adb("shell", "echo", "still").stdout == b"still\\n"
    print("ready", flush=True)
    time.sleep(hold)
""")


def _run_script(tmp_path: Path, hold: float) -> subprocess.Popen[str]:
    other = tmp_path / "demo-copy"
    shutil.copytree(demo_world_dir(), other)
    env = dict(os.environ, ADB_MDNS="0", LLAMATOUCH_RUNTIME_DIR=str(tmp_path / "rt"))
    return subprocess.Popen([sys.executable, "-c", SCRIPT, f"demo,{other}", str(hold)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=REPO)


def test_sessions_share_one_adb_server_that_exits_with_the_process(tmp_path: Path) -> None:
    proc = _run_script(tmp_path, hold=1.0)
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    assert info["devices"] == 4 and len(info["ports"]) == 1
    assert proc.stdout.readline().strip() == "ready"
    servers = adb_servers_under(proc.pid)
    assert len(servers) == 1  # four sessions over two worlds, one adb server
    assert proc.wait(60) == 0, proc.stderr.read() if proc.stderr else ""
    assert wait_gone(servers, 5) == set()
    assert not list((tmp_path / "rt").glob("adb-*.json"))  # its record went with it


def test_kill_9_of_the_process_takes_its_adb_server_along(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    proc = _run_script(tmp_path, hold=120.0)
    assert proc.stdout is not None
    proc.stdout.readline()
    assert proc.stdout.readline().strip() == "ready"
    servers = adb_servers_under(proc.pid)
    assert len(servers) == 1
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert wait_gone(servers, 5) == set()
    assert len(list((tmp_path / "rt").glob("adb-*.json"))) == 1  # its stale record ...
    monkeypatch.setenv("LLAMATOUCH_RUNTIME_DIR", str(tmp_path / "rt"))
    assert adb_host.reap_orphans() == 0  # ... names a server the kernel already killed
    assert not list((tmp_path / "rt").glob("adb-*.json"))


def test_reap_orphans_kills_servers_whose_owner_is_gone(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Where no parent-death signal exists: the record of a dead owner is reaped."""
    monkeypatch.setenv("LLAMATOUCH_RUNTIME_DIR", str(tmp_path))
    port = free_port()
    env = dict(os.environ, ADB_MDNS="0")
    orphan = subprocess.Popen([adb_binary(), "-P", str(port), "nodaemon", "server"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
        owner = int(dead.stdout)
        time.sleep(0.3)
        (tmp_path / f"adb-{orphan.pid}.json").write_text(json.dumps({
            "adb_pid": orphan.pid, "adb_start": adb_host._proc_start_time(orphan.pid),
            "port": port, "owner_pid": owner, "owner_start": "1"}))
        # a record of a live owner is left alone
        (tmp_path / "adb-1.json").write_text(json.dumps({
            "adb_pid": 1, "adb_start": "x", "port": 1, "owner_pid": os.getpid(),
            "owner_start": adb_host._proc_start_time(os.getpid())}))
        assert adb_host.reap_orphans() == 1
        assert orphan.wait(5) == -signal.SIGKILL
        assert [p.name for p in tmp_path.glob("adb-*.json")] == ["adb-1.json"]
    finally:
        if orphan.poll() is None:
            orphan.kill()


def _eval(tmp_path: Path, out: str, workers: int) -> subprocess.Popen[str]:
    env = dict(os.environ, ADB_MDNS="0", LLAMATOUCH_RUNTIME_DIR=str(tmp_path / "rt"))
    return subprocess.Popen(
        [sys.executable, "-m", "llamatouch", "eval", "--agent", "replay", "--tasks", "demo",
         "--workers", str(workers), "--out", str(tmp_path / out), "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO)


def _watch(proc: subprocess.Popen[str], until: float, want: int = 0) -> tuple[set[int], int]:
    """adb servers seen under ``proc`` (all, and the most at once) until it exits, ``until``
    seconds pass, or ``want`` are seen at once."""
    seen: set[int] = set()
    most = 0
    deadline = time.monotonic() + until
    while proc.poll() is None and time.monotonic() < deadline:
        now = adb_servers_under(proc.pid)
        seen |= now
        most = max(most, len(now))
        if want and len(now) >= want:
            break
        time.sleep(0.1)
    return seen, most


def test_an_eval_run_has_one_adb_server_per_worker_and_leaves_none(tmp_path: Path) -> None:
    proc = _eval(tmp_path, "run", workers=2)
    seen, most = _watch(proc, until=300)
    assert proc.wait(300) == 0
    assert 1 <= most <= 2  # one per worker process, reused across every task and world
    assert wait_gone(seen, 10) == set()


def test_kill_9_of_an_8_worker_eval_run_leaves_no_adb_server(tmp_path: Path) -> None:
    proc = _eval(tmp_path, "killed", workers=8)
    seen, _ = _watch(proc, until=240, want=4)
    time.sleep(0.5)
    seen |= adb_servers_under(proc.pid)
    assert seen, "no adb server started"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    left = wait_gone(seen, 20)
    assert left == set(), f"{len(left)} of {len(seen)} adb servers left after kill -9"


def test_kill_9_of_the_run_and_all_its_workers_leaves_no_adb_server(tmp_path: Path) -> None:
    """Nothing gets to clean up (the OOM killer, ``kill -9 -PGID``): the kernel's parent-death
    signal still ends every adb server."""
    proc = _eval(tmp_path, "massacre", workers=4)
    seen, _ = _watch(proc, until=240, want=2)
    assert seen, "no adb server started"
    kids = children_map()
    victims, stack = [proc.pid], [proc.pid]
    while stack:
        for child in kids.get(stack.pop(), []):
            if not _is_adb_server(child):
                victims.append(child)
                stack.append(child)
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(30)
    left = wait_gone(seen, 10)
    assert left == set(), f"{len(left)} of {len(seen)} adb servers left"
