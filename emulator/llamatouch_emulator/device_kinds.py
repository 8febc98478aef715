"""The device kinds this package provides, registered with the core through the entry-point
group ``llamatouch.devices`` (see :mod:`llamatouch.device.kinds`): ``virtual`` (the virtual
device in process) and ``adb-virtual`` (the same device behind our ADB server and a private
real ``adb`` server)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from llamatouch.device.kinds import DeviceHandle, OpenRequest
from llamatouch.device.spec import DeviceKind, DeviceSpec
from llamatouch.world import World, resolve_world, shipped_worlds
from llamatouch_emulator.harness import AdbSession, SessionConfig
from llamatouch_emulator.virtual import VirtualDevice


def _asked(spec: DeviceSpec, request: OpenRequest) -> str:
    return spec.arg or request.world or "demo"


def _world(spec: DeviceSpec, request: OpenRequest) -> World:
    return resolve_world(_asked(spec, request), request.world_base)


def _world_label(world: World, asked: str) -> str:
    """What the device's capabilities (and so the trace manifest) record: a registered
    world's name when it was asked for by that name (the same on every machine), else the
    world's folder (where an agent reopens it from)."""
    registered = shipped_worlds().get(asked)
    if registered is not None and world.root is not None and (
        Path(registered).resolve() == Path(world.root).resolve()
    ):
        return asked
    return str(world.root) if world.root else world.name


def open_virtual(spec: DeviceSpec, request: OpenRequest) -> DeviceHandle:
    """The virtual device in process on the spec's world (else ``request.world``)."""
    world = _world(spec, request)
    device = VirtualDevice(
        world, seed=request.seed, serial=f"virtual-{request.index}-{world.name}"
    )
    return DeviceHandle(
        device, DeviceKind.VIRTUAL, world=_world_label(world, _asked(spec, request)),
        screenshots=True,
        world_states=True, close=device.close,
    )


def open_adb_virtual(spec: DeviceSpec, request: OpenRequest) -> DeviceHandle:
    """The virtual device served over ADB, driven through a real ``adb`` server.

    The returned :class:`~llamatouch.device.adb.AdbDevice` loads world states out of band (the
    served device jumps, as an emulator snapshot load would); ``close`` ends the session.
    """
    world = _world(spec, request)
    served = VirtualDevice(world, seed=request.seed, serial=f"emulator-{request.index}")
    with contextlib.ExitStack() as stack:
        session = stack.enter_context(
            AdbSession(served, SessionConfig(adb_config=dict(request.adb_options)))
        )
        device = session.device
        device.state_loader = served.reset_to_state
        stack.pop_all()
    return DeviceHandle(
        device, DeviceKind.ADB_VIRTUAL, world=_world_label(world, _asked(spec, request)),
        screenshots=True, world_states=True, close=session.close,
    )
