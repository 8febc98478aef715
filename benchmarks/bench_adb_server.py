"""Memory of the ADB device server under two floods, against its idle baseline (same run).

Serves the demo world with ``llamatouch emulator serve --port 0`` in a child process and
drives it with a hand-made ADB host over loopback:

1. idle: one connected host after a warm-up screencap (the baseline);
2. unread stream: 300 MiB of WRTEs sent, without waiting for OKAY, to a stream whose service
   never reads (``exec:screencap -p`` whose output we never acknowledge);
3. unacknowledged screencaps: 40 ``exec:screencap`` streams (raw RGBA, ~10 MB each) opened
   at once and never acknowledged, held for a few seconds, then the host disconnects.

Prints the server's RSS (``/proc/PID/status`` VmRSS, sampled every 20 ms) at the baseline,
the peak during each flood and the value once it is over, with ratios to the baseline.

    .venv/bin/python benchmarks/bench_adb_server.py [--hold 5] [--mib 300] [--streams 40]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

from llamatouch_emulator import adb_proto as P

HOST = "127.0.0.1"


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        m = re.search(r"VmRSS:\s+(\d+) kB", f.read())
    return int(m.group(1)) / 1024 if m else 0.0


class Sampler:
    """Peak RSS of a process while a ``with`` block runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self._stop = threading.Event()

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.02)

    @contextlib.contextmanager
    def measure(self) -> Iterator[Sampler]:
        """Sample until the block ends; read :attr:`peak` right after it."""
        self.peak = rss_mb(self.pid)
        self._stop.clear()
        t = threading.Thread(target=self._run, daemon=True)
        t.start()
        try:
            yield self
        finally:
            self._stop.set()
            t.join()


def start_server() -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "llamatouch", "emulator", "serve", "--world", "demo", "--port",
         "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        m = re.search(r"adb connect [\d.]+:(\d+)", line)
        if m:
            return proc, int(m.group(1))
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit("the server did not start")


class Host:
    """A minimal ADB host: CNXN, OPEN, WRTE; a reader thread drains and records replies."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=30)
        self.send(P.Message(P.A_CNXN, P.A_VERSION_SKIP_CHECKSUM, P.MAX_PAYLOAD, b"host::\0"))
        self.messages: list[tuple[int, int, int, int]] = []  # command, arg0, arg1, length
        self.received = 0
        self.cnxn = threading.Event()
        self.lock = threading.Lock()
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()
        if not self.cnxn.wait(30):
            raise SystemExit("no CNXN from the server")

    def send(self, msg: P.Message) -> None:
        self.sock.sendall(P.pack(msg, with_checksum=False))

    def _recv(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError
            buf += chunk
        return bytes(buf)

    def _read(self) -> None:
        with contextlib.suppress(OSError, ConnectionError, P.ProtocolError):
            while True:
                cmd, a0, a1, length, _ = P.unpack_header(self._recv(P.HEADER_SIZE))
                if length:
                    self._recv(length)
                with self.lock:
                    self.messages.append((cmd, a0, a1, length))
                    self.received += length
                if cmd == P.A_CNXN:
                    self.cnxn.set()

    def wait_for(self, cmd: int, arg1: int, timeout: float = 30) -> tuple[int, int, int, int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for m in self.messages:
                    if m[0] == cmd and m[2] == arg1:
                        return m
            time.sleep(0.005)
        raise SystemExit(f"no {P.NAMES.get(cmd)} for stream {arg1}")

    def count(self, cmd: int) -> int:
        with self.lock:
            return sum(m[0] == cmd for m in self.messages)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._t.join(5)


def settle(pid: int, seconds: float = 2.0) -> float:
    time.sleep(seconds)
    return rss_mb(pid)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mib", type=int, default=300, help="MiB written to the unread stream")
    ap.add_argument("--streams", type=int, default=40, help="unacknowledged screencaps")
    ap.add_argument("--hold", type=float, default=5.0, help="seconds the screencaps are held")
    args = ap.parse_args()

    proc, port = start_server()
    pid = proc.pid
    sampler = Sampler(pid)
    try:
        # -- baseline: connected, caches warm (one raw and one PNG screencap delivered) --
        host = Host(port)
        for i, service in enumerate((b"exec:screencap\0", b"exec:screencap -p\0"), start=1):
            host.send(P.Message(P.A_OPEN, i, 0, service))
            okay = host.wait_for(P.A_OKAY, i)
            while True:  # acknowledge every WRTE until the stream closes
                with host.lock:
                    done = any(m[0] == P.A_CLSE and m[2] == i for m in host.messages)
                    pending = [m for m in host.messages if m[0] == P.A_WRTE and m[2] == i]
                    host.messages = [m for m in host.messages
                                     if not (m[0] == P.A_WRTE and m[2] == i)]
                for _ in pending:
                    host.send(P.Message(P.A_OKAY, i, okay[1]))
                if done:
                    break
                time.sleep(0.002)
        host.close()
        base = settle(pid)

        # -- 1. unread stream: a host ignoring flow control --
        host = Host(port)
        with sampler.measure():
            host.send(P.Message(P.A_OPEN, 50, 0, b"exec:screencap -p\0"))
            ours = host.wait_for(P.A_OKAY, 50)[1]
            chunk = b"z" * P.MAX_PAYLOAD
            t0 = time.monotonic()
            for _ in range(args.mib):
                host.send(P.Message(P.A_WRTE, 50, ours, chunk))
            elapsed = time.monotonic() - t0
            time.sleep(1.0)
        peak1 = sampler.peak
        okays = sum(m[0] == P.A_OKAY and m[2] == 50 for m in host.messages) - 1
        dropped = any(m[0] == P.A_CLSE and m[2] == 50 for m in host.messages)
        host.close()
        after1 = settle(pid)

        # -- 2. unacknowledged screencaps --
        host = Host(port)
        with sampler.measure():
            for i in range(args.streams):
                host.send(P.Message(P.A_OPEN, 100 + i, 0, b"exec:screencap\0"))
            time.sleep(args.hold)
            wrtes = host.count(P.A_WRTE)
        peak2 = sampler.peak
        host.close()
        after2 = settle(pid)
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        if proc.poll() is None:
            proc.kill()

    print(f"ADB device server RSS (MB), pid {pid}, demo world, cpus={os.cpu_count()}")
    print(f"{'phase':<44}{'MB':>8}{'x idle':>8}")
    rows = [
        ("idle baseline (connected, caches warm)", base),
        (f"peak while {args.mib} MiB go to an unread stream", peak1),
        ("after that flood", after1),
        (f"peak with {args.streams} unacknowledged screencaps", peak2),
        ("after that flood", after2),
    ]
    for name, mb in rows:
        print(f"{name:<44}{mb:>8.1f}{mb / base:>8.2f}")
    print(f"unread stream: {args.mib} MiB sent in {elapsed:.1f}s, OKAYs received: {okays}, "
          f"stream dropped: {dropped}")
    print(f"screencaps: {wrtes} WRTEs (1 MiB each at most) reached the host while held "
          f"{args.hold:.0f}s without acknowledging")
    return 0


if __name__ == "__main__":
    sys.exit(main())
