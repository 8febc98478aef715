"""The devices of a Ray cluster, read from the custom resources its nodes advertise.

Every node says which devices it holds when it joins (``ray start --resources=JSON``):

- ``llamatouch_device:SERIAL`` = 1: a phone or emulator known to that node's ``adb`` server.
- ``llamatouch_world:WORLD`` = N: N virtual-device slots for the world ``WORLD`` (a shipped
  world name such as ``demo``, or a world folder as the suite names it).
- ``llamatouch_virtual`` = N: N virtual-device slots that take a task of any world.
- ``llamatouch_app:PACKAGE`` = 1 (optional): the app is installed on the node's phones; a node
  that names apps only gets tasks of those apps on its phones.

A device actor holds one unit of its device's resource and is pinned to its node, so Ray never
places two actors on one device and never runs a task on a node that does not hold it.
:func:`node_resources` gives the resource map for a list of ``--device`` specs (what to pass to
``ray start --resources``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from llamatouch.device.spec import DeviceKind, DeviceSpec
from llamatouch.runner.runconfig import RunError
from llamatouch.runner.work import EpisodeSpec

#: Resource prefix of a phone or emulator (``llamatouch_device:SERIAL``).
RES_DEVICE = "llamatouch_device:"
#: Resource prefix of virtual-device slots for one world (``llamatouch_world:WORLD``).
RES_WORLD = "llamatouch_world:"
#: Resource of virtual-device slots for any world.
RES_VIRTUAL = "llamatouch_virtual"
#: Resource prefix of an app installed on a node's phones (``llamatouch_app:PACKAGE``).
RES_APP = "llamatouch_app:"
#: The world a task without one runs in on a virtual device (as in ``DeviceSlot``).
DEFAULT_WORLD = "demo"


class PoolError(RunError):
    """The cluster holds no device a task can run on (names the world and the resource)."""


@dataclass(frozen=True, slots=True)
class PoolDevice:
    """One device (or virtual-device slot) of the cluster.

    Attributes:
        node_id: the Ray node that holds it (hex id).
        node_ip: that node's address (for messages).
        resource: the custom resource one unit of which its actor holds.
        kind: ``"adb"`` (a phone/emulator) or ``"virtual"`` (a virtual-device slot).
        serial: the adb serial (``""`` for a virtual slot).
        world: the world of a virtual slot (``""``: any world; a phone: ``""``).
        slot: the slot's number among the node's units of ``resource`` (0-based).
        apps: apps the node advertises for its phones (empty: any app).
    """

    node_id: str
    node_ip: str
    resource: str
    kind: str
    serial: str = ""
    world: str = ""
    slot: int = 0
    apps: frozenset[str] = frozenset()

    @property
    def label(self) -> str:
        """``"<ip>/<node id prefix> phone R58M..."`` or ``"... virtual demo #1"``."""
        where = f"{self.node_ip}/{self.node_id[:8]}"
        if self.kind == "adb":
            return f"{where} device {self.serial}"
        return f"{where} virtual {self.world or '*'} #{self.slot}"

    def fits(self, spec: EpisodeSpec) -> bool:
        """The episode can run on this device (its world, or its app on a phone)."""
        if self.kind == "adb":
            return not self.apps or spec.task.app in self.apps
        return not self.world or (spec.world or DEFAULT_WORLD) == self.world

    def device_spec(self, virtual_kind: str) -> str:
        """The ``--device`` spec a worker of this device is built with."""
        if self.kind == "adb":
            return self.serial
        return f"{virtual_kind}:{self.world}" if self.world else virtual_kind


def devices_of_node(node_id: str, node_ip: str, resources: Mapping[str, float]) -> list[PoolDevice]:
    """The devices a node advertises in its resources (see the module docstring)."""
    apps = frozenset(k[len(RES_APP) :] for k in resources if k.startswith(RES_APP))
    out: list[PoolDevice] = []
    for name in sorted(resources):
        count = int(resources[name])
        if name.startswith(RES_DEVICE) and count >= 1:
            serial = name[len(RES_DEVICE) :]
            out.append(PoolDevice(node_id, node_ip, name, "adb", serial=serial, apps=apps))
        elif name.startswith(RES_WORLD) or name == RES_VIRTUAL:
            world = name[len(RES_WORLD) :] if name.startswith(RES_WORLD) else ""
            out.extend(
                PoolDevice(node_id, node_ip, name, "virtual", world=world, slot=i)
                for i in range(count)
            )
    return out


def devices_of_nodes(nodes: Iterable[Mapping[str, object]]) -> list[PoolDevice]:
    """The devices of every live node in ``ray.nodes()`` output."""
    out: list[PoolDevice] = []
    for node in nodes:
        if not node.get("Alive"):
            continue
        resources = node.get("Resources")
        if not isinstance(resources, Mapping):
            continue
        out.extend(
            devices_of_node(str(node.get("NodeID", "")), str(node.get("NodeManagerAddress", "")),
                            resources)
        )
    return out


def node_resources(device_specs: Sequence[str]) -> dict[str, float]:
    """The custom resources a node holding ``device_specs`` advertises.

    ``["adb-virtual:demo", "adb-virtual:demo", "R58M12"]`` →
    ``{"llamatouch_world:demo": 2, "llamatouch_device:R58M12": 1}``; a virtual spec without a
    world adds to ``llamatouch_virtual``.
    """
    out: dict[str, float] = {}
    for spec in device_specs:
        parsed = DeviceSpec.parse(spec)
        kind, arg = parsed.kind, parsed.arg
        if kind == "adb":
            out[RES_DEVICE + arg] = 1
        else:
            name = RES_WORLD + arg if arg else RES_VIRTUAL
            out[name] = out.get(name, 0) + 1
    return out


def resources_json(device_specs: Sequence[str]) -> str:
    """:func:`node_resources` as the JSON ``ray start --resources`` takes."""
    return json.dumps(node_resources(device_specs), sort_keys=True)


def virtual_kind(device_specs: Sequence[str]) -> str:
    """The kind of virtual device the run asked for (``adb-virtual`` unless ``virtual``)."""
    for spec in device_specs:
        kind = DeviceSpec.parse(spec).kind
        if kind is not DeviceKind.ADB:
            return kind.value
    return "adb-virtual"


def choose(devices: Sequence[PoolDevice], work: Sequence[EpisodeSpec],
           max_workers: int | None) -> list[PoolDevice]:
    """The devices to run ``work`` on: those that fit some episode, spread over the nodes
    (round robin) and at most ``max_workers`` of them.

    Raises:
        PoolError: some episode fits no device of the cluster.
    """
    for spec in work:
        if not any(d.fits(spec) for d in devices):
            world = spec.world or DEFAULT_WORLD
            raise PoolError(
                f"no device of the Ray cluster can run {spec.episode_id} (world {world!r}, app "
                f"{spec.task.app!r}): start a node with --resources='{{\"{RES_WORLD}{world}\": 1}}'"
                f" or a phone ('{RES_DEVICE}SERIAL') that has the app"
            )
    useful = [d for d in devices if any(d.fits(s) for s in work)]
    by_node: dict[str, list[PoolDevice]] = {}
    for d in useful:
        by_node.setdefault(d.node_id, []).append(d)
    spread: list[PoolDevice] = []
    queues = list(by_node.values())
    while any(queues):
        for q in queues:
            if q:
                spread.append(q.pop(0))
    chosen = spread[:max_workers] if max_workers else spread
    for spec in work:
        if not any(d.fits(spec) for d in chosen):
            raise PoolError(
                f"--workers {max_workers} leaves no device for {spec.episode_id} (world "
                f"{spec.world or DEFAULT_WORLD!r}): allow more workers"
            )
    return chosen
