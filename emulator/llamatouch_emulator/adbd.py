"""The device side of the ADB protocol, serving one virtual device over TCP.

The real ``adb`` server connects with ``adb connect 127.0.0.1:PORT`` and then multiplexes all
its streams over that one TCP connection (AOSP ``protocol.txt``):

* ``CNXN`` handshake: we answer with our banner (``device::ro.product.name=...;features=...``)
  and never ask for ``AUTH`` (like an emulator image with ``ro.adb.secure=0``); an ``AUTH``
  from the host is answered with our ``CNXN``.
* ``OPEN(local, 0, "service")`` → ``OKAY(ours, local)`` or ``CLSE(0, local)`` for a service we
  do not offer; ``CLSE`` ends a stream.
* Flow control, both directions, one ``WRTE`` in flight per stream (no ``delayed_ack``): we send
  a ``WRTE`` and wait for the host's ``OKAY`` before the next; a host's ``WRTE`` is answered with
  ``OKAY`` only once the service has consumed it and asks for more, so a stream whose service
  does not read holds at most one payload. A host that ignores this and keeps writing past
  ``AdbServerConfig.stream_buffer_bytes`` has that stream dropped (``CLSE``).

Hardening (``AdbServerConfig``): a connection must complete ``CNXN`` within
``handshake_timeout_s`` or it is closed; at most ``max_connections`` are open at once (a new
connection evicts the oldest one still in its handshake, else it is refused, and the first
refusal is logged once); at most ``max_active_commands`` commands / uiautomator2 requests run
or wait for their output to be acknowledged at once (the rest queue), which bounds the memory
held for unacknowledged output (uiautomator2 waits, which only answer a boolean, run on their own
threads without a slot, so the inputs that end them still run). Connection errors are logged as
one line, never a traceback per connection.

Services: ``shell:CMD`` (raw, stdout and stderr merged), ``shell,v2[,...]:CMD`` (shell
protocol v2 packets: 1 = stdout, 2 = stderr, 3 = exit), ``exec:CMD`` (binary-safe), ``sync:``
(STAT, LIST, RECV, SEND, QUIT; see :mod:`llamatouch_emulator.adb_sync`), ``tcp:9008`` (the
uiautomator2 server subset, :mod:`llamatouch_emulator.u2server`) and ``tcp:PORT`` for every port
in :attr:`AdbDeviceServer.device_ports` (what adbd does for ``adb forward``: the stream is
spliced to a socket "on the device", here a hidden loopback port of a process the virtual device
hosts, e.g. its model server). Commands are interpreted by
:class:`~llamatouch_emulator.shell_cmds.Shell`; nothing runs on the host.

Advertised features, deliberately few: ``shell_v2`` (implemented), ``cmd`` (the ``cmd``
command answers for package/activity/window/input/settings), ``fixed_push_mkdir`` (pushes
create parent folders). Not advertised, so the host falls back to what we implement:
``stat_v2``/``ls_v2``/``sendrecv_v2`` (sync v1 is used), ``abb``/``abb_exec``, ``apex``,
``delayed_ack`` (one WRTE in flight per stream), ``push_sync``, ``track_app``.

When the served device vanishes (its calls raise
:class:`~llamatouch.errors.DeviceGoneError`, e.g. by fault injection) the server drops every
connection and refuses new ones, as an unplugged phone would.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from llamatouch.errors import DeviceGoneError
from llamatouch_emulator import adb_proto as P
from llamatouch_emulator.adb_sync import serve_sync
from llamatouch_emulator.shell_cmds import ServedDevice, Shell, ShellResult
from llamatouch_emulator.u2server import (
    U2_PORT,
    HttpError,
    U2Server,
    http_response,
    is_wait_request,
    parse_request,
)

log = logging.getLogger(__name__)

FEATURES: tuple[str, ...] = ("shell_v2", "cmd", "fixed_push_mkdir")
#: Shell protocol v2 packet ids (AOSP ``shell_protocol.h``).
SHELL_STDIN, SHELL_STDOUT, SHELL_STDERR, SHELL_EXIT, SHELL_CLOSE_STDIN, SHELL_WINDOW = range(6)

_T = TypeVar("_T")


@dataclass(slots=True)
class AdbServerConfig:
    """How the ADB device server listens.

    Attributes:
        host: address to bind; ``127.0.0.1`` by default (serving other hosts is opt-in).
        port: TCP port; ``0`` picks a free one (see :attr:`AdbDeviceServer.port`).
        max_payload: largest WRTE payload we accept and advertise in CNXN.
        ack_timeout_s: how long a stream waits for the host's OKAY before it is dropped.
        handshake_timeout_s: a connection that has not completed CNXN within this many
            seconds of being accepted is closed.
        max_connections: most TCP connections open at once (see the module docstring).
        stream_buffer_bytes: most unconsumed bytes a host may have sent to one stream; a host
            that exceeds it (it ignored flow control) gets the stream closed.
        max_active_commands: most shell commands / uiautomator2 requests running or waiting
            for the host to acknowledge their output, across all connections.
        props: ``getprop`` values (``None``: :func:`~llamatouch_emulator.shell_cmds.default_props`);
            ``ro.product.name/model/device`` go into the CNXN banner.
        features: the feature list of the banner.
    """

    host: str = "127.0.0.1"
    port: int = 0
    max_payload: int = P.MAX_PAYLOAD
    ack_timeout_s: float = 30.0
    handshake_timeout_s: float = 5.0
    max_connections: int = 64
    stream_buffer_bytes: int = 2 * P.MAX_PAYLOAD
    max_active_commands: int = 8
    props: dict[str, str] | None = None
    features: tuple[str, ...] = FEATURES


#: Device services answered with "not supported by the llamatouch virtual device".
_UNSUPPORTED_SERVICES = frozenset(
    {"remount", "disable-verity", "enable-verity", "tcpip", "usb", "jdwp",
     "track-jdwp", "sideload", "sideload-host", "backup", "restore"}
)


def _okay(payload: str) -> bytes:
    """``OKAY`` plus a length-prefixed string (adb's smart-socket reply)."""
    data = payload.encode("utf-8")
    return b"OKAY" + f"{len(data):04x}".encode("ascii") + data


def _fail(message: str) -> bytes:
    """``FAIL`` plus a length-prefixed message (adb prints it as the error)."""
    data = message.encode("utf-8")
    return b"FAIL" + f"{len(data):04x}".encode("ascii") + data


class StreamClosed(Exception):
    """The host closed the stream (or the connection went away)."""


@dataclass(eq=False)
class Stream:
    """One ADB stream of a connection (our ``local_id`` ↔ the host's ``remote_id``)."""

    conn: _Connection
    local_id: int
    remote_id: int
    service: str
    buf: bytearray = field(default_factory=bytearray)
    data_ready: asyncio.Event = field(default_factory=asyncio.Event)
    acked: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False
    #: the host's WRTEs not yet answered with OKAY (answered when the service wants more)
    owed_acks: int = 0

    def feed(self, data: bytes) -> None:
        self.buf.extend(data)
        self.owed_acks += 1
        self.data_ready.set()

    def _want_more(self) -> None:
        """The service needs more input: acknowledge what the host sent, so it sends more."""
        while self.owed_acks > 0:
            self.owed_acks -= 1
            self.conn.send(P.Message(P.A_OKAY, self.local_id, self.remote_id))

    async def _wait_data(self) -> None:
        if self.closed:
            raise StreamClosed(self.service)
        self._want_more()
        self.data_ready.clear()
        await self.data_ready.wait()

    async def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            await self._wait_data()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    async def read_some(self) -> bytes:
        while not self.buf:
            await self._wait_data()
        out = bytes(self.buf)
        self.buf.clear()
        return out

    async def write(self, *parts: bytes) -> None:
        """Send ``parts`` as WRTEs of at most the peer's payload size, one in flight."""
        limit = self.conn.peer_max_payload
        for chunk in _chunks(parts, limit):
            if self.closed:
                raise StreamClosed(self.service)
            self.acked.clear()
            self.conn.send(P.Message(P.A_WRTE, self.local_id, self.remote_id, chunk))
            try:
                await asyncio.wait_for(self.acked.wait(), self.conn.server.config.ack_timeout_s)
            except TimeoutError as exc:
                raise StreamClosed(f"{self.service}: no OKAY from the host") from exc
            if self.closed and not self.acked.is_set():
                raise StreamClosed(self.service)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.conn.send(P.Message(P.A_CLSE, self.local_id, self.remote_id))
        self.data_ready.set()
        self.acked.set()
        self.conn.streams.pop(self.local_id, None)


def _chunks(parts: tuple[bytes, ...], limit: int) -> Iterator[bytes]:
    """The concatenation of ``parts`` in pieces of at most ``limit`` bytes, one at a time
    (the whole concatenation is never built)."""
    pending: list[memoryview] = []
    size = 0
    for part in parts:
        view = memoryview(part)
        while view:
            take = view[: limit - size]
            pending.append(take)
            size += len(take)
            view = view[len(take) :]
            if size == limit:
                yield b"".join(pending)
                pending, size = [], 0
    if pending:
        yield b"".join(pending)


class _Connection:
    """One TCP connection from an adb server."""

    def __init__(self, server: AdbDeviceServer, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.streams: dict[int, Stream] = {}
        self.next_id = 1
        self.version = P.A_VERSION_SKIP_CHECKSUM
        self.peer_max_payload = P.MAX_PAYLOAD_V1
        self.connected = False
        self.accepted_at = time.monotonic()
        self.tasks: set[asyncio.Task[None]] = set()

    @property
    def checksums(self) -> bool:
        return self.version < P.A_VERSION_SKIP_CHECKSUM

    def send(self, msg: P.Message) -> None:
        if self.writer.is_closing():
            return
        self.writer.write(P.pack(msg, with_checksum=self.checksums))

    async def _read_message(self) -> P.Message:
        head = await self.reader.readexactly(P.HEADER_SIZE)
        command, arg0, arg1, length, crc = P.unpack_header(head)
        data = await self.reader.readexactly(length) if length else b""
        if self.checksums and crc != P.checksum(data):
            raise P.ProtocolError(f"bad checksum on {P.NAMES.get(command, command)}")
        return P.Message(command, arg0, arg1, data)

    async def run(self) -> None:
        cfg = self.server.config
        try:
            while True:
                if self.connected:
                    msg = await self._read_message()
                else:
                    left = self.accepted_at + cfg.handshake_timeout_s - time.monotonic()
                    if left <= 0:
                        raise TimeoutError
                    msg = await asyncio.wait_for(self._read_message(), left)
                await self.handle(msg)
                await self.writer.drain()
        except TimeoutError:
            log.debug("adb connection closed: no CNXN within %.1fs", cfg.handshake_timeout_s)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except P.ProtocolError as exc:
            log.warning("adb connection dropped: %s", exc)
        except OSError as exc:
            log.warning("adb connection dropped: %s", exc)
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        for stream in list(self.streams.values()):
            stream.closed = True
            stream.data_ready.set()
            stream.acked.set()
        self.streams.clear()
        for t in list(self.tasks):
            t.cancel()
        with contextlib.suppress(Exception):
            self.writer.close()

    async def handle(self, msg: P.Message) -> None:
        if msg.command == P.A_CNXN:
            self.version = min(msg.arg0, P.A_VERSION_SKIP_CHECKSUM)
            self.peer_max_payload = max(1, min(msg.arg1, self.server.config.max_payload))
            self.connected = True
            self.send(P.Message(P.A_CNXN, self.version, self.server.config.max_payload,
                                self.server.banner))
            return
        if msg.command == P.A_AUTH:
            # We never sent a token; a host that volunteers auth gets our CNXN.
            self.send(P.Message(P.A_CNXN, self.version, self.server.config.max_payload,
                                self.server.banner))
            return
        if not self.connected:
            return
        if msg.command == P.A_OPEN:
            self.open_stream(msg.arg0, msg.data.rstrip(b"\0").decode("utf-8", "replace"))
        elif msg.command == P.A_WRTE:
            stream = self.streams.get(msg.arg1)
            if stream is None:
                self.send(P.Message(P.A_CLSE, msg.arg1, msg.arg0))
                return
            if len(stream.buf) + len(msg.data) > self.server.config.stream_buffer_bytes:
                # The host ignored flow control (we owe it an OKAY): drop the stream.
                log.info("stream %r dropped: the host sent more than %d unconsumed bytes",
                         stream.service, self.server.config.stream_buffer_bytes)
                stream.buf.clear()
                stream.close()
                return
            stream.feed(msg.data)
        elif msg.command == P.A_OKAY:
            stream = self.streams.get(msg.arg1)
            if stream is not None:
                stream.acked.set()
        elif msg.command == P.A_CLSE:
            stream = self.streams.pop(msg.arg1, None)
            if stream is not None:
                stream.closed = True
                stream.data_ready.set()
                stream.acked.set()

    def open_stream(self, remote_id: int, service: str) -> None:
        handler = self.server.service_for(service)
        if handler is None or remote_id == 0:
            log.debug("refused service %r", service)
            self.send(P.Message(P.A_CLSE, 0, remote_id))
            return
        local_id = self.next_id
        self.next_id += 1
        stream = Stream(self, local_id, remote_id, service)
        self.streams[local_id] = stream
        self.send(P.Message(P.A_OKAY, local_id, remote_id))
        task = asyncio.get_running_loop().create_task(self._serve(stream, handler))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _serve(self, stream: Stream,
                     handler: Callable[[Stream], Awaitable[None]]) -> None:
        try:
            await handler(stream)
        except StreamClosed:
            pass
        except DeviceGoneError as exc:
            log.info("served device vanished: %s", exc)
            self.server.device_gone()
            return
        except Exception:
            log.exception("service %r failed", stream.service)
        with contextlib.suppress(Exception):
            stream.close()
            await self.writer.drain()


class AdbDeviceServer:
    """Serves one device over the ADB protocol.

    Use :meth:`start` / :meth:`stop` (a background thread with its own event loop), or
    :meth:`serve_forever` in the foreground. :attr:`shell` is the device's command interpreter
    (its ``exec_log`` records every command that ran).
    """

    def __init__(self, device: ServedDevice, config: AdbServerConfig | None = None) -> None:
        self.device = device
        self.config = config or AdbServerConfig()
        self.shell = Shell(device, dict(self.config.props) if self.config.props else None)
        self.u2 = U2Server(self.shell)
        props = self.shell.props
        self.banner = P.device_banner(
            {k: props.get(k, "") for k in ("ro.product.name", "ro.product.model",
                                           "ro.product.device")},
            self.config.features,
        )
        self.port = self.config.port
        self.gone = False
        #: device-side TCP ports that something listens on "inside" the device: device port ->
        #: the hidden ``(host, port)`` it is served on (reached only through ``adb forward``)
        self.device_ports: dict[int, tuple[str, int]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[_Connection] = set()
        self._active: asyncio.Semaphore | None = None
        #: threads for uiautomator2 waits (waitForExists / waitUntilGone), while serving
        self._wait_pool: ThreadPoolExecutor | None = None
        #: connections refused because ``max_connections`` were open (all established)
        self.refused_connections = 0
        #: connections closed to make room (they had not completed CNXN)
        self.evicted_connections = 0
        self._refusal_logged = False
        self._last_loop_error = 0.0
        self._suppressed_loop_errors = 0
        self._started = threading.Event()
        self._start_error: BaseException | None = None

    @property
    def address(self) -> str:
        """``host:port`` to give ``adb connect``."""
        return f"{self.config.host}:{self.port}"

    # -- services ------------------------------------------------------------------------
    def service_for(self, service: str) -> Callable[[Stream], Awaitable[None]] | None:
        if self.gone:
            return None
        if service.startswith("shell") and ":" in service:
            opts = service.split(":", 1)[0].split(",")[1:]
            if "v2" in opts:
                return self._shell_v2
            return self._shell_raw
        if service.startswith("exec:"):
            return self._shell_raw
        if service == "sync:":
            return self._sync
        if service in ("root:", "unroot:"):
            return self._root
        if service.startswith("reboot:"):
            return self._reboot
        if service.startswith("reverse:"):
            return self._reverse
        if service.split(":", 1)[0] in _UNSUPPORTED_SERVICES:
            return self._unsupported
        if service.startswith("tcp:"):
            port = service[4:].split(":", 1)[0]
            if port == str(U2_PORT):
                return self._u2
            target = (self.device_ports.get(int(port)) if port.isascii() and port.isdigit()
                      else None)
            if target is not None:
                return functools.partial(self._splice, target)
        return None

    async def _run_in_thread(self, fn: Callable[[], _T]) -> _T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, fn)

    async def _run_command(self, stream: Stream) -> ShellResult | None:
        command = stream.service.split(":", 1)[1]
        if not command.strip():
            return None
        return await self._run_in_thread(lambda: self.shell.run(command))

    @contextlib.asynccontextmanager
    async def _slot(self) -> Any:
        """One of ``max_active_commands`` slots: held while a command runs and its output is
        delivered, so unacknowledged output can never pile up without bound."""
        if self._active is None:
            self._active = asyncio.Semaphore(max(1, self.config.max_active_commands))
        async with self._active:
            yield

    async def _shell_raw(self, stream: Stream) -> None:
        async with self._slot():
            result = await self._run_command(stream)
            if result is None:
                await stream.write(b"/system/bin/sh: interactive shells are not supported by "
                                   b"the llamatouch virtual device\n")
                return
            await stream.write(result.stdout, result.stderr)

    async def _shell_v2(self, stream: Stream) -> None:
        async with self._slot():
            result = await self._run_command(stream)
            if result is None:
                result = ShellResult(b"", b"/system/bin/sh: interactive shells are not "
                                          b"supported by the llamatouch virtual device\n", 1)

            def head(kind: int, size: int) -> bytes:
                return bytes([kind]) + size.to_bytes(4, "little")

            parts: list[bytes] = []
            if result.stdout:
                parts += [head(SHELL_STDOUT, len(result.stdout)), result.stdout]
            if result.stderr:
                parts += [head(SHELL_STDERR, len(result.stderr)), result.stderr]
            parts += [head(SHELL_EXIT, 1), bytes([result.status & 0xFF])]
            await stream.write(*parts)

    async def _sync(self, stream: Stream) -> None:
        await serve_sync(stream, self.shell.fs)

    async def _root(self, stream: Stream) -> None:
        # adb prints this and exits 0 (no "restarting"): the device stays as it is.
        if stream.service == "unroot:":
            await stream.write(b"adbd not running as root\n")
        else:
            await stream.write(b"adbd cannot run as root: not supported by the llamatouch "
                               b"virtual device\n")

    async def _reboot(self, stream: Stream) -> None:
        target = stream.service.split(":", 1)[1]
        if target:
            await stream.write(f"reboot into {target}: not supported by the llamatouch "
                               "virtual device\n".encode())
            return
        # A reboot as far as the screen is concerned: apps stopped, home screen, fresh
        # state (the connection stays up; files and settings persist, as on a phone).
        reset = getattr(self.device, "reset", None)
        if callable(reset):
            await self._run_in_thread(reset)

    async def _reverse(self, stream: Stream) -> None:
        """``adb reverse``: nothing is listening on the virtual device's side, so the list is
        empty, removing all succeeds, and adding one fails with a clear message."""
        request = stream.service.split(":", 1)[1]
        if request == "list-forward":
            await stream.write(_okay(""))
        elif request == "killforward-all":
            await stream.write(b"OKAY")
        elif request.startswith("killforward:"):
            await stream.write(_fail(f"listener '{request[12:]}' not found"))
        else:
            await stream.write(_fail("reverse port forwarding is not supported by the "
                                     "llamatouch virtual device"))

    async def _unsupported(self, stream: Stream) -> None:
        name = stream.service.split(":", 1)[0]
        await stream.write(f"{name}: not supported by the llamatouch virtual device\n"
                           .encode())

    async def _splice(self, target: tuple[str, int], stream: Stream) -> None:
        """``tcp:PORT``: copy bytes both ways between the stream and ``target`` until either
        side closes (flow control as for every stream: one WRTE in flight, reads acknowledged
        when consumed)."""
        try:
            reader, writer = await asyncio.open_connection(*target)
        except OSError as exc:
            log.info("tcp:%s: nothing listens on the device side (%s)", target[1], exc)
            return

        async def up() -> None:
            while True:
                writer.write(await stream.read_some())
                await writer.drain()

        async def down() -> None:
            while data := await reader.read(65536):
                await stream.write(data)

        tasks = [asyncio.ensure_future(up()), asyncio.ensure_future(down())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                failed = t.exception()
                if failed is not None and not isinstance(failed, (StreamClosed, ConnectionError)):
                    raise failed
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                writer.close()

    async def _u2(self, stream: Stream) -> None:
        buf = bytearray()
        while True:
            try:
                req = parse_request(buf)
            except HttpError as exc:
                await stream.write(http_response(exc.status, str(exc).encode(), "text/plain",
                                                 False))
                return
            if req is None:
                buf += await stream.read_some()
                continue
            request = req
            if is_wait_request(request):
                # A wait may last seconds and answers a boolean: it takes no command slot
                # (inputs that end it must still run) and waits on its own threads.
                loop = asyncio.get_running_loop()
                if self._wait_pool is None:
                    self._wait_pool = ThreadPoolExecutor(4, thread_name_prefix="u2-wait")
                status, body, ctype = await loop.run_in_executor(
                    self._wait_pool, functools.partial(self.u2.handle, request))
                await stream.write(http_response(status, body, ctype, request.keep_alive))
            else:
                async with self._slot():
                    status, body, ctype = await self._run_in_thread(
                        functools.partial(self.u2.handle, request)
                    )
                    await stream.write(http_response(status, body, ctype, request.keep_alive))
            if not request.keep_alive:
                return

    # -- lifecycle ---------------------------------------------------------------------------
    async def _on_client(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        if self.gone:
            writer.close()
            return
        if len(self._connections) >= max(1, self.config.max_connections):
            pending = [c for c in self._connections if not c.connected]
            if pending:
                # Make room by closing the oldest connection still in its handshake: a flood
                # of idle sockets cannot lock out a real client.
                victim = min(pending, key=lambda c: c.accepted_at)
                victim.shutdown()
                self._connections.discard(victim)
                self.evicted_connections += 1
            else:
                self.refused_connections += 1
                if not self._refusal_logged:
                    self._refusal_logged = True
                    log.warning("ADB server %s: %d connections open, refusing more (logged "
                                "once)", self.address, len(self._connections))
                with contextlib.suppress(Exception):
                    writer.close()
                return
        conn = _Connection(self, reader, writer)
        self._connections.add(conn)
        try:
            await conn.run()
        except Exception as exc:  # one line per failure, never a traceback per connection
            log.warning("adb connection failed: %s: %s", type(exc).__name__, exc)
        finally:
            self._connections.discard(conn)

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, ctx: dict[str, Any]) -> None:
        """Event-loop errors (e.g. ``accept()`` out of file descriptors): one log line each,
        at most once a second, instead of asyncio's traceback."""
        if isinstance(ctx.get("exception"), asyncio.CancelledError):
            return  # connections cancelled while the server shuts down
        now = time.monotonic()
        if now - self._last_loop_error < 1.0:
            self._suppressed_loop_errors += 1
            return
        self._last_loop_error = now
        exc = ctx.get("exception")
        detail = f"{type(exc).__name__}: {exc}" if exc is not None else ""
        log.warning("ADB server: %s %s (%d similar suppressed)", ctx.get("message", "error"),
                    detail, self._suppressed_loop_errors)
        self._suppressed_loop_errors = 0

    @property
    def open_connections(self) -> int:
        """TCP connections open right now."""
        return len(self._connections)

    async def _open(self) -> None:
        asyncio.get_running_loop().set_exception_handler(self._loop_exception)
        self._active = asyncio.Semaphore(max(1, self.config.max_active_commands))
        self.u2.abort.clear()
        self._server = await asyncio.start_server(
            self._on_client, self.config.host, self.config.port, reuse_address=True
        )
        sock = self._server.sockets[0]
        self.port = int(sock.getsockname()[1])

    def device_gone(self) -> None:
        """Behave like an unplugged phone: drop every connection, refuse new ones."""
        self.gone = True
        self.u2.abort.set()
        for conn in list(self._connections):
            conn.shutdown()
        if self._server is not None:
            self._server.close()

    def start(self, timeout: float = 10.0) -> AdbDeviceServer:
        """Listen in a background thread; returns once the port is bound."""
        if self._thread is not None:
            return self

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._open())
            except BaseException as exc:  # bind errors are reported to start()
                self._start_error = exc
                self._started.set()
                loop.close()
                return
            self._started.set()
            try:
                loop.run_forever()
            finally:
                self._close_all(loop)
                loop.close()

        self._thread = threading.Thread(target=main, name=f"adbd-{self.device.serial}",
                                        daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            raise TimeoutError("ADB device server did not start in time")
        if self._start_error is not None:
            err = self._start_error
            self._thread = None
            raise OSError(f"cannot listen on {self.config.host}:{self.config.port}: {err}")
        return self

    def _end_waits(self) -> None:
        """Stop uiautomator2 waits in progress (they answer False) and their threads."""
        self.u2.abort.set()
        if self._wait_pool is not None:
            self._wait_pool.shutdown(wait=False, cancel_futures=True)
            self._wait_pool = None

    def _close_all(self, loop: asyncio.AbstractEventLoop) -> None:
        self._end_waits()
        for conn in list(self._connections):
            conn.shutdown()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                loop.run_until_complete(self._server.wait_closed())
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the background server (idempotent)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._thread = None
        self._loop = None

    def serve_forever(self, on_ready: Callable[[AdbDeviceServer], Any] | None = None) -> None:
        """Serve in the current thread until interrupted (Ctrl-C raises KeyboardInterrupt)."""

        async def main() -> None:
            await self._open()
            if on_ready is not None:
                on_ready(self)
            assert self._server is not None
            try:
                await self._server.serve_forever()
            except asyncio.CancelledError:
                if not self.gone:
                    raise
                # the device vanished: device_gone() closed the listener
            finally:
                self._end_waits()
                for conn in list(self._connections):
                    conn.shutdown()

        asyncio.run(main())

    def __enter__(self) -> AdbDeviceServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
