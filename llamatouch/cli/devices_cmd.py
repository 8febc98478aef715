"""``llamatouch devices``: list adb devices (model, screen size, health) or shipped worlds."""

from __future__ import annotations

import argparse
import sys

from llamatouch.cli import args as argtypes
from llamatouch.cli.common import add_adb_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--virtual", action="store_true",
                        help="list the shipped virtual worlds instead of adb devices")
    add_adb_args(parser)
    parser.add_argument("--cleanup-forwards", action="store_true",
                        help="remove the adb forwards left by llamatouch runs that were killed "
                        "(--model device:PORT; see docs/on-device.md) and exit")
    parser.add_argument("--executor", choices=("local", "ray"), default="local",
                        help="ray: list the devices every node of a Ray cluster advertises, "
                        "checked on their node (see docs/scale-out.md)")
    parser.add_argument("--address", type=argtypes.text_arg(255), default=None,
                        help="--executor ray: the cluster (auto, HOST:PORT or ray://HOST:PORT; "
                        "default auto)")


def run(args: argparse.Namespace) -> int:
    if args.cleanup_forwards:
        from llamatouch.device.forward import reap_stale_forwards

        print(f"removed {reap_stale_forwards()} forward(s) left by runs that are gone")
        return 0
    if args.virtual:
        return _list_worlds()
    if args.executor == "ray":
        return _list_ray(args.address)
    import adbutils

    from llamatouch.device.adb import AdbConfig, AdbDevice, adb_client
    from llamatouch.errors import LlamaTouchError

    client = adb_client(args.adb_host, args.adb_port, args.timeout)
    try:
        entries = client.list(extended=True)
    except (adbutils.AdbError, OSError) as exc:
        print(f"llamatouch devices: no adb server at {args.adb_host}:{args.adb_port} ({exc}); "
              "start one with 'adb start-server'", file=sys.stderr)
        return 1
    if not entries:
        print("no devices (try: llamatouch emulator serve, then adb connect 127.0.0.1:15555)")
        return 0
    print(f"{'SERIAL':<24} {'STATE':<12} {'MODEL':<22} {'ANDROID':<8} {'SIZE':<11} HEALTH")
    for e in entries:
        model, android, size, health = "-", "-", "-", "-"
        if e.state == "device":
            try:
                dev = AdbDevice(AdbConfig(serial=e.serial, adb_host=args.adb_host,
                                          adb_port=args.adb_port, use_u2="off",
                                          shell_timeout_s=args.timeout,
                                          connect_timeout_s=args.timeout,
                                          reconnect_attempts=0))
                info = dev.info()
                model, android, size = info["model"], info["android"], info["size"]
                health = "ok" if dev.health() else "unhealthy"
            except LlamaTouchError as exc:
                health = f"error: {exc}"
        print(f"{e.serial:<24} {e.state:<12} {model:<22} {android:<8} {size:<11} {health}")
    return 0


def _list_ray(address: str | None) -> int:
    try:
        import ray  # noqa: F401
    except ImportError:
        print("llamatouch devices: --executor ray needs Ray: pip install 'llamatouch[ray]'",
              file=sys.stderr)
        return 2
    from llamatouch.runner.ray_devices import cluster_devices, format_devices

    try:
        rows = cluster_devices(address)
    except ConnectionError as exc:
        print(f"llamatouch devices: no Ray cluster at {address or 'auto'} ({exc})",
              file=sys.stderr)
        return 1
    if not rows:
        print("no devices: no node advertises llamatouch_device:SERIAL, llamatouch_world:WORLD "
              "or llamatouch_virtual resources (see docs/scale-out.md)")
        return 0
    print(format_devices(rows))
    return 0


def _list_worlds() -> int:
    from llamatouch_emulator.worlds import load_named_world, shipped_worlds

    names = shipped_worlds()
    if not names:
        print("no shipped worlds")
        return 0
    print(f"{'WORLD':<16} {'SCREENS':>7} {'APPS':>5}  SPEC")
    for name in names:
        world = load_named_world(name)
        print(f"{name:<16} {len(world.states):>7} {len(world.apps):>5}  virtual:{name} "
              f"(or adb-virtual:{name})")
    return 0
