"""``llamatouch emulator serve``: serve a virtual device over the ADB protocol."""

from __future__ import annotations

import argparse
import sys

from llamatouch.cli import args as argtypes

#: Default port of ``emulator serve``. Outside 5555-5585 on purpose: every adb server on the
#: host scans that range for emulators (``emulator-5554`` answers on 5555, ...), so a device
#: served there would show up, unasked, as ``emulator-NNNN`` in every user's ``adb devices``
#: and other users' adb servers would attach to it.
DEFAULT_PORT = 15555
#: adb's emulator scan range (console port 5554 + 2k, adb port 5555 + 2k, k < 16).
ADB_SCAN_RANGE = range(5555, 5586)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="emulator_command", metavar="ACTION")
    serve = sub.add_parser(
        "serve",
        help="serve a world as an ADB device (then: adb connect HOST:PORT)",
        description="Speak the device side of the ADB protocol for a virtual device replaying "
        "WORLD, so that the real adb server, adbutils and uiautomator2 drive it like a phone. "
        "Ctrl-C stops it.",
    )
    serve.add_argument("--world", default="demo", help="shipped world name or world folder "
                       "(default: demo)")
    serve.add_argument(
        "--port", type=argtypes.port_or_any, default=DEFAULT_PORT,
        help=f"TCP port, 1..65535 (default {DEFAULT_PORT}; 0 = a free port). The default lies "
        "outside 5555-5585, the range every adb server scans for emulators, so the device is "
        "not listed as emulator-NNNN by, nor attached to, every adb server on the host",
    )
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to bind (default 127.0.0.1; other hosts are opt-in)")
    serve.add_argument("--seed", type=int, default=0, help="seed of the virtual device")
    serve.add_argument("--serial", default="virtual-0", help="serial reported by getprop")
    serve.add_argument(
        "--llm-server", action="store_true",
        help="also run the embedded model as a server 'inside' the device, as llama-server on a "
        "phone: on device port --llm-port, reachable only through adb forward (e.g. llamatouch "
        "eval --model device:8080 --device HOST:PORT)",
    )
    serve.add_argument("--llm-port", type=argtypes.port, default=8080,
                       help="device port of --llm-server (default 8080)")
    serve.add_argument("--llm-model", default="embedded",
                       help="--llm-server's model: embedded (default) or a .gguf path")
    serve.add_argument("--llm-threads", type=argtypes.non_negative_int, default=0,
                       help="--llm-server's llama.cpp threads (default: all cores)")


def run(args: argparse.Namespace) -> int:
    if getattr(args, "emulator_command", None) != "serve":
        print(f"usage: llamatouch emulator serve [--world demo|PATH] [--port {DEFAULT_PORT}] "
              "[--host 127.0.0.1]", file=sys.stderr)
        return 2
    from llamatouch_emulator.adbd import AdbDeviceServer, AdbServerConfig
    from llamatouch_emulator.virtual import VirtualDevice
    from llamatouch_emulator.worlds import load_named_world

    if args.llm_server:
        from llamatouch.errors import LLMError
        from llamatouch.llm import resolve_gguf

        try:
            resolve_gguf(args.llm_model)
        except LLMError as exc:
            print(f"llamatouch emulator serve: error: --llm-model: {exc}", file=sys.stderr)
            return 2
    world = load_named_world(args.world)
    device = VirtualDevice(world, seed=args.seed, serial=args.serial)
    server = AdbDeviceServer(device, AdbServerConfig(host=args.host, port=args.port))
    llm = None
    if args.llm_server:
        from llamatouch.errors import DeviceError
        from llamatouch_emulator.llm_server import LLMServerProcess, host_on

        try:
            llm = LLMServerProcess.start(args.llm_model, args.llm_threads)
        except DeviceError as exc:
            print(f"llamatouch emulator serve: {exc}", file=sys.stderr)
            return 1
        host_on(server, llm, args.llm_port)

    def ready(srv: AdbDeviceServer) -> None:
        if srv.port in ADB_SCAN_RANGE:
            print(f"note: port {srv.port} is in adb's emulator scan range (5555-5585): every "
                  f"adb server on this host will list it as emulator-{srv.port - 1}",
                  file=sys.stderr)
        if args.host not in ("127.0.0.1", "localhost", "::1"):
            print(f"warning: listening on {args.host}: anyone who can reach this address can "
                  "drive the virtual device (no ADB authentication)", file=sys.stderr)
        print(f"serving world {world.name!r} ({len(world.states)} screens) as an ADB device")
        print(f"  adb connect {srv.address}")
        if llm is not None:
            print(f"model server {llm.model_id} on device port {args.llm_port} (pid {llm.pid}): "
                  f"adb -s {srv.address} forward tcp:0 tcp:{args.llm_port}")
        print("Ctrl-C to stop.", flush=True)

    import signal

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        server.serve_forever(on_ready=ready)
    except KeyboardInterrupt:
        print("stopped.")
        return 0
    except OSError as exc:
        print(f"llamatouch emulator serve: cannot listen on {args.host}:{args.port}: {exc}",
              file=sys.stderr)
        return 1
    finally:
        if llm is not None:
            llm.stop()
    if server.gone:
        print("the virtual device went away; stopped.", file=sys.stderr)
        return 1
    return 0
