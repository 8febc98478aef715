"""A private ``adb`` server owned by this process, one per process, that dies with it.

Every :class:`~llamatouch_emulator.harness.AdbSession` of a process (every world of a run or of
an eval worker) connects its device to the same private adb server instead of starting one of
its own, so a run has one adb server (per worker process), whatever the number of worlds.

The server is the adbutils binary run in the foreground (``adb -P PORT nodaemon server``, with
``ADB_MDNS=0``) as a direct child, so it can be tied to this process three ways:

1. Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` in the child before ``exec``; the kernel kills
   it when its parent dies, even by ``kill -9``. The signal fires when the *thread* that forked
   the child ends, so the child is spawned from a dedicated keeper thread that lives as long as
   the process;
2. a record ``<runtime dir>/adb-<adb pid>.json`` (owner pid, owner start time, port), removed
   on a clean stop; the next :func:`shared_adb_server` call of any process reaps the adb
   servers of records whose owner is gone (where PR_SET_PDEATHSIG is unavailable);
3. ``atexit`` stops it on a normal interpreter exit.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llamatouch.errors import DeviceError
from llamatouch.procutil import die_with_parent

log = logging.getLogger(__name__)

#: How long a new adb server may take to listen.
START_TIMEOUT_S = 20.0


def runtime_dir() -> Path:
    """Where the pid records live: ``$LLAMATOUCH_RUNTIME_DIR``, else a per-user folder in
    the temp dir (created 0700)."""
    env = os.environ.get("LLAMATOUCH_RUNTIME_DIR")
    path = Path(env) if env else Path(tempfile.gettempdir()) / f"llamatouch-{os.getuid()}"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _proc_start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (``/proc/PID/stat`` field 22), or
    ``""`` when the process does not exist, is a zombie (dead, not yet reaped), or there is no
    /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat.rsplit(")", 1)[1].split()
    return "" if fields[0] in ("Z", "X") else fields[19]


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]


def _child_setup(parent: int) -> Callable[[], None] | None:
    """preexec_fn: die with the parent (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None

    def setup() -> None:
        # exits at once if the parent died before the request took effect
        die_with_parent(signal.SIGKILL, parent)

    return setup


class _Keeper:
    """A daemon thread that lives as long as the process and spawns the children that must
    die with it (PR_SET_PDEATHSIG fires when the forking *thread* ends)."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[list[str], dict[str, str], queue.Queue[object]]] = \
            queue.Queue()
        self._thread = threading.Thread(target=self._run, name="adb-keeper", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            argv, env, reply = self._jobs.get()
            try:
                proc = subprocess.Popen(
                    argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL, preexec_fn=_child_setup(os.getpid()),
                    close_fds=True,
                )
                reply.put(proc)
            except OSError as exc:
                reply.put(exc)

    def spawn(self, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        reply: queue.Queue[object] = queue.Queue()
        self._jobs.put((argv, env, reply))
        got = reply.get()
        if isinstance(got, BaseException):
            raise got
        assert isinstance(got, subprocess.Popen)
        return got


_keeper: _Keeper | None = None
_lock = threading.Lock()
_shared: AdbHostServer | None = None


def _get_keeper() -> _Keeper:
    global _keeper
    if _keeper is None:
        _keeper = _Keeper()
    return _keeper


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(slots=True)
class AdbHostServer:
    """A private adb server owned by this process.

    Attributes:
        adb: the adb binary.
        port: the server's port (``adb -P PORT``).
        proc: the server process (a direct child).
        record: its pid record in :func:`runtime_dir`.
    """

    adb: str
    port: int
    proc: subprocess.Popen[bytes]
    record: Path

    @property
    def pid(self) -> int:
        return int(self.proc.pid)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["ADB_MDNS"] = "0"
        env["ANDROID_ADB_SERVER_PORT"] = str(self.port)
        return env

    def stop(self) -> None:
        """Kill the server and remove its record (idempotent)."""
        if self.proc.poll() is None:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
        with contextlib.suppress(OSError):
            self.record.unlink()


def reap_orphans() -> int:
    """Kill the adb servers recorded by processes that are gone; returns how many."""
    killed = 0
    for rec in runtime_dir().glob("adb-*.json"):
        try:
            data = json.loads(rec.read_text())
            adb_pid, owner = int(data["adb_pid"]), int(data["owner_pid"])
            owner_start, adb_start = str(data["owner_start"]), str(data["adb_start"])
        except (OSError, ValueError, KeyError, TypeError):
            with contextlib.suppress(OSError):
                rec.unlink()
            continue
        if owner_start and _proc_start_time(owner) == owner_start:
            continue  # the owner is alive
        if adb_start and _proc_start_time(adb_pid) == adb_start and \
                "server" in _cmdline(adb_pid):
            with contextlib.suppress(OSError):
                os.kill(adb_pid, signal.SIGKILL)
                killed += 1
                log.info("reaped adb server %d left by process %d", adb_pid, owner)
        with contextlib.suppress(OSError):
            rec.unlink()
    return killed


def start_adb_server(adb: str, port: int = 0) -> AdbHostServer:
    """Start a private adb server (``port`` 0: a free one) tied to this process."""
    reap_orphans()
    last = ""
    for _attempt in range(5):
        use = port or _free_port()
        env = dict(os.environ, ADB_MDNS="0", ANDROID_ADB_SERVER_PORT=str(use))
        proc = _get_keeper().spawn([adb, "-P", str(use), "nodaemon", "server"], env)
        record = runtime_dir() / f"adb-{proc.pid}.json"
        record.write_text(json.dumps({
            "adb_pid": proc.pid, "adb_start": _proc_start_time(proc.pid), "port": use,
            "owner_pid": os.getpid(), "owner_start": _proc_start_time(os.getpid()),
        }))
        server = AdbHostServer(adb, use, proc, record)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and server.alive():
            if _port_open(use):
                return server
            time.sleep(0.05)
        last = "exited" if not server.alive() else "did not listen in time"
        server.stop()
        if port:
            break
    raise DeviceError(f"could not start a private adb server ({adb} -P {port or 'PORT'} "
                      f"nodaemon server): it {last}")


def shared_adb_server(adb: str) -> AdbHostServer:
    """This process's private adb server, started on first use (restarted if it died)."""
    global _shared
    with _lock:
        if _shared is None or not _shared.alive() or _shared.adb != adb:
            if _shared is not None:
                _shared.stop()
            _shared = start_adb_server(adb)
        return _shared


def stop_shared_adb_server() -> None:
    """Stop this process's shared adb server (also done at interpreter exit)."""
    global _shared
    with _lock:
        if _shared is not None:
            _shared.stop()
            _shared = None


def _forget_after_fork() -> None:
    """In a forked child the parent's server and keeper thread are not ours: start afresh
    (the parent's server stays the parent's)."""
    global _shared, _keeper, _lock
    _shared, _keeper, _lock = None, None, threading.Lock()


atexit.register(stop_shared_adb_server)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
