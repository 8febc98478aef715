"""The ADB device server under hostile clients: idle-socket floods (handshake timeout,
connection cap), hosts that ignore flow control, and unacknowledged output. Each test checks
that a real adb client (adbutils' binary, ADB_MDNS=0) still gets through."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from llamatouch_emulator import adb_proto as P
from llamatouch_emulator.adbd import AdbDeviceServer, AdbServerConfig
from llamatouch_emulator.harness import AdbSession, adb_binary, free_port
from llamatouch_emulator.virtual import VirtualDevice
from llamatouch_emulator.worlds import load_named_world

pytestmark = pytest.mark.slow

HOST = "127.0.0.1"


@pytest.fixture(scope="module")
def session() -> Iterator[AdbSession]:
    with AdbSession.for_world("demo") as s:
        yield s


def _read_msg(c: socket.socket) -> P.Message:
    head = b""
    while len(head) < P.HEADER_SIZE:
        chunk = c.recv(P.HEADER_SIZE - len(head))
        if not chunk:
            raise ConnectionError("closed")
        head += chunk
    cmd, arg0, arg1, length, _crc = P.unpack_header(head)
    data = b""
    while len(data) < length:
        chunk = c.recv(length - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return P.Message(cmd, arg0, arg1, data)


def _connect_raw(port: int) -> socket.socket:
    """A hand-made host: CNXN done, ready to open streams."""
    c = socket.create_connection((HOST, port), timeout=10)
    c.sendall(P.pack(P.Message(P.A_CNXN, P.A_VERSION_SKIP_CHECKSUM, P.MAX_PAYLOAD, b"host::\0"),
                     with_checksum=False))
    assert _read_msg(c).command == P.A_CNXN
    return c


def _is_closed(s: socket.socket) -> bool:
    try:
        return s.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


@contextlib.contextmanager
def _second_adb_server() -> Iterator[tuple[str, dict[str, str]]]:
    port = free_port()
    env = dict(os.environ, ADB_MDNS="0", ANDROID_ADB_SERVER_PORT=str(port))
    adb = adb_binary()
    subprocess.run([adb, "-P", str(port), "start-server"], env=env, capture_output=True,
                   timeout=30, check=True)
    try:
        yield adb, env
    finally:
        subprocess.run([adb, "-P", str(port), "kill-server"], env=env, capture_output=True,
                       timeout=30, check=False)


def test_idle_socket_flood_is_closed_and_a_real_client_gets_in(
    session: AdbSession, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    server = session.server
    assert server is not None
    timeout = server.config.handshake_timeout_s
    caplog.set_level(logging.DEBUG, logger="llamatouch_emulator.adbd")
    socks: list[socket.socket] = []
    failed = 0
    started = time.monotonic()
    try:
        for _ in range(1500):  # bounded, loopback only
            try:
                socks.append(socket.create_connection((HOST, server.port), timeout=5))
            except OSError:
                failed += 1
        # during the flood (every socket still held open by us): a new adb server connects
        with _second_adb_server() as (adb, env):
            port = env["ANDROID_ADB_SERVER_PORT"]
            subprocess.run([adb, "-P", port, "connect", server.address], env=env,
                           capture_output=True, timeout=30, check=False)
            state = subprocess.run([adb, "-P", port, "-s", server.address, "get-state"],
                                   env=env, capture_output=True, timeout=30, check=False)
            assert state.stdout.strip() == b"device", state.stderr
            echo = subprocess.run([adb, "-P", port, "-s", server.address, "shell", "echo",
                                   "in"], env=env, capture_output=True, timeout=30, check=False)
            assert echo.stdout == b"in\n"
            assert server.open_connections <= server.config.max_connections
        # and every idle socket is closed by the server within the handshake timeout
        deadline = started + timeout + 3.0
        while time.monotonic() < deadline and not all(_is_closed(s) for s in socks):
            time.sleep(0.2)
        still_open = sum(not _is_closed(s) for s in socks)
        assert still_open == 0, f"{still_open} of {len(socks)} idle sockets still open"
        assert failed == 0
    finally:
        for s in socks:
            s.close()
    # the session's own (established) connection was never evicted
    assert session.run_adb("shell", "echo", "alive").stdout == b"alive\n"
    assert not [r for r in caplog.records if r.exc_info]
    assert "Traceback" not in capfd.readouterr().err
    assert sum(r.levelno >= logging.WARNING for r in caplog.records) <= 2


def test_connection_cap_refuses_politely_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    device = VirtualDevice(load_named_world("demo"))
    cfg = AdbServerConfig(max_connections=3, handshake_timeout_s=2.0)
    caplog.set_level(logging.INFO, logger="llamatouch_emulator.adbd")
    with AdbDeviceServer(device, cfg) as server:
        held = [_connect_raw(server.port) for _ in range(3)]  # established: never evicted
        try:
            for _ in range(10):
                with socket.create_connection((HOST, server.port), timeout=5) as extra:
                    extra.settimeout(5)
                    assert extra.recv(24) == b""  # refused: closed at once
            assert server.refused_connections == 10
            warnings = [r for r in caplog.records if "refusing more" in r.getMessage()]
            assert len(warnings) == 1 and not warnings[0].exc_info
            # the held ones still work
            held[0].sendall(P.pack(P.Message(P.A_OPEN, 1, 0, b"shell:echo ok\0"),
                                   with_checksum=False))
            assert _read_msg(held[0]).command == P.A_OKAY
        finally:
            for c in held:
                c.close()


def test_a_host_that_ignores_flow_control_loses_the_stream(session: AdbSession) -> None:
    """We OKAY a host's WRTE only when the service wants more input; a service that never
    reads (here: a shell command whose output we do not acknowledge) holds one payload, and
    a host that keeps writing anyway has the stream closed once it passes the bound."""
    server = session.server
    assert server is not None
    limit = server.config.stream_buffer_bytes
    with _connect_raw(server.port) as c:
        c.sendall(P.pack(P.Message(P.A_OPEN, 9, 0, b"exec:screencap -p\0"), with_checksum=False))
        okay = _read_msg(c)
        assert (okay.command, okay.arg1) == (P.A_OKAY, 9)
        ours = okay.arg0
        chunk = b"x" * (256 * 1024)
        sent = 0
        closed_at = None
        got: list[P.Message] = []
        c.settimeout(0.05)
        while sent < 300 * 1024 * 1024 and closed_at is None:
            c.sendall(P.pack(P.Message(P.A_WRTE, 9, ours, chunk), with_checksum=False))
            sent += len(chunk)
            with contextlib.suppress(TimeoutError, socket.timeout):
                while True:
                    msg = _read_msg(c)
                    got.append(msg)
                    if msg.command == P.A_CLSE and msg.arg1 == 9:
                        closed_at = sent
                        break
        assert closed_at is not None and closed_at <= limit + 2 * len(chunk)
        assert not [m for m in got if m.command == P.A_OKAY]  # never acknowledged
    assert session.run_adb("shell", "echo", "fine").stdout == b"fine\n"


def test_a_compliant_host_writing_to_a_non_reading_stream_waits(session: AdbSession) -> None:
    server = session.server
    assert server is not None
    with _connect_raw(server.port) as c:
        c.sendall(P.pack(P.Message(P.A_OPEN, 3, 0, b"exec:screencap -p\0"), with_checksum=False))
        ours = _read_msg(c).arg0
        c.sendall(P.pack(P.Message(P.A_WRTE, 3, ours, b"y" * 1000), with_checksum=False))
        c.settimeout(1.0)
        seen = []
        with contextlib.suppress(TimeoutError, socket.timeout):
            while True:
                seen.append(_read_msg(c))
        assert [m.command for m in seen] == [P.A_WRTE]  # our output, no OKAY for theirs


def test_unacknowledged_output_is_bounded(session: AdbSession) -> None:
    """40 raw screencaps (10 MB each) whose output is never acknowledged: only
    max_active_commands of them run at a time; the rest wait without holding memory."""
    server = session.server
    assert server is not None
    log = server.shell.exec_log
    before = sum(r.argv[:1] == ["screencap"] for r in log)
    with _connect_raw(server.port) as c:
        for i in range(40):
            c.sendall(P.pack(P.Message(P.A_OPEN, 100 + i, 0, b"exec:screencap\0"),
                             with_checksum=False))
        time.sleep(2.0)
        ran = sum(r.argv[:1] == ["screencap"] for r in log) - before
        assert ran == server.config.max_active_commands
    # once that host is gone, its queued commands are dropped and everything else works
    assert session.run_adb("shell", "echo", "after").stdout == b"after\n"
    png = session.run_adb("exec-out", "screencap", "-p").stdout
    assert png == session.virtual.screenshot_png()


def test_serve_under_ulimit_1024_keeps_real_clients_in_and_prints_no_tracebacks(
        tmp_path: object) -> None:
    """`llamatouch emulator serve` limited to 1,024 descriptors, flooded with 1,100 idle
    sockets: a real adb server still connects and the server's output has no traceback."""
    import re
    import resource
    import sys

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))

    serve = subprocess.Popen(
        [sys.executable, "-m", "llamatouch", "emulator", "serve", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=limit,
        env=dict(os.environ, ADB_MDNS="0"),
    )
    socks: list[socket.socket] = []
    try:
        assert serve.stdout is not None
        port = 0
        for _ in range(20):
            m = re.search(r"adb connect [\d.]+:(\d+)", serve.stdout.readline())
            if m:
                port = int(m.group(1))
                break
        assert port
        for _ in range(1100):
            socks.append(socket.create_connection((HOST, port), timeout=5))
        with _second_adb_server() as (adb, env):
            p = env["ANDROID_ADB_SERVER_PORT"]
            subprocess.run([adb, "-P", p, "connect", f"{HOST}:{port}"], env=env,
                           capture_output=True, timeout=30, check=False)
            echo = subprocess.run([adb, "-P", p, "-s", f"{HOST}:{port}", "shell", "echo", "hi"],
                                  env=env, capture_output=True, timeout=30, check=False)
            assert echo.stdout == b"hi\n", echo.stderr
    finally:
        for s in socks:
            s.close()
        serve.terminate()
        _, err = serve.communicate(timeout=30)
    assert "Traceback" not in err
    assert len(err.splitlines()) <= 5, err[-2000:]
