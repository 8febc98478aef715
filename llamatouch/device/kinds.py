"""The composition root for devices: :func:`open_device` turns a :class:`DeviceSpec` into an
open device.

The core opens ``adb`` devices itself (:class:`~llamatouch.device.adb.AdbDevice`). Other kinds
are *registered* by the packages that provide them, through the entry-point group
``llamatouch.devices`` (name: the kind's string; value: a :data:`DeviceOpener`). The virtual
device package registers ``virtual`` and ``adb-virtual`` this way, so the core never imports
it::

    [project.entry-points."llamatouch.devices"]
    virtual = "llamatouch_emulator.device_kinds:open_virtual"
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol

from llamatouch.device.base import Device
from llamatouch.device.spec import DeviceKind, DeviceSpec
from llamatouch.errors import DeviceError

#: Entry-point group where packages register device kinds.
DEVICE_GROUP = "llamatouch.devices"


def _nothing() -> None:
    return None


@dataclass(slots=True)
class DeviceHandle:
    """An open device and what the runner needs to know about it.

    Attributes:
        device: the device.
        kind: its kind (written to the trace's device capabilities).
        world: the virtual world's name or folder (``""`` for phones and emulators).
        screenshots: whether observations carry real (recorded or captured) screenshots.
        world_states: whether :meth:`Device.load_state` takes a world state id (a task's
            ``start_state``); ``False`` for phones and emulators, whose states are snapshots.
        close: releases the device and everything opened for it (servers, sessions).
    """

    device: Device
    kind: DeviceKind
    world: str = ""
    screenshots: bool = True
    world_states: bool = False
    close: Callable[[], None] = field(default=_nothing)


@dataclass(frozen=True, slots=True)
class OpenRequest:
    """Everything an opener may use besides the spec.

    Attributes:
        seed: seeds a virtual device (the same seed on every worker, so that an episode's
            outcome does not depend on which worker ran it).
        index: the worker's index (names the device: ``virtual-0-demo``, ``emulator-0``).
        world: the world to open a virtual kind on when the spec names none.
        world_base: folder that relative world names are looked up in first.
        adb_options: :class:`~llamatouch.device.adb.AdbConfig` fields for adb devices.
    """

    seed: int = 0
    index: int = 0
    world: str = "demo"
    world_base: Path | None = None
    adb_options: dict[str, Any] = field(default_factory=dict)


class DeviceOpener(Protocol):
    """Opens one kind of device (what a ``llamatouch.devices`` entry point loads to)."""

    def __call__(self, spec: DeviceSpec, request: OpenRequest) -> DeviceHandle: ...


def _open_adb(spec: DeviceSpec, request: OpenRequest) -> DeviceHandle:
    from llamatouch.device.adb import AdbConfig, AdbDevice  # adbutils is heavy: on demand

    port = int(os.environ.get("ANDROID_ADB_SERVER_PORT", "5037"))
    host = os.environ.get("ANDROID_ADB_SERVER_HOST") or "127.0.0.1"
    options = {"adb_host": host, "adb_port": port, **request.adb_options}
    device = AdbDevice(AdbConfig(serial=spec.arg, **options))
    return DeviceHandle(device, DeviceKind.ADB, close=device.close)


def registered_openers() -> dict[str, DeviceOpener]:
    """Every device kind that can be opened: ``adb`` plus the registered ones."""
    openers: dict[str, DeviceOpener] = {}
    for ep in entry_points(group=DEVICE_GROUP):
        openers[ep.name] = ep.load()
    openers[DeviceKind.ADB.value] = _open_adb
    return openers


def open_device(spec: DeviceSpec, request: OpenRequest | None = None) -> DeviceHandle:
    """Open the device ``spec`` names.

    Raises:
        DeviceError: no package registers ``spec.kind`` (e.g. the virtual device package is
            not installed), or the device cannot be reached.
    """
    openers = registered_openers()
    opener = openers.get(spec.kind.value)
    if opener is None:
        known = ", ".join(sorted(openers))
        raise DeviceError(
            f"device kind {spec.kind.value!r} is not registered (entry-point group "
            f"{DEVICE_GROUP!r}; registered: {known}); is llamatouch_emulator installed?"
        )
    return opener(spec, request or OpenRequest())
