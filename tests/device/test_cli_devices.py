"""``llamatouch emulator serve`` and ``llamatouch devices`` as a user runs them: separate
processes, the real adb binary, Ctrl-C to stop."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from llamatouch_emulator.harness import adb_binary, free_port

pytestmark = pytest.mark.slow


def _llamatouch(*args: str) -> list[str]:
    return [sys.executable, "-m", "llamatouch", *args]


def test_serve_connect_list_and_ctrl_c() -> None:
    env = dict(os.environ, ADB_MDNS="0", PYTHONUNBUFFERED="1")
    serve = subprocess.Popen(_llamatouch("emulator", "serve", "--world", "demo", "--port", "0"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    adb_port = free_port()
    adb = [adb_binary(), "-P", str(adb_port)]
    try:
        assert serve.stdout is not None
        address = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not address:
            line = serve.stdout.readline()
            m = re.search(r"adb connect (127\.0\.0\.1:\d+)", line)
            if m:
                address = m.group(1)
            elif not line and serve.poll() is not None:
                break
        assert address, serve.stderr.read() if serve.stderr else "no output"
        subprocess.run([*adb, "start-server"], env=env, check=True, timeout=30,
                       capture_output=True)
        out = subprocess.run([*adb, "connect", address], env=env, timeout=30,
                             capture_output=True, text=True).stdout
        assert "connected to" in out
        for _ in range(50):
            state = subprocess.run([*adb, "-s", address, "get-state"], env=env, timeout=10,
                                   capture_output=True, text=True).stdout.strip()
            if state == "device":
                break
            time.sleep(0.1)
        listing = subprocess.run(_llamatouch("devices", "--adb-port", str(adb_port)), env=env,
                                 timeout=60, capture_output=True, text=True)
        assert listing.returncode == 0, listing.stderr
        row = next(ln for ln in listing.stdout.splitlines() if ln.startswith(address))
        assert "LlamaTouch Virtual" in row and "1080x2400" in row and row.endswith("ok")
    finally:
        subprocess.run([*adb, "kill-server"], env=env, timeout=10, capture_output=True)
        serve.send_signal(signal.SIGINT)
        try:
            rest, _ = serve.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            serve.kill()
            raise
    assert serve.returncode == 0
    assert "stopped." in rest


def test_devices_virtual_lists_the_demo_world() -> None:
    proc = subprocess.run(_llamatouch("devices", "--virtual"), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0
    assert re.search(r"^demo\s+\d+\s+\d+\s+virtual:demo", proc.stdout, re.M)


def test_devices_without_adb_server_is_a_clear_error() -> None:
    port = free_port()
    proc = subprocess.run(_llamatouch("devices", "--adb-port", str(port)), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1
    assert f"no adb server at 127.0.0.1:{port}" in proc.stderr


def test_serve_refuses_a_busy_port() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = subprocess.run(_llamatouch("emulator", "serve", "--port", str(port)),
                              capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "cannot listen" in proc.stderr


def test_serve_with_a_bad_world_is_a_typed_error(tmp_path: object) -> None:
    import pathlib

    bad = pathlib.Path(str(tmp_path)) / "broken"
    bad.mkdir()
    (bad / "world.json").write_text('{"schema": "llamatouch.world/1", "states": [')
    for world, needle in ((str(bad), "world.json"), ("no-such-world", "no-such-world")):
        proc = subprocess.run(_llamatouch("emulator", "serve", "--world", world, "--port", "0"),
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2  # a malformed or missing input is exit status 2
        assert "llamatouch emulator: error:" in proc.stderr and needle in proc.stderr
