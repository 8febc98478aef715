"""Devices: the :class:`~llamatouch.device.base.Device` interface and ways to get one.

``connect(spec)`` understands:

* ``virtual:WORLD`` — an in-process :class:`~llamatouch_emulator.virtual.VirtualDevice`
  replaying ``WORLD`` (``demo`` or a world folder);
* ``adb-virtual:WORLD`` — the same world served by our ADB wire-protocol server and driven
  through a private real ``adb`` server (an :class:`~llamatouch.device.adb.AdbDevice`); the
  session is torn down by the device's ``close()``;
* anything else — an adb serial (``emulator-5554``, ``127.0.0.1:5555``, a USB serial) on the
  adb server at ``$ANDROID_ADB_SERVER_PORT`` (default 5037); ``adb:SERIAL`` is accepted too.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from llamatouch.device.base import ActResult, Device, Observation
from llamatouch.errors import DeviceError

if TYPE_CHECKING:
    from llamatouch_emulator.harness import AdbSession

__all__ = ["ActResult", "Device", "Observation", "connect"]


def connect(spec: str, *, seed: int = 0, **adb_options: Any) -> Device:
    """A :class:`Device` for ``spec`` (see the module docstring).

    ``seed`` seeds virtual devices; ``adb_options`` are :class:`~llamatouch.device.adb.
    AdbConfig` fields for adb devices.
    """
    if not spec:
        raise DeviceError("empty device spec (try virtual:demo, adb-virtual:demo or a serial)")
    kind, sep, rest = spec.partition(":")
    if sep and kind == "virtual":
        from llamatouch_emulator.virtual import VirtualDevice
        from llamatouch_emulator.worlds import load_named_world

        return VirtualDevice(load_named_world(rest or "demo"), seed=seed)
    if sep and kind == "adb-virtual":
        from llamatouch_emulator.harness import AdbSession, SessionConfig

        session = AdbSession.for_world(rest or "demo", seed=seed,
                                       config=SessionConfig(adb_config=dict(adb_options)))
        try:
            session.start()
        except BaseException:
            session.close()
            raise
        return _SessionDevice(session)
    from llamatouch.device.adb import AdbConfig, AdbDevice

    serial = rest if sep and kind == "adb" else spec
    port = int(os.environ.get("ANDROID_ADB_SERVER_PORT", "5037"))
    options = {"adb_port": port, **adb_options}
    return AdbDevice(AdbConfig(serial=serial, **options))


class _SessionDevice(Device):
    """An AdbDevice that owns its :class:`AdbSession` (closing it ends the session)."""

    def __init__(self, session: AdbSession) -> None:
        self.session = session
        self.inner = session.device
        self.serial = self.inner.serial

    def observe(self, *, with_packages: bool = False) -> Observation:
        return self.inner.observe(with_packages=with_packages)

    def act(self, action: Any) -> ActResult:
        return self.inner.act(action)

    def open_app(self, package: str, activity: str | None = None) -> None:
        self.inner.open_app(package, activity)

    def stop_app(self, package: str) -> None:
        self.inner.stop_app(package)

    def press(self, key: str) -> None:
        self.inner.press(key)

    def installed_packages(self) -> list[str]:
        return self.inner.installed_packages()

    def reset(self, package: str | None = None) -> None:
        self.inner.reset(package)  # the session's reset hook resets the served device

    def health(self) -> bool:
        return self.inner.health()

    def screen_size(self) -> tuple[int, int]:
        return self.inner.screen_size()

    def close(self) -> None:
        self.session.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
