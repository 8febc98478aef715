"""Helpers for Android SDK emulators: list AVDs, boot one, save/load snapshots.

These need the Android SDK (``emulator`` and ``adb``); without it every helper raises
:class:`SdkNotFoundError` saying what is missing and where it was looked for.

Snapshots go through the emulator console (a line-oriented telnet-style protocol on the
emulator's even port, 5554 for ``emulator-5554``). Protocol facts (Android emulator docs,
"Send emulator console commands"): on connect the console prints a banner ending in ``OK``;
since emulator 25.x it first requires ``auth <token>`` where the token is the content of
``~/.emulator_console_auth_token``; every command answers zero or more lines and then ``OK`` or
``KO: <reason>``. Used commands: ``avd snapshot save NAME``, ``avd snapshot load NAME``,
``avd snapshot list``, ``avd name``, ``kill``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from llamatouch.errors import DeviceError, DeviceTimeoutError

TOKEN_FILE = Path("~/.emulator_console_auth_token")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")


class SdkNotFoundError(DeviceError):
    """An Android SDK tool (``emulator``, ``adb``) is not installed or not found."""


class ConsoleError(DeviceError):
    """The emulator console refused a command (``KO: ...``) or broke the protocol."""


def sdk_roots() -> list[Path]:
    """Candidate SDK folders: ``$ANDROID_SDK_ROOT``, ``$ANDROID_HOME``, ``~/Android/Sdk``."""
    roots = [os.environ.get("ANDROID_SDK_ROOT"), os.environ.get("ANDROID_HOME")]
    out = [Path(r).expanduser() for r in roots if r]
    out.append(Path("~/Android/Sdk").expanduser())
    return out


def find_tool(name: str) -> str:
    """Path of SDK tool ``name`` (``emulator`` or ``adb``), else :class:`SdkNotFoundError`."""
    sub = {"emulator": "emulator", "adb": "platform-tools"}.get(name, "")
    looked: list[str] = []
    for root in sdk_roots():
        cand = root / sub / name
        looked.append(str(cand))
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    found = shutil.which(name)
    if found:
        return found
    raise SdkNotFoundError(
        f"Android SDK tool {name!r} not found (looked in {', '.join(looked)} and $PATH); "
        "install the Android SDK (emulator + platform-tools) and set ANDROID_SDK_ROOT"
    )


def list_avds(*, emulator: str | None = None, timeout_s: float = 30.0) -> list[str]:
    """Names of the installed AVDs (``emulator -list-avds``)."""
    exe = emulator or find_tool("emulator")
    try:
        proc = subprocess.run([exe, "-list-avds"], capture_output=True, text=True,
                              timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise DeviceTimeoutError(f"'emulator -list-avds' took more than {timeout_s}s") from exc
    if proc.returncode != 0:
        raise DeviceError(f"'emulator -list-avds' failed: {proc.stderr.strip()[:300]}")
    return [ln.strip() for ln in proc.stdout.splitlines()
            if ln.strip() and not ln.startswith(("INFO", "WARNING", "ERROR"))]


@dataclass
class BootedEmulator:
    """A running emulator started by :func:`boot_avd`.

    Attributes:
        avd: the AVD name.
        serial: its adb serial (``emulator-<port>``).
        console_port: the console port (adb uses ``console_port + 1``).
        process: the emulator process.
    """

    avd: str
    serial: str
    console_port: int
    process: subprocess.Popen[bytes]

    def console(self, **kwargs: object) -> EmulatorConsole:
        return EmulatorConsole(port=self.console_port, **kwargs)  # type: ignore[arg-type]

    def stop(self, timeout_s: float = 30.0) -> None:
        """Ask the emulator to quit (console ``kill``), then terminate the process."""
        with contextlib.suppress(DeviceError), self.console() as con:
            con.kill()
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            self.process.wait(10)


def boot_avd(
    avd: str,
    *,
    port: int = 5554,
    headless: bool = True,
    snapshot: str | None = None,
    timeout_s: float = 300.0,
    emulator: str | None = None,
    adb: str | None = None,
) -> BootedEmulator:
    """Start AVD ``avd`` on console ``port`` and wait until Android reports boot completed
    (``getprop sys.boot_completed`` = 1), at most ``timeout_s``."""
    _check_name(avd, "AVD name")
    if snapshot is not None:
        _check_name(snapshot, "snapshot name")
    if port % 2 or not 5554 <= port <= 5682:
        raise ValueError("emulator console ports are even numbers in 5554..5682")
    exe = emulator or find_tool("emulator")
    adb_exe = adb or find_tool("adb")
    argv = [exe, "-avd", avd, "-port", str(port), "-no-boot-anim", "-no-audio"]
    if headless:
        argv.append("-no-window")
    if snapshot:
        argv += ["-snapshot", snapshot]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    serial = f"emulator-{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DeviceError(f"emulator for AVD {avd!r} exited with {proc.returncode}")
        try:
            out = subprocess.run([adb_exe, "-s", serial, "shell", "getprop", "sys.boot_completed"],
                                 capture_output=True, text=True, timeout=10, check=False)
            if out.stdout.strip() == "1":
                return BootedEmulator(avd, serial, port, proc)
        except subprocess.TimeoutExpired:
            pass
        time.sleep(2)
    proc.terminate()
    raise DeviceTimeoutError(f"AVD {avd!r} did not finish booting within {timeout_s:.0f}s")


def _check_name(name: str, what: str) -> None:
    if not _NAME_RE.match(name):
        raise ValueError(f"bad {what} {name!r} (letters, digits, '_', '.', '-')")


def read_auth_token(path: Path | None = None) -> str | None:
    """The console auth token, or ``None`` when the token file does not exist."""
    p = (path or TOKEN_FILE).expanduser()
    try:
        return p.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None


class EmulatorConsole:
    """A connection to an emulator console (context manager).

    Args:
        port: console port (5554 for ``emulator-5554``).
        host: where the emulator runs (loopback: consoles only listen there).
        token: auth token; ``None`` reads ``~/.emulator_console_auth_token`` when the console
            asks for it.
        timeout_s: bound on connecting and on each command (snapshot loads can be slow).
    """

    def __init__(self, port: int = 5554, *, host: str = "127.0.0.1", token: str | None = None,
                 timeout_s: float = 60.0) -> None:
        self.port = port
        self.host = host
        self.token = token
        self.timeout_s = timeout_s
        self._sock: socket.socket | None = None
        self._buf = b""

    def __enter__(self) -> EmulatorConsole:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        try:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
        except OSError as exc:
            raise DeviceError(f"no emulator console at {self.host}:{self.port}: {exc}") from exc
        try:
            self._handshake()
        except BaseException:
            self.close()
            raise

    def _handshake(self) -> None:
        banner = self._read_reply()
        if any("Authentication required" in ln for ln in banner):
            token = self.token if self.token is not None else read_auth_token()
            if token is None:
                raise ConsoleError(f"the console at port {self.port} wants 'auth <token>' and "
                                   f"{TOKEN_FILE} does not exist")
            if not re.fullmatch(r"[A-Za-z0-9+/=_\-]+", token):
                raise ConsoleError("the console auth token has unexpected characters")
            self.command(f"auth {token}")

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.sendall(b"quit\r\n")
            self._sock.close()
            self._sock = None

    def _read_line(self) -> str:
        assert self._sock is not None
        while b"\n" not in self._buf:
            try:
                chunk = self._sock.recv(4096)
            except TimeoutError as exc:
                raise DeviceTimeoutError(
                    f"emulator console at port {self.port}: no answer in {self.timeout_s}s"
                ) from exc
            if not chunk:
                raise ConsoleError(f"emulator console at port {self.port} closed the connection")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line.decode("utf-8", "replace").rstrip("\r")

    def _read_reply(self) -> list[str]:
        lines: list[str] = []
        while True:
            line = self._read_line()
            if line == "OK" or line.startswith("OK:"):
                return lines
            if line.startswith("KO"):
                raise ConsoleError(f"emulator console: {line[3:].strip() or 'KO'}")
            lines.append(line)

    def command(self, text: str) -> list[str]:
        """Send one command line; return its output lines (raises on ``KO``)."""
        if self._sock is None:
            raise ConsoleError("console is not open")
        if "\n" in text or "\r" in text:
            raise ValueError("console commands are single lines")
        self._sock.sendall(text.encode("utf-8") + b"\r\n")
        return self._read_reply()

    def avd_name(self) -> str:
        lines = self.command("avd name")
        return lines[0].strip() if lines else ""

    def snapshot_save(self, name: str) -> None:
        _check_name(name, "snapshot name")
        self.command(f"avd snapshot save {name}")

    def snapshot_load(self, name: str) -> None:
        _check_name(name, "snapshot name")
        self.command(f"avd snapshot load {name}")

    def snapshot_list(self) -> list[str]:
        """Snapshot names (parsed from the ``ID TAG VM SIZE DATE VM CLOCK`` table)."""
        names = []
        for line in self.command("avd snapshot list"):
            parts = line.split()
            if len(parts) >= 2 and parts[0] not in ("List", "ID"):
                names.append(parts[1])
        return names

    def kill(self) -> None:
        """Quit the emulator."""
        if self._sock is None:
            raise ConsoleError("console is not open")
        self._sock.sendall(b"kill\r\n")
        # the emulator may close the connection before answering
        with contextlib.suppress(ConsoleError):
            self._read_reply()
