"""Emulator helpers without an SDK: a fake emulator console on loopback speaking the real
console protocol (banner, auth token, OK/KO replies), and clear errors when the SDK is missing."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from llamatouch.device.emulator_console import (
    ConsoleError,
    EmulatorConsole,
    SdkNotFoundError,
    boot_avd,
    find_tool,
    list_avds,
)

TOKEN = "s3cr3tT0ken+/="


class FakeConsole:
    """The console side of an emulator (protocol only; no emulator behind it)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.snapshots: dict[str, str] = {}
        self.state = "boot"
        self.received: list[str] = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self.session(conn)

    def session(self, conn: socket.socket) -> None:
        f = conn.makefile("rwb")
        f.write(b"Android Console: Authentication required\r\n"
                b"Android Console: type 'auth <auth_token>' to authenticate\r\n"
                b"Android Console: you can find your <auth_token> in \r\n"
                b"'/home/user/.emulator_console_auth_token'\r\nOK\r\n")
        f.flush()
        authed = False
        for raw in f:
            line = raw.decode().strip()
            self.received.append(line)
            words = line.split()
            if words == ["quit"]:
                return
            if words[:1] == ["auth"]:
                authed = len(words) == 2 and words[1] == TOKEN
                f.write(b"Android Console: type 'help' for a list of commands\r\nOK\r\n"
                        if authed else b"KO: authentication token does not match\r\n")
            elif not authed:
                f.write(b"KO: unknown command, try 'help'\r\n")
            elif words == ["avd", "name"]:
                f.write(b"Pixel_6_API_33\r\nOK\r\n")
            elif words[:3] == ["avd", "snapshot", "save"]:
                self.snapshots[words[3]] = self.state
                f.write(b"OK\r\n")
            elif words[:3] == ["avd", "snapshot", "load"]:
                if words[3] in self.snapshots:
                    self.state = self.snapshots[words[3]]
                    f.write(b"OK\r\n")
                else:
                    f.write(f"KO: snapshot '{words[3]}' does not exist\r\n".encode())
            elif words == ["avd", "snapshot", "list"]:
                f.write(b"List of snapshots present on all disks:\r\n"
                        b"ID        TAG                 VM SIZE      DATE       VM CLOCK\r\n")
                for name in self.snapshots:
                    f.write(f"--        {name:<20}  198M 2024-01-01 10:00:00   00:01:23.456\r\n"
                            .encode())
                f.write(b"OK\r\n")
            else:
                f.write(b"KO: unknown command, try 'help'\r\n")
            f.flush()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture()
def console() -> Iterator[FakeConsole]:
    fake = FakeConsole()
    yield fake
    fake.close()


def test_auth_and_snapshots(console: FakeConsole, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    token_file = tmp_path / ".emulator_console_auth_token"
    token_file.write_text(TOKEN + "\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    with EmulatorConsole(console.port, timeout_s=5) as con:
        assert con.avd_name() == "Pixel_6_API_33"
        console.state = "task-start"
        con.snapshot_save("task_start")
        console.state = "dirty"
        con.snapshot_load("task_start")
        assert console.state == "task-start"
        assert con.snapshot_list() == ["task_start"]
        with pytest.raises(ConsoleError, match="does not exist"):
            con.snapshot_load("nope")
        with pytest.raises(ValueError, match="bad snapshot name"):
            con.snapshot_save("x\r\nkill")
    assert f"auth {TOKEN}" in console.received
    assert "kill" not in console.received


def test_wrong_or_missing_token(console: FakeConsole, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConsoleError, match="does not match"):
        EmulatorConsole(console.port, token="wrong", timeout_s=5).open()
    monkeypatch.setenv("HOME", str(tmp_path))  # no token file there
    with pytest.raises(ConsoleError, match="emulator_console_auth_token"):
        EmulatorConsole(console.port, timeout_s=5).open()


def test_no_console_is_a_device_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(Exception, match="no emulator console"):
        EmulatorConsole(port, timeout_s=2).open()


def test_missing_sdk_gives_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANDROID_SDK_ROOT", str(tmp_path / "sdk"))
    monkeypatch.setenv("ANDROID_HOME", str(tmp_path / "sdk"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SdkNotFoundError, match=r"'emulator' not found.*ANDROID_SDK_ROOT"):
        find_tool("emulator")
    with pytest.raises(SdkNotFoundError):
        list_avds()
    with pytest.raises(SdkNotFoundError):
        boot_avd("Pixel_6_API_33")


def test_list_avds_parses_the_tool_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tool = tmp_path / "sdk" / "emulator" / "emulator"
    tool.parent.mkdir(parents=True)
    tool.write_text("#!/bin/sh\necho 'INFO    | Storing crashdata'\necho Pixel_6_API_33\n"
                    "echo Small_Phone\n")
    tool.chmod(0o755)
    monkeypatch.setenv("ANDROID_SDK_ROOT", str(tmp_path / "sdk"))
    assert list_avds() == ["Pixel_6_API_33", "Small_Phone"]


def test_adb_device_on_an_emulator_saves_and_loads_console_snapshots(
    console: FakeConsole, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llamatouch.device.adb import AdbConfig, AdbDevice

    (tmp_path / ".emulator_console_auth_token").write_text(TOKEN + "\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    dev = AdbDevice(AdbConfig(serial=f"emulator-{console.port}"))
    console.state = "task-start"
    dev.save_state("task_start")
    console.state = "dirty"
    dev.load_state("task_start")
    assert console.state == "task-start"
    with pytest.raises(ConsoleError, match="does not exist"):
        dev.load_state("nope")
    phone = AdbDevice(AdbConfig(serial="R58M12ABCDE"))
    with pytest.raises(NotImplementedError, match="not an Android emulator"):
        phone.load_state("task_start")
    with pytest.raises(NotImplementedError, match="not an Android emulator"):
        phone.save_state("task_start")
