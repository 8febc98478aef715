"""adbd's ``tcp:PORT`` service through the real adb server's forward: bytes pass both ways intact
(more than one ADB payload, under flow control), the device side sees the host close, and a
device port nothing listens on is closed at once."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator

import pytest

from llamatouch.device.forward import AdbServerAddress, create_forward, remove_forward
from llamatouch_emulator.harness import AdbSession

pytestmark = pytest.mark.slow


class _Echo:
    """A loopback TCP server that sends back what it receives (one thread per connection)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.closed_by_peer = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)
        self.closed_by_peer.set()


@pytest.fixture()
def session(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[AdbSession]:
    monkeypatch.setenv("LLAMATOUCH_RUNTIME_DIR", str(tmp_path))
    with AdbSession.for_world("demo") as s:
        yield s


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(1 << 20, n - len(buf)))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def test_bytes_pass_both_ways_intact_through_the_forward(session: AdbSession) -> None:
    echo = _Echo()
    assert session.server is not None
    session.server.device_ports[9000] = ("127.0.0.1", echo.port)
    fwd = create_forward(AdbServerAddress("127.0.0.1", session.adb_port), session.serial, 9000)
    try:
        payload = os.urandom(3 * 1024 * 1024 + 17)  # several 1 MiB ADB payloads
        with socket.create_connection(("127.0.0.1", fwd.local), timeout=30) as sock:
            sender = threading.Thread(target=sock.sendall, args=(payload,))
            sender.start()
            got = _recv_exactly(sock, len(payload))
            sender.join(30)
            assert got == payload
        assert echo.closed_by_peer.wait(10), "the device side never saw the host close"
    finally:
        remove_forward(fwd)
        echo.sock.close()


def test_a_device_port_nothing_listens_on_is_closed_at_once(session: AdbSession) -> None:
    fwd = create_forward(AdbServerAddress("127.0.0.1", session.adb_port), session.serial, 9001)
    try:
        with socket.create_connection(("127.0.0.1", fwd.local), timeout=10) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert sock.recv(100) == b""
    finally:
        remove_forward(fwd)
