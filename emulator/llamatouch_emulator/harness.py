"""A private ``adb`` server plus our ADB device server, wired together over loopback.

``AdbSession`` is what tests, benchmarks and the eval runner use to drive a virtual device
through the real ADB path::

    with AdbSession.for_world("demo") as session:
        obs = session.device.observe()          # an AdbDevice, via the real adb binary
        session.virtual.typed_log               # what arrived on the virtual device

Sessions use the process's private adb server (:mod:`llamatouch_emulator.adb_host`: the
binary shipped with ``adbutils``, ``ADB_MDNS=0``, on a free port, a direct child that dies with
this process even on ``kill -9``), so a run (or an eval worker process) has one adb server
whatever the number of worlds; ``SessionConfig.adb_port`` asks for a dedicated one instead.
Each session starts an :class:`~llamatouch_emulator.adbd.AdbDeviceServer` on a free loopback
port, runs ``adb connect 127.0.0.1:PORT`` and waits (bounded) until the device is in state
``device``. Leaving the block disconnects that device and stops the device server (and stops a
dedicated adb server). Sessions never kill each other's adb server.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llamatouch.errors import DeviceError
from llamatouch_emulator.adb_host import AdbHostServer, shared_adb_server, start_adb_server
from llamatouch_emulator.adbd import AdbDeviceServer, AdbServerConfig
from llamatouch_emulator.shell_cmds import ServedDevice

if TYPE_CHECKING:
    from llamatouch.device.adb import AdbConfig, AdbDevice
    from llamatouch_emulator.virtual import FaultConfig, VirtualDevice


def adb_binary() -> str:
    """The ``adb`` binary shipped with adbutils (``$ADBUTILS_ADB_PATH`` overrides; an adb on
    ``$PATH`` is used only when adbutils ships none for this platform)."""
    env = os.environ.get("ADBUTILS_ADB_PATH")
    if env:
        return env
    import importlib.resources

    from adbutils import adb_path

    binaries = importlib.resources.files("adbutils.binaries")
    bundled = binaries / ("adb.exe" if os.name == "nt" else "adb")
    if isinstance(bundled, Path) and bundled.is_file() and os.access(bundled, os.X_OK):
        return str(bundled)
    return str(adb_path())


def _release_adb_server(host: AdbHostServer, serial: str, owned: bool) -> None:
    """Disconnect ``serial``; stop the adb server too when the session owns it."""
    if host.alive():  # never run the adb CLI without a server: it would start a daemon
        with contextlib.suppress(Exception):
            subprocess.run([host.adb, "-P", str(host.port), "disconnect", serial],
                           env=host.env(), capture_output=True, timeout=5, check=False)
    if owned:
        host.stop()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on ``host`` (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass(slots=True)
class SessionConfig:
    """Knobs of an :class:`AdbSession`.

    Attributes:
        adb_path: the adb binary (``None``: the one shipped with adbutils).
        adb_port: port of a dedicated adb server for this session (``0``: use the process's
            shared private adb server, see :mod:`llamatouch_emulator.adb_host`).
        device_host: loopback address our device server binds.
        device_port: port of our device server (``0``: a free one).
        start_timeout_s: bound on starting the adb server and on ``adb connect`` + waiting
            for state ``device``.
        command_timeout_s: bound on each adb CLI call the session makes itself.
        adb_config: overrides for the :class:`~llamatouch.device.adb.AdbConfig` of
            :attr:`AdbSession.device` (serial, host and port are filled in).
    """

    adb_path: str | None = None
    adb_port: int = 0
    device_host: str = "127.0.0.1"
    device_port: int = 0
    start_timeout_s: float = 30.0
    command_timeout_s: float = 20.0
    adb_config: dict[str, Any] = field(default_factory=dict)


class AdbSession:
    """Context manager: private adb server ↔ our device server ↔ an :class:`AdbDevice`.

    Attributes (valid inside the ``with`` block):
        served: the served device (a VirtualDevice or anything implementing ServedDevice).
        server: our ADB device server.
        serial: ``127.0.0.1:PORT``, the device's serial on the private adb server.
        adb_port: port of the private adb server.
        device: an :class:`~llamatouch.device.adb.AdbDevice` connected to it; its ``reset()``
            resets the served device itself (like an emulator snapshot load), so episodes start
            exactly as on the in-process virtual device.
    """

    def __init__(self, served: ServedDevice, config: SessionConfig | None = None) -> None:
        self.served = served
        self.config = config or SessionConfig()
        self.server: AdbDeviceServer | None = None
        self.serial = ""
        self.adb_port = 0
        self.adb = self.config.adb_path or adb_binary()
        self._device: AdbDevice | None = None
        self._adb_started = False
        self._host: AdbHostServer | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None

    @classmethod
    def for_world(
        cls,
        world: str | Path = "demo",
        *,
        seed: int = 0,
        faults: FaultConfig | None = None,
        config: SessionConfig | None = None,
    ) -> AdbSession:
        """A session serving a fresh VirtualDevice of ``world`` (a shipped name or a folder)."""
        from llamatouch_emulator.virtual import VirtualDevice
        from llamatouch_emulator.worlds import load_named_world

        device = VirtualDevice(load_named_world(str(world)), seed=seed, faults=faults)
        return cls(device, config)

    @property
    def virtual(self) -> VirtualDevice:
        """The served device as a VirtualDevice (TypeError when something else is served)."""
        from llamatouch_emulator.virtual import VirtualDevice

        if not isinstance(self.served, VirtualDevice):
            raise TypeError("this session does not serve a VirtualDevice")
        return self.served

    @property
    def device(self) -> AdbDevice:
        if self._device is None:
            self._device = self.make_device()
        return self._device

    def make_device(self, **overrides: Any) -> AdbDevice:
        """A new AdbDevice on this session's serial (``overrides``: AdbConfig fields)."""
        from llamatouch.device.adb import AdbConfig, AdbDevice

        fields: dict[str, Any] = {**self.config.adb_config, **overrides}
        cfg = AdbConfig(serial=self.serial, adb_host="127.0.0.1", adb_port=self.adb_port,
                        **fields)
        device = AdbDevice(cfg)
        reset = getattr(self.served, "reset", None)
        if callable(reset):
            # What loading a snapshot does on an emulator: the served device starts over
            # (typed text, install state, back stack, seeded RNG), as in-process resets do.
            device.reset_hook = reset
        return device

    def adb_config(self) -> AdbConfig:
        from llamatouch.device.adb import AdbConfig

        return AdbConfig(serial=self.serial, adb_host="127.0.0.1", adb_port=self.adb_port,
                         **self.config.adb_config)

    def env(self) -> dict[str, str]:
        """Environment for running ``adb`` against this session's private server."""
        env = dict(os.environ)
        env["ADB_MDNS"] = "0"
        env["ANDROID_ADB_SERVER_PORT"] = str(self.adb_port)
        env["ANDROID_SERIAL"] = self.serial
        return env

    def adb_cmd(self, *args: str) -> list[str]:
        """argv for the real adb binary talking to this session's server and device."""
        return [self.adb, "-P", str(self.adb_port), "-s", self.serial, *args]

    def _require_server(self) -> None:
        # The adb CLI starts a daemon server of its own when none answers: never let it.
        if self._host is None or not self._host.alive():
            raise DeviceError(f"the private adb server on port {self.adb_port} is not running")

    def run_adb(self, *args: str, timeout: float | None = None,
                check: bool = True) -> subprocess.CompletedProcess[bytes]:
        """Run ``adb -P PORT -s SERIAL ARGS`` (bounded by ``timeout``)."""
        self._require_server()
        proc = subprocess.run(
            self.adb_cmd(*args), env=self.env(), capture_output=True,
            timeout=timeout or self.config.command_timeout_s, check=False,
        )
        if check and proc.returncode != 0:
            raise DeviceError(
                f"adb {' '.join(args)} exited {proc.returncode}: "
                f"{proc.stderr.decode('utf-8', 'replace').strip()}"
            )
        return proc

    def _adb_global(self, *args: str, timeout: float) -> subprocess.CompletedProcess[bytes]:
        self._require_server()
        return subprocess.run(
            [self.adb, "-P", str(self.adb_port), *args], env=self.env(), capture_output=True,
            timeout=timeout, check=False,
        )

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> AdbSession:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        cfg = self.config
        deadline = time.monotonic() + cfg.start_timeout_s
        self.server = AdbDeviceServer(
            self.served, AdbServerConfig(host=cfg.device_host, port=cfg.device_port)
        ).start()
        self.serial = self.server.address
        self._start_adb_server(deadline)
        self._connect(deadline)

    def _start_adb_server(self, deadline: float) -> None:
        owned = bool(self.config.adb_port)
        host = (start_adb_server(self.adb, self.config.adb_port) if owned
                else shared_adb_server(self.adb))
        self._host = host
        self.adb_port = host.port
        self._adb_started = True
        # Disconnect (and stop a dedicated server) even if the session is never closed.
        self._finalizer = weakref.finalize(self, _release_adb_server, host, self.serial, owned)

    def _connect(self, deadline: float) -> None:
        last = ""
        while time.monotonic() < deadline:
            left = max(1.0, deadline - time.monotonic())
            try:
                proc = self._adb_global("connect", self.serial, timeout=left)
                last = (proc.stdout + proc.stderr).decode("utf-8", "replace").strip()
                state = self._adb_global("-s", self.serial, "get-state",
                                         timeout=min(left, 5.0))
            except subprocess.TimeoutExpired:
                last = "adb timed out"
                continue
            if state.stdout.decode().strip() == "device":
                return
            last = (state.stdout + state.stderr).decode("utf-8", "replace").strip() or last
            time.sleep(0.1)
        raise DeviceError(
            f"virtual device {self.serial} did not come online within "
            f"{self.config.start_timeout_s:.0f}s: {last}"
        )

    def close(self) -> None:
        """Disconnect, kill the private adb server, stop the device server (idempotent)."""
        if self._device is not None:
            with contextlib.suppress(Exception):
                self._device.close()
            self._device = None
        if self._adb_started:
            if self._finalizer is not None:
                self._finalizer()  # disconnect (+ stop a dedicated server), once
            self._adb_started = False
        if self.server is not None:
            self.server.stop()
            self.server = None
