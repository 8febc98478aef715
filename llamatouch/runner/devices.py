"""Devices for eval workers: one slot per worker, one episode per device at a time.

Device specs (``--device``):

- ``adb-virtual`` / ``adb-virtual:WORLD``: a virtual device served over the ADB protocol and
  driven through the real ``adb`` server (:class:`llamatouch_emulator.harness.AdbSession`).
  Without ``:WORLD`` each task runs in its own world (``task.world``, else the suite's). This
  is the default when no device is named.
- ``virtual`` / ``virtual:WORLD``: the same virtual device in process (no ADB; fastest).
- anything else: the serial of a phone or emulator known to ``adb``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llamatouch.agent import DeviceCapabilities
from llamatouch.device.base import Device
from llamatouch.errors import DeviceError, LlamaTouchError
from llamatouch.world import World, load_world

log = logging.getLogger(__name__)

DEFAULT_DEVICE = "adb-virtual"
VIRTUAL_KINDS = ("virtual", "adb-virtual")


def parse_spec(spec: str) -> tuple[str, str]:
    """``(kind, arg)``: ``("adb-virtual", "demo")``, ``("virtual", "")``, ``("adb", SERIAL)``."""
    for kind in VIRTUAL_KINDS:
        if spec == kind:
            return kind, ""
        if spec.startswith(kind + ":"):
            return kind, spec[len(kind) + 1 :]
    return "adb", spec


def resolve_world(name: str, base: Path | None = None) -> World:
    """A world by name (a shipped one such as ``demo``) or folder (relative to ``base``)."""
    candidates = [Path(name)]
    if base is not None:
        candidates[:0] = [base / name, base / "worlds" / name]
    for c in candidates:
        if (c / "world.json").is_file():
            return load_world(c)
    from llamatouch_emulator.worlds import load_named_world

    return load_named_world(name)


@dataclass(slots=True)
class _Held:
    device: Device
    caps: DeviceCapabilities
    closer: contextlib.ExitStack
    #: jumps to a world state out of band (a virtual device's snapshot restore), if possible
    jump: Callable[[str], None] | None = None


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
        self.kind, self.arg = parse_spec(spec)
        self.world_base = world_base
        self._held: dict[str, _Held] = {}
        self._worlds: dict[str, World] = {}

    def _world(self, name: str) -> World:
        if name not in self._worlds:
            self._worlds[name] = resolve_world(name, self.world_base)
        return self._worlds[name]

    def acquire(self, task_world: str) -> tuple[Device, DeviceCapabilities]:
        """The device to run a task of ``task_world`` on (connected on first use)."""
        held = self._acquire(task_world)
        return held.device, held.caps

    def reset_to(self, task_world: str, start_state: str, package: str) -> None:
        """Put the device at a task's start: a recorded state when the task names one and the
        device is virtual (in process, or the virtual device behind an ADB session, reset out
        of band like an emulator snapshot restore), else ``package`` freshly launched."""
        held = self._acquire(task_world)
        if start_state and held.jump is not None:
            held.jump(start_state)
        else:
            held.device.reset(package)

    def _acquire(self, task_world: str) -> _Held:
        world = self.arg or task_world or "demo"
        key = world if self.kind in VIRTUAL_KINDS else self.arg
        held = self._held.get(key)
        if held is None:
            if self.kind == "adb":
                # a real device: one at a time; drop any other
                self.close()
            held = self._open(world)
            self._held[key] = held
        return held

    def _open(self, world_name: str) -> _Held:
        stack = contextlib.ExitStack()
        jump: Callable[[str], None] | None = None
        try:
            world: World | None = None
            if self.kind == "virtual":
                from llamatouch_emulator.virtual import VirtualDevice

                world = self._world(world_name)
                vdev = VirtualDevice(
                    world, seed=self.seed, serial=f"virtual-{self.index}-{world.name}"
                )
                dev: Device = vdev
                jump = vdev.reset_to_state
                kind, shots = "virtual", True
            elif self.kind == "adb-virtual":
                from llamatouch_emulator.harness import AdbSession
                from llamatouch_emulator.virtual import VirtualDevice

                world = self._world(world_name)
                served = VirtualDevice(world, seed=self.seed, serial=f"emulator-{self.index}")
                session: Any = stack.enter_context(AdbSession(served))
                dev = session.device
                jump = served.reset_to_state
                kind, shots = "adb-virtual", True
            else:
                from llamatouch.device import connect

                dev = connect(self.arg)
                stack.callback(dev.close)
                kind, shots, world_name = "adb", True, ""
            width, height = dev.screen_size()
        except BaseException:
            stack.close()
            raise
        caps = DeviceCapabilities(
            serial=dev.serial or self.spec,
            kind=kind,
            width=width,
            height=height,
            screenshots=shots,
            world=str(world.root) if world is not None and world.root else world_name,
        )
        return _Held(dev, caps, stack, jump)

    def recover(self) -> None:
        """After an infrastructure failure: drop every connection (reopened on next use)."""
        self.close()

    def close(self) -> None:
        for held in self._held.values():
            try:
                held.closer.close()
            except (LlamaTouchError, OSError) as exc:
                log.warning("closing device %s: %s", held.caps.serial, exc)
        self._held.clear()


__all__ = ["DEFAULT_DEVICE", "DeviceError", "DeviceSlot", "parse_spec", "resolve_world"]
