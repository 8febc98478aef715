"""``llamatouch devices --executor ray``: the devices of every node of a Ray cluster, checked
on their own node (a phone through that node's ``adb`` server, a virtual world by loading it)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

from llamatouch.errors import LlamaTouchError
from llamatouch.runner.ray_pool import PoolDevice, devices_of_nodes

#: Seconds a node gets to check its devices.
CHECK_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class DeviceHealth:
    """A cluster device and what its node found.

    Attributes:
        device: the device (node, resource, serial or world).
        slots: units of its resource on the node (virtual slots; 1 for a phone).
        health: ``"ok"``, ``"ok (12 screens)"``, ``"unhealthy"``, ``"error: ..."``.
    """

    device: PoolDevice
    slots: int
    health: str


def check_device(kind: str, name: str, timeout_s: float = 5.0) -> str:
    """The health of one device, checked where it is (runs on the device's node).

    Args:
        kind: ``"adb"`` (``name`` is a serial) or ``"virtual"`` (``name`` a world; ``""``:
            any world).
        name: the serial or world.
        timeout_s: seconds per adb query.
    """
    try:
        if kind == "adb":
            from llamatouch.device.adb import AdbConfig, AdbDevice

            dev = AdbDevice(AdbConfig(serial=name, use_u2="off", shell_timeout_s=timeout_s,
                                      connect_timeout_s=timeout_s, reconnect_attempts=0))
            try:
                return "ok" if dev.health() else "unhealthy"
            finally:
                with contextlib.suppress(LlamaTouchError, OSError):
                    dev.close()
        if not name:
            return "ok (any world)"
        from llamatouch.world import resolve_world

        world = resolve_world(name)
        return f"ok ({len(world.states)} screens)"
    except (LlamaTouchError, OSError) as exc:
        return f"error: {exc}"


def cluster_devices(address: str | None) -> list[DeviceHealth]:
    """Every device the live nodes of the cluster at ``address`` advertise, with its health.

    Args:
        address: ``"auto"``, ``"HOST:PORT"`` or ``"ray://HOST:PORT"`` (``None``: ``auto``);
            ignored when Ray is already initialised in this process.
    """
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    started = not ray.is_initialized()
    if started:
        ray.init(address=address or "auto", configure_logging=False, log_to_driver=False)
    try:
        devices = devices_of_nodes(ray.nodes())
        unique = _one_per_resource(devices)
        check = ray.remote(num_cpus=0, max_retries=0)(check_device)
        refs = [
            check.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(d.node_id, soft=False)
            ).remote(d.kind, d.serial or d.world)
            for d, _ in unique
        ]
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=CHECK_TIMEOUT_S)
        out = []
        for (d, slots), ref in zip(unique, refs, strict=True):
            health = "error: no answer from the node"
            if ref in ready:
                try:
                    health = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    health = f"error: {type(exc).__name__}"
            out.append(DeviceHealth(d, slots, health))
        return out
    finally:
        if started:
            ray.shutdown()


def _one_per_resource(devices: Sequence[PoolDevice]) -> list[tuple[PoolDevice, int]]:
    """One entry per (node, resource) with its number of slots."""
    out: dict[tuple[str, str], tuple[PoolDevice, int]] = {}
    for d in devices:
        key = (d.node_id, d.resource)
        first, n = out.get(key, (d, 0))
        out[key] = (first, n + 1)
    return list(out.values())


def format_devices(rows: Sequence[DeviceHealth]) -> str:
    """A table: node, kind, serial or world, slots, health."""
    lines = [f"{'NODE':<26} {'KIND':<8} {'DEVICE / WORLD':<28} {'SLOTS':>5}  HEALTH"]
    for r in rows:
        d = r.device
        node = f"{d.node_ip}/{d.node_id[:8]}"
        name = d.serial if d.kind == "adb" else (d.world or "(any world)")
        lines.append(f"{node:<26} {d.kind:<8} {name:<28} {r.slots:>5}  {r.health}")
    return "\n".join(lines)
