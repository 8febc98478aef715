"""Devices: the :class:`~llamatouch.device.base.Device` interface and ways to get one.

``connect(spec)`` takes the ``--device`` grammar of :mod:`llamatouch.device.spec`:

* ``virtual:WORLD`` — the virtual device in process, replaying ``WORLD`` (``demo`` or a world
  folder; ``virtual`` alone is ``demo``);
* ``adb-virtual:WORLD`` — the same world served by our ADB wire-protocol server and driven
  through a private real ``adb`` server (an :class:`~llamatouch.device.adb.AdbDevice`); the
  session is torn down by the device's ``close()``;
* ``adb:SERIAL`` or a bare serial (``emulator-5554``, ``127.0.0.1:5555``, a USB serial) — a
  device on the adb server at ``$ANDROID_ADB_SERVER_PORT`` (default 5037).

Devices are opened by :func:`~llamatouch.device.kinds.open_device`, the one composition root
(the runner's device slots use it too); the virtual kinds are registered by the virtual device
package through the ``llamatouch.devices`` entry-point group.
"""

from __future__ import annotations

from typing import Any

from llamatouch.actions import Action
from llamatouch.device.base import ActResult, Device, Observation
from llamatouch.device.kinds import DeviceHandle, OpenRequest, open_device
from llamatouch.device.spec import DEFAULT_DEVICE, DeviceKind, DeviceSpec

__all__ = [
    "DEFAULT_DEVICE",
    "ActResult",
    "Device",
    "DeviceHandle",
    "DeviceKind",
    "DeviceSpec",
    "Observation",
    "OpenRequest",
    "connect",
    "open_device",
]


def connect(spec: str, *, seed: int = 0, **adb_options: Any) -> Device:
    """A :class:`Device` for ``spec`` (see the module docstring); closing it releases
    everything opened for it.

    ``seed`` seeds virtual devices; ``adb_options`` are :class:`~llamatouch.device.adb.
    AdbConfig` fields for adb devices (and for the ADB client of ``adb-virtual``).
    """
    handle = open_device(DeviceSpec.parse(spec), OpenRequest(seed=seed, adb_options=adb_options))
    if handle.close == handle.device.close:
        return handle.device
    return _OwnedDevice(handle)


class _OwnedDevice(Device):
    """A device whose ``close()`` closes its whole :class:`DeviceHandle` (e.g. the ADB session
    behind an ``adb-virtual`` device)."""

    def __init__(self, handle: DeviceHandle) -> None:
        self.handle = handle
        self.inner = handle.device
        self.serial = self.inner.serial

    def observe(self, *, with_packages: bool = False) -> Observation:
        return self.inner.observe(with_packages=with_packages)

    def act(self, action: Action) -> ActResult:
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
        self.inner.reset(package)

    def health(self) -> bool:
        return self.inner.health()

    def screen_size(self) -> tuple[int, int]:
        return self.inner.screen_size()

    def load_state(self, name: str) -> None:
        self.inner.load_state(name)

    def save_state(self, name: str) -> None:
        self.inner.save_state(name)

    def close(self) -> None:
        self.handle.close()
