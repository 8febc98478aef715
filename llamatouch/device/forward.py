"""``adb forward`` made, listed and removed through an adb server's smart-socket protocol.

A forward lives in the adb server, not in the process that asked for it: when a run dies by
``kill -9`` its forwards stay until someone removes them. Two safeguards:

1. every forward this module makes is first written to a record
   ``<runtime dir>/forwards-<pid>.json`` (owner pid and start time, adb server, serial, ports)
   and struck off when it is removed;
2. :func:`reap_stale_forwards` (run before each new forward, and by ``llamatouch devices
   --cleanup``) removes the forwards of records whose owner process is gone, when the adb
   server still lists them.

A private adb server (:mod:`llamatouch_emulator.adb_host`) dies with its process and takes its
forwards with it; the records then point at a server that no longer answers and are dropped.

``tcp:0`` as the local side asks the adb server to choose a free port, which it returns in its
reply (adb 1.0.39+), so parallel workers never race for a port.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from llamatouch.errors import DeviceError
from llamatouch.fsutil import atomic_write_json

log = logging.getLogger(__name__)

_TCP_RE = re.compile(r"tcp:(\d{1,5})")
_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class AdbServerAddress:
    """Where an adb server listens.

    Attributes:
        host: its address (loopback for a local server).
        port: its port (5037 is adb's default).
    """

    host: str = "127.0.0.1"
    port: int = 5037


@dataclass(frozen=True, slots=True)
class Forward:
    """One ``adb forward`` (``local`` on the host → ``remote`` on the device).

    Attributes:
        serial: the device's serial on the adb server.
        local: the host-side TCP port (on 127.0.0.1).
        remote: the device-side TCP port.
        server: the adb server that holds it.
    """

    serial: str
    local: int
    remote: int
    server: AdbServerAddress

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:LOCAL/v1``: an OpenAI-compatible server behind the forward."""
        return f"http://127.0.0.1:{self.local}/v1"


@dataclass(frozen=True, slots=True)
class ForwardEntry:
    """One line of ``adb forward --list``.

    Attributes:
        serial: the device.
        local: host side, e.g. ``tcp:12345``.
        remote: device side, e.g. ``tcp:8080``.
    """

    serial: str
    local: str
    remote: str


def parse_forward_list(text: str) -> list[ForwardEntry]:
    """The entries of a ``host:list-forward`` answer (``SERIAL LOCAL REMOTE`` lines; other
    lines are skipped)."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:
            out.append(ForwardEntry(*parts))
    return out


def _client(server: AdbServerAddress, timeout: float) -> Any:
    from llamatouch.device.adb import adb_client

    return adb_client(server.host, server.port, timeout)


def _request(server: AdbServerAddress, command: str, timeout: float) -> str:
    """Send one host request; the text of its reply (``""`` when there is none).

    Raises:
        DeviceError: the server cannot be reached or answers ``FAIL``.
    """
    import adbutils

    try:
        with _client(server, timeout).make_connection(timeout=timeout) as c:
            c.send_command(command)
            c.check_okay()
            if command.startswith("host:list-forward"):
                return str(c.read_string_block())
            # forward/killforward on a device: a second status, then (forward tcp:0) the port
            head = c.read(4)
            if head == b"OKAY":
                with contextlib.suppress(adbutils.AdbError, OSError, ValueError):
                    return str(c.read_string_block())
                return ""
            if head == b"FAIL":
                raise DeviceError(f"adb server {server.host}:{server.port}: {command}: "
                                  f"{c.read_string_block()}")
            if len(head) == 4 and all(ch in b"0123456789abcdefABCDEF" for ch in head):
                return bytes(c.read(int(head, 16))).decode("utf-8", "replace")
            return ""
    except adbutils.AdbError as exc:
        raise DeviceError(f"adb server {server.host}:{server.port}: {command}: {exc}") from exc
    except OSError as exc:
        raise DeviceError(f"adb server {server.host}:{server.port} unreachable: {exc}") from exc


def list_forwards(server: AdbServerAddress, timeout: float = 5.0) -> list[ForwardEntry]:
    """Every forward the adb server holds (``adb forward --list``)."""
    return parse_forward_list(_request(server, "host:list-forward", timeout))


def create_forward(
    server: AdbServerAddress, serial: str, remote: int, timeout: float = 10.0
) -> Forward:
    """``adb -s SERIAL forward tcp:0 tcp:REMOTE``: the adb server picks the local port.

    The forward is recorded (see the module docstring) before it is made.

    Raises:
        DeviceError: the server refused (no such device...) or answered no port.
    """
    if not 0 < remote < 65536:
        raise DeviceError(f"device port {remote}: expected 1..65535")
    reap_stale_forwards()
    reply = _request(server, f"host-serial:{serial}:forward:tcp:0;tcp:{remote}", timeout)
    local = _port_from_reply(reply)
    if local is None:
        # an old adb server that does not return the port: find it in its list
        found = [e for e in list_forwards(server, timeout)
                 if e.serial == serial and e.remote == f"tcp:{remote}"]
        local = _port_from_reply(found[-1].local) if found else None
    if local is None:
        raise DeviceError(f"adb forward tcp:0 tcp:{remote} on {serial}: the adb server "
                          f"answered no local port ({reply!r})")
    fwd = Forward(serial, local, remote, server)
    _record(fwd, add=True)
    log.info("adb forward 127.0.0.1:%d -> %s:%d", local, serial, remote)
    return fwd


def remove_forward(fwd: Forward, timeout: float = 5.0) -> None:
    """``adb -s SERIAL forward --remove tcp:LOCAL`` (a forward already gone, or a server that
    is gone with its forwards, is not an error)."""
    try:
        _request(fwd.server, f"host-serial:{fwd.serial}:killforward:tcp:{fwd.local}", timeout)
    except DeviceError as exc:
        log.debug("removing forward %s: %s", fwd, exc)
    _record(fwd, add=False)


def _port_from_reply(text: str) -> int | None:
    text = text.strip()
    m = _TCP_RE.fullmatch(text)
    digits = m.group(1) if m else text
    if digits.isascii() and digits.isdigit() and 0 < int(digits) < 65536:
        return int(digits)
    return None


# -- records ---------------------------------------------------------------------------------
def runtime_dir() -> Path:
    """``$LLAMATOUCH_RUNTIME_DIR``, else ``<tmp>/llamatouch-<uid>`` (created 0700); the same
    folder as the private adb servers' records."""
    env = os.environ.get("LLAMATOUCH_RUNTIME_DIR")
    path = Path(env) if env else Path(tempfile.gettempdir()) / f"llamatouch-{os.getuid()}"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _start_time(pid: int) -> str:
    """A live process's start time (``/proc/PID/stat`` field 22); ``""`` when it does not
    exist or is a zombie (dead, not yet reaped by its new parent: a container's init may take
    its time, and a killed run's workers are such orphans)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return ""
    return fields[19]


def _record_path(pid: int) -> Path:
    return runtime_dir() / f"forwards-{pid}.json"


def _read_record(path: Path) -> tuple[int, str, list[Forward]] | None:
    try:
        data = json.loads(path.read_text())
        fwds = [
            Forward(str(f["serial"]), int(f["local"]), int(f["remote"]),
                    AdbServerAddress(str(f["server"]["host"]), int(f["server"]["port"])))
            for f in data["forwards"]
        ]
        return int(data["owner_pid"]), str(data["owner_start"]), fwds
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _record(fwd: Forward, *, add: bool) -> None:
    pid = os.getpid()
    path = _record_path(pid)
    with _lock:
        got = _read_record(path)
        fwds = got[2] if got is not None and got[0] == pid else []
        fwds = [f for f in fwds if f != fwd] + ([fwd] if add else [])
        if not fwds:
            with contextlib.suppress(OSError):
                path.unlink()
            return
        atomic_write_json(path, {
            "owner_pid": pid, "owner_start": _start_time(pid),
            "forwards": [asdict(f) for f in fwds],
        })


def recorded_forwards() -> list[Forward]:
    """The forwards this process has made and not removed (from its record)."""
    got = _read_record(_record_path(os.getpid()))
    return got[2] if got is not None and got[0] == os.getpid() else []


def reap_stale_forwards(timeout: float = 2.0) -> int:
    """Remove the forwards recorded by processes that are gone (still listed by their adb
    server); returns how many were removed. Records of live processes are left alone."""
    removed = 0
    for path in runtime_dir().glob("forwards-*.json"):
        got = _read_record(path)
        if got is None:
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        owner, start, fwds = got
        if start and _start_time(owner) == start:
            continue  # its owner is alive
        for fwd in fwds:
            try:
                listed = list_forwards(fwd.server, timeout)
            except DeviceError:
                continue  # the server is gone, and its forwards with it
            if ForwardEntry(fwd.serial, f"tcp:{fwd.local}", f"tcp:{fwd.remote}") in listed:
                with contextlib.suppress(DeviceError):
                    _request(fwd.server, f"host-serial:{fwd.serial}:killforward:tcp:{fwd.local}",
                             timeout)
                    removed += 1
                    log.info("removed forward tcp:%d -> %s tcp:%d left by process %d",
                             fwd.local, fwd.serial, fwd.remote, owner)
        with contextlib.suppress(OSError):
            path.unlink()
    return removed
