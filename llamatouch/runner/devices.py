"""Devices for eval workers: one slot per worker, one episode per device at a time.

``--device`` takes the grammar of :mod:`llamatouch.device.spec` (``adb-virtual[:WORLD]``, the
default; ``virtual[:WORLD]``; ``adb:SERIAL`` or a serial). A virtual kind without ``:WORLD``
runs each task in its own world (``task.world``, else the suite's). Devices are opened by
:func:`llamatouch.device.kinds.open_device`, the one composition root.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from llamatouch.agent import DeviceCapabilities
from llamatouch.device.base import Device
from llamatouch.device.kinds import DeviceHandle, OpenRequest, open_device
from llamatouch.device.spec import DeviceKind, DeviceSpec
from llamatouch.errors import DeviceError, LlamaTouchError

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Held:
    handle: DeviceHandle
    caps: DeviceCapabilities

    @property
    def device(self) -> Device:
        return self.handle.device


class DeviceSlot:
    """The device of one worker. Virtual devices are created per world, lazily, and kept."""

    def __init__(
        self, spec: str, index: int, world_base: Path | None = None, seed: int = 0
    ) -> None:
        self.spec = spec
        self.index = index
        #: virtual devices of every worker get the same seed, so that an episode's outcome does
        #: not depend on which worker ran it
        self.seed = seed
        self.device_spec = DeviceSpec.parse(spec)
        self.world_base = world_base
        self._held: dict[str, _Held] = {}

    def acquire(self, task_world: str) -> tuple[Device, DeviceCapabilities]:
        """The device to run a task of ``task_world`` on (connected on first use)."""
        held = self._acquire(task_world)
        return held.device, held.caps

    def reset_to(self, task_world: str, start_state: str, package: str) -> None:
        """Put the device at a task's start: a recorded state when the task names one and the
        device loads world states (:meth:`Device.load_state`: the virtual device in process, or
        the one behind an ADB session, jumped out of band like an emulator snapshot restore),
        else ``package`` freshly launched."""
        held = self._acquire(task_world)
        if start_state and held.handle.world_states:
            held.device.load_state(start_state)
        else:
            held.device.reset(package)

    def _acquire(self, task_world: str) -> _Held:
        world = self.device_spec.arg or task_world or "demo"
        key = world if self.device_spec.is_virtual else self.device_spec.arg
        held = self._held.get(key)
        if held is None:
            if self.device_spec.kind is DeviceKind.ADB:
                # a real device: one at a time; drop any other
                self.close()
            held = self._open(world)
            self._held[key] = held
        return held

    def _open(self, world_name: str) -> _Held:
        request = OpenRequest(
            seed=self.seed, index=self.index, world=world_name, world_base=self.world_base
        )
        handle = open_device(self.device_spec, request)
        try:
            width, height = handle.device.screen_size()
        except BaseException:
            handle.close()
            raise
        caps = DeviceCapabilities(
            serial=handle.device.serial or self.spec,
            kind=handle.kind.value,
            width=width,
            height=height,
            screenshots=handle.screenshots,
            world=handle.world,
        )
        return _Held(handle, caps)

    def recover(self) -> None:
        """After an infrastructure failure: drop every connection (reopened on next use)."""
        self.close()

    def close(self) -> None:
        for held in self._held.values():
            try:
                held.handle.close()
            except (LlamaTouchError, OSError) as exc:
                log.warning("closing device %s: %s", held.caps.serial, exc)
        self._held.clear()


__all__ = ["DeviceError", "DeviceSlot"]
