"""The virtual device's shell: the commands a phone answers, run in-process.

Nothing here ever starts a process on the host. A command line is parsed by
:mod:`llamatouch_emulator.shell_lex` and each simple command is dispatched to a Python
function that talks to the served device (a :class:`ServedDevice`, normally a
:class:`~llamatouch_emulator.virtual.VirtualDevice`) and to a per-device in-memory file
system. Every simple command that is reached is appended to :attr:`Shell.exec_log`, including
refused constructs (pipes, ``$(...)``), so tests can prove that nothing but the intended
command ran.

Outputs follow what Android 13 (API 33) prints, e.g. ``uiautomator dump`` says
``UI hierchary dumped to: /sdcard/window_dump.xml`` (sic, AOSP ``DumpCommand.java``) and an
unknown command gives ``/system/bin/sh: X: inaccessible or not found`` with status 127.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import io
import logging
import posixpath
import struct
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from llamatouch.errors import ActionError, DeviceError, DeviceGoneError, DumpError
from llamatouch_emulator.shell_lex import (
    Lit,
    Refused,
    ShellSyntaxError,
    SimpleCommand,
    Var,
    Word,
    parse,
)

log = logging.getLogger(__name__)

SH = "/system/bin/sh"
DEFAULT_DUMP_PATH = "/sdcard/window_dump.xml"
#: The input method uiautomator2 installs (its ``AdbKeyboard``); the virtual device has it.
ADB_KEYBOARD_IME = "com.github.uiautomator/.AdbKeyboard"
LATIN_IME = "com.android.inputmethod.latin/.LatinIME"
#: Largest total size of the in-memory file system (pushes beyond it fail like a full disk).
VFS_LIMIT_BYTES = 64 * 1024 * 1024
#: Android's long-press timeout is 400-500 ms (ViewConfiguration); a same-point ``input
#: swipe`` at least this long is a long press.
LONG_PRESS_MS = 500

#: KeyEvent.KEYCODE_* names (android.view.KeyEvent) accepted by ``input keyevent``.
KEYCODE_NAMES: dict[str, int] = {
    "UNKNOWN": 0, "SOFT_LEFT": 1, "SOFT_RIGHT": 2, "HOME": 3, "BACK": 4, "CALL": 5,
    "ENDCALL": 6, "STAR": 17, "POUND": 18, "DPAD_UP": 19, "DPAD_DOWN": 20, "DPAD_LEFT": 21,
    "DPAD_RIGHT": 22, "DPAD_CENTER": 23, "VOLUME_UP": 24, "VOLUME_DOWN": 25, "POWER": 26,
    "CAMERA": 27, "CLEAR": 28, "COMMA": 55, "PERIOD": 56, "ALT_LEFT": 57, "ALT_RIGHT": 58,
    "SHIFT_LEFT": 59, "SHIFT_RIGHT": 60, "TAB": 61, "SPACE": 62, "SYM": 63, "EXPLORER": 64,
    "ENVELOPE": 65, "ENTER": 66, "DEL": 67, "GRAVE": 68, "MINUS": 69, "EQUALS": 70,
    "LEFT_BRACKET": 71, "RIGHT_BRACKET": 72, "BACKSLASH": 73, "SEMICOLON": 74,
    "APOSTROPHE": 75, "SLASH": 76, "AT": 77, "NUM": 78, "HEADSETHOOK": 79, "FOCUS": 80,
    "PLUS": 81, "MENU": 82, "NOTIFICATION": 83, "SEARCH": 84, "PAGE_UP": 92,
    "PAGE_DOWN": 93, "ESCAPE": 111, "FORWARD_DEL": 112, "MOVE_HOME": 122, "MOVE_END": 123,
    "APP_SWITCH": 187, "SLEEP": 223, "WAKEUP": 224,
}
KEYCODE_NAMES.update({str(d): 7 + d for d in range(10)})
KEYCODE_NAMES.update({chr(ord("A") + i): 29 + i for i in range(26)})


class ServedDevice(Protocol):
    """What the ADB server needs from the device it serves (VirtualDevice provides it)."""

    serial: str

    def dump_xml(self) -> bytes: ...
    def screenshot_png(self) -> bytes: ...
    def foreground_activity(self) -> str: ...
    def tap(self, x: int, y: int) -> Any: ...
    def long_press(self, x: int, y: int, duration_ms: int = 1000) -> Any: ...
    def swipe(self, x1: int, y1: int, x2: int, y2: int, duration_ms: int = 300) -> Any: ...
    def input_text(self, text: str) -> Any: ...
    def keyevent(self, code_or_name: int | str) -> Any: ...
    def open_app(self, package: str, activity: str | None = None) -> None: ...
    def stop_app(self, package: str) -> None: ...
    def installed_packages(self) -> list[str]: ...
    def screen_size(self) -> tuple[int, int]: ...
    def health(self) -> bool: ...


@dataclass(slots=True)
class ExecRecord:
    """One simple command the shell reached.

    Attributes:
        argv: the expanded words (for a refused construct, its verbatim text).
        status: exit status it produced.
        refused: why it was not run (``""``: it ran).
    """

    argv: list[str]
    status: int
    refused: str = ""


@dataclass(slots=True)
class ShellResult:
    stdout: bytes
    stderr: bytes
    status: int


class _Buf:
    """Output of a command as a list of chunks: large outputs (a raw screencap) are passed
    along without being copied at every redirection step."""

    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        if data:
            self.parts.append(bytes(data))

    def getvalue(self) -> bytes:
        # a single chunk is returned as is (bytes.join does not copy a lone bytes object)
        return b"".join(self.parts)


@dataclass(slots=True)
class _IO:
    out: _Buf = field(default_factory=_Buf)
    err: _Buf = field(default_factory=_Buf)

    def o(self, text: str | bytes) -> None:
        self.out.write(text.encode("utf-8") if isinstance(text, str) else text)

    def e(self, text: str) -> None:
        self.err.write(text.encode("utf-8"))


class VirtualFS:
    """A flat in-memory file system (path → bytes); directories are implied by paths."""

    DIRS = (
        "/", "/sdcard", "/data", "/data/local", "/data/local/tmp", "/system", "/system/bin",
        "/storage", "/storage/emulated", "/storage/emulated/0",
    )

    def __init__(self, limit: int = VFS_LIMIT_BYTES) -> None:
        self.files: dict[str, tuple[bytes, int, int]] = {}  # path -> (data, mode, mtime)
        self.limit = limit
        self._lock = threading.Lock()

    @staticmethod
    def norm(path: str) -> str:
        p = posixpath.normpath("/" + path.lstrip("/")) if path else "/"
        return "/" + p.lstrip("/")

    def write(self, path: str, data: bytes, mode: int = 0o100644) -> None:
        p = self.norm(path)
        with self._lock:
            used = sum(len(d) for d, _, _ in self.files.values())
            old = len(self.files[p][0]) if p in self.files else 0
            if used - old + len(data) > self.limit:
                raise OSError(f"{p}: No space left on device")
            self.files[p] = (data, mode, int(time.time()))

    def read(self, path: str) -> bytes | None:
        entry = self.files.get(self.norm(path))
        return entry[0] if entry else None

    def remove(self, path: str) -> bool:
        with self._lock:
            return self.files.pop(self.norm(path), None) is not None

    def is_dir(self, path: str) -> bool:
        p = self.norm(path)
        if p in self.DIRS:
            return True
        prefix = p.rstrip("/") + "/"
        return any(f.startswith(prefix) for f in self.files)

    def listdir(self, path: str) -> list[str]:
        prefix = self.norm(path).rstrip("/") + "/"
        names = {f[len(prefix):].split("/", 1)[0] for f in self.files if f.startswith(prefix)}
        names |= {d[len(prefix):].split("/", 1)[0] for d in self.DIRS if d.startswith(prefix)}
        return sorted(n for n in names if n)

    def stat(self, path: str) -> tuple[int, int, int] | None:
        """(mode, size, mtime) or ``None``."""
        p = self.norm(path)
        entry = self.files.get(p)
        if entry is not None:
            return entry[1], len(entry[0]), entry[2]
        if self.is_dir(p):
            return 0o040771, 4096, int(time.time())
        return None


def default_props(serial: str) -> dict[str, str]:
    """``getprop`` values of the virtual device (a generic x86_64 Android 13 emulator)."""
    return {
        "ro.product.name": "llamatouch_virtual",
        "ro.product.model": "LlamaTouch Virtual",
        "ro.product.device": "llamatouch",
        "ro.product.brand": "llamatouch",
        "ro.product.manufacturer": "llamatouch",
        "ro.product.cpu.abi": "x86_64",
        "ro.build.version.sdk": "33",
        "ro.build.version.release": "13",
        "ro.build.type": "userdebug",
        "ro.serialno": serial,
        "ro.secure": "0",
        "ro.debuggable": "1",
        "sys.boot_completed": "1",
        "init.svc.bootanim": "stopped",
        "ro.sf.lcd_density": "420",
        "persist.sys.timezone": "UTC",
        "ro.llamatouch.virtual": "1",
    }


def full_activity(component: str) -> tuple[str, str]:
    """``pkg/.Act`` → (``pkg``, ``pkg.Act``); ``pkg/x.Act`` → (``pkg``, ``x.Act``)."""
    pkg, _, act = component.partition("/")
    if act.startswith("."):
        act = pkg + act
    return pkg, act


def short_activity(component: str) -> str:
    """``pkg/pkg.Act`` → ``pkg/.Act`` (how ActivityRecord prints it)."""
    pkg, act = full_activity(component)
    if act.startswith(pkg + "."):
        return f"{pkg}/{act[len(pkg):]}"
    return f"{pkg}/{act}"


def _pid(name: str) -> int:
    return 1000 + zlib.crc32(name.encode("utf-8")) % 30000


def android_input_text(arg: str) -> str:
    """What Android's ``input text ARG`` types: ``%s`` becomes a space (AOSP
    InputShellCommand.sendText: a ``%`` followed by ``s`` is replaced, any other ``%`` stays)."""
    buf = list(arg)
    escape = False
    i = 0
    while i < len(buf):
        if escape:
            escape = False
            if buf[i] == "s":
                buf[i] = " "
                del buf[i - 1]
                i -= 1
        if buf[i] == "%":
            escape = True
        i += 1
    return "".join(buf)


Command = Callable[["Shell", list[str], _IO], int]


class Shell:
    """The command interpreter of one served device (thread-safe: one command line at a time).

    Attributes:
        device: the device whose screen and apps the commands act on.
        fs: the device's in-memory file system (dumps, screenshots, pushed files).
        props: ``getprop`` values.
        settings: ``settings`` values per namespace.
        exec_log: every simple command reached (bounded), newest last.
        command_lines: every raw command line received (bounded), newest last.
        hosted: processes the device hosts for real (name -> host pid, e.g. its model server
            as ``llama-server``): ``pidof``, ``ps`` and ``dumpsys meminfo`` report their real
            pid and memory (``/proc/PID``).
    """

    def __init__(self, device: ServedDevice, props: dict[str, str] | None = None) -> None:
        self.device = device
        self.fs = VirtualFS()
        self.props = props if props is not None else default_props(device.serial)
        self.settings: dict[str, dict[str, str]] = {
            "secure": {"default_input_method": LATIN_IME},
            "system": {},
            "global": {},
        }
        self.enabled_imes: set[str] = {LATIN_IME}
        self.hosted: dict[str, int] = {}
        self.exec_log: deque[ExecRecord] = deque(maxlen=10_000)
        self.command_lines: deque[str] = deque(maxlen=10_000)
        self.env: dict[str, str] = {
            "PATH": "/product/bin:/apex/com.android.runtime/bin:/system/bin:/system/xbin",
            "EXTERNAL_STORAGE": "/sdcard",
            "ANDROID_DATA": "/data",
            "HOME": "/",
            "SHELL": SH,
        }
        self._lock = threading.RLock()

    # -- running ---------------------------------------------------------------------------
    def run(self, line: str) -> ShellResult:
        """Run one command line; never raises for shell-level errors (they become output and
        an exit status), but lets :class:`~llamatouch.errors.DeviceGoneError` through."""
        with self._lock:
            self.command_lines.append(line)
            io_ = _IO()
            try:
                commands = parse(line)
            except ShellSyntaxError as exc:
                self.exec_log.append(ExecRecord([line], 2, f"syntax error: {exc}"))
                io_.e(f"{SH}: {exc}\n")
                return ShellResult(b"", io_.err.getvalue(), 2)
            status = 0
            base_env = dict(self.env)  # `export` lasts for this command line only
            try:
                for cmd in commands:
                    if cmd.connector == "&&" and status != 0:
                        continue
                    if cmd.connector == "||" and status == 0:
                        continue
                    status = self._run_simple(cmd, io_, status)
            finally:
                self.env = base_env
            return ShellResult(io_.out.getvalue(), io_.err.getvalue(), status)

    def _expand(self, word: Word, last: int) -> tuple[str, str]:
        """(text, refused construct or "")."""
        out: list[str] = []
        for part in word.parts:
            if isinstance(part, Lit):
                out.append(part.text)
            elif isinstance(part, Var):
                out.append(str(last) if part.name == "?" else self.env.get(part.name, ""))
            elif isinstance(part, Refused):
                return "", f"{part.kind} {part.text}"
        return "".join(out), ""

    def _run_simple(self, cmd: SimpleCommand, io_: _IO, last: int) -> int:
        argv: list[str] = []
        refused = cmd.refused
        for w in cmd.words:
            text, why = self._expand(w, last)
            if why:
                refused = refused or why
            argv.append(text)
        if refused:
            io_.e(f"{SH}: {refused}: not supported by the llamatouch virtual device\n")
            self.exec_log.append(ExecRecord(argv, 2, refused))
            return 2
        # NAME=value prefixes
        while argv and _is_assignment(cmd.words[len(cmd.words) - len(argv)]):
            argv = argv[1:]
        sub = _IO()
        status = self._dispatch(argv, sub)
        self._apply_redirects(cmd, sub, io_, last)
        self.exec_log.append(ExecRecord(argv, status))
        return status

    def _apply_redirects(self, cmd: SimpleCommand, sub: _IO, io_: _IO, last: int) -> None:
        out, err = sub.out.getvalue(), sub.err.getvalue()
        dest: dict[int, str | None] = {1: None, 2: None}  # None: the stream itself
        for r in cmd.redirects:
            if r.op.startswith(">&"):
                src_fd, to_fd = r.fd, int(r.op[2:])
                if src_fd in dest and to_fd in dest:
                    dest[src_fd] = dest[to_fd] if dest[to_fd] is not None else f"&{to_fd}"
                continue
            if r.op == "<" or r.target is None:
                continue
            path, _ = self._expand(r.target, last)
            if r.fd in dest:
                dest[r.fd] = (">>" if r.op == ">>" else ">") + path
        for fd, data in ((1, out), (2, err)):
            target = dest[fd]
            if target is None:
                (io_.out if fd == 1 else io_.err).write(data)
            elif target.startswith("&"):
                (io_.out if target == "&1" else io_.err).write(data)
            else:
                append = target.startswith(">>")
                path = target[2:] if append else target[1:]
                if path == "/dev/null":
                    continue
                prev = (self.fs.read(path) or b"") if append else b""
                try:
                    self.fs.write(path, prev + data)
                except OSError as exc:
                    io_.e(f"{SH}: {exc}\n")

    def _dispatch(self, argv: list[str], io_: _IO) -> int:
        if not argv:
            return 0
        name = argv[0]
        base = name.rsplit("/", 1)[-1] if name.startswith("/system/bin/") else name
        fn = COMMANDS.get(base)
        if fn is None:
            io_.e(f"{SH}: {name}: inaccessible or not found\n")
            return 127
        try:
            return fn(self, argv, io_)
        except ActionError as exc:
            msg = str(exc)
            io_.e(("" if msg.startswith("Error") else "Error: ") + msg + "\n")
            return 1
        except DeviceGoneError:
            raise
        except (DeviceError, ValueError, KeyError, OSError) as exc:
            # A real tool would crash with a Java exception; the shell itself survives.
            log.warning("virtual shell: %s failed: %s", name, exc)
            io_.e(f"Exception occurred while executing '{name}':\n{type(exc).__name__}: {exc}\n")
            return 255

    # -- helpers for commands ---------------------------------------------------------------
    def current_ime(self) -> str:
        return self.settings["secure"].get("default_input_method", "")


def _is_assignment(word: Word) -> bool:
    if not word.parts or not isinstance(word.parts[0], Lit) or word.parts[0].quoted:
        return False
    head = word.parts[0].text
    name, eq, _ = head.partition("=")
    return bool(eq) and bool(name) and (name[0].isalpha() or name[0] == "_") and all(
        c.isalnum() or c == "_" for c in name
    )


# ---------------------------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------------------------


def _echo(sh: Shell, argv: list[str], io_: _IO) -> int:
    args = argv[1:]
    newline = True
    if args and args[0] == "-n":
        newline = False
        args = args[1:]
    io_.o(" ".join(args) + ("\n" if newline else ""))
    return 0


def _true(sh: Shell, argv: list[str], io_: _IO) -> int:
    return 0


def _false(sh: Shell, argv: list[str], io_: _IO) -> int:
    return 1


def _cat(sh: Shell, argv: list[str], io_: _IO) -> int:
    status = 0
    for path in argv[1:]:
        data = sh.fs.read(path)
        if data is None:
            what = "Is a directory" if sh.fs.is_dir(path) else "No such file or directory"
            io_.e(f"cat: {path}: {what}\n")
            status = 1
        else:
            io_.o(data)
    return status


def _rm(sh: Shell, argv: list[str], io_: _IO) -> int:
    force = any(a.startswith("-") and "f" in a for a in argv[1:])
    status = 0
    for path in (a for a in argv[1:] if not a.startswith("-")):
        if not sh.fs.remove(path) and not force:
            io_.e(f"rm: {path}: No such file or directory\n")
            status = 1
    return status


def _ls(sh: Shell, argv: list[str], io_: _IO) -> int:
    paths = [a for a in argv[1:] if not a.startswith("-")] or ["/"]
    status = 0
    for path in paths:
        if sh.fs.read(path) is not None:
            io_.o(path + "\n")
        elif sh.fs.is_dir(path):
            for name in sh.fs.listdir(path):
                io_.o(name + "\n")
        else:
            io_.e(f"ls: {path}: No such file or directory\n")
            status = 1
    return status


def _mkdir(sh: Shell, argv: list[str], io_: _IO) -> int:
    return 0


def _uiautomator(sh: Shell, argv: list[str], io_: _IO) -> int:
    args = argv[1:]
    if not args or args[0] != "dump":
        io_.o(
            "Usage: uiautomator <subcommand> [options]\n\nAvailable subcommands:\n\n"
            "help: displays help message\n\nruntest: executes UI automation tests\n\n"
            "dump: creates an XML dump of current UI hierarchy\n\n"
            "events: prints out accessibility events until terminated\n"
        )
        return 0 if args and args[0] == "help" else 1
    rest = [a for a in args[1:] if not a.startswith("--")]
    path = rest[0] if rest else DEFAULT_DUMP_PATH
    try:
        xml = sh.device.dump_xml()
    except DumpError as exc:
        io_.e(str(exc).rstrip("\n") + "\n")
        return 1
    if path == "/dev/tty":
        io_.o(xml)
    else:
        try:
            sh.fs.write(path, xml)
        except OSError as exc:
            io_.e(f"ERROR: could not write {path}: {exc}\n")
            return 1
    io_.o(f"UI hierchary dumped to: {path}\n")
    return 0


def _screencap(sh: Shell, argv: list[str], io_: _IO) -> int:
    args = argv[1:]
    png_flag = "-p" in args
    rest: list[str] = []
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a == "-d":
            skip = True
            continue
        if not a.startswith("-"):
            rest.append(a)
    png = sh.device.screenshot_png()
    path = rest[0] if rest else ""
    if path and path.endswith(".png"):
        png_flag = True
    data = png if png_flag else _raw_framebuffer(png)
    if path:
        try:
            sh.fs.write(path, data)
        except OSError as exc:
            io_.e(f"Error: {exc}\n")
            return 1
    else:
        io_.o(data)
    return 0


@functools.lru_cache(maxsize=1)
def _raw_framebuffer(png: bytes) -> bytes:
    """``screencap`` without ``-p``: width, height, format (1 = RGBA_8888), dataspace, pixels
    (the 16-byte header of API 31+)."""
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGBA")
    return struct.pack("<4I", img.width, img.height, 1, 0) + img.tobytes()


def _int(value: str, what: str) -> int:
    try:
        return round(float(value))
    except ValueError as exc:
        raise ActionError(f"input: bad {what} {value!r}") from exc


def _keycode(name: str) -> int | None:
    if name.isascii() and name.isdigit():
        return int(name)
    return KEYCODE_NAMES.get(name.upper().removeprefix("KEYCODE_"))


def _input(sh: Shell, argv: list[str], io_: _IO) -> int:
    args = argv[1:]
    sources = {"touchscreen", "keyboard", "mouse", "touchpad", "stylus", "dpad", "gamepad",
               "trackball", "joystick", "touchnavigation", "rotaryencoder"}
    if args and args[0] in sources:
        args = args[1:]
    if len(args) >= 2 and args[0] == "-d":
        args = args[2:]
    if not args:
        io_.e("Error: no command given\nUsage: input [<source>] [-d DISPLAY_ID] <command> "
              "[<arg>...]\n")
        return 1
    sub, rest = args[0], args[1:]
    if sub == "tap" and len(rest) >= 2:
        sh.device.tap(_int(rest[0], "x"), _int(rest[1], "y"))
        return 0
    if sub in ("swipe", "draganddrop") and len(rest) >= 4:
        x1, y1, x2, y2 = (_int(v, "coordinate") for v in rest[:4])
        dur = _int(rest[4], "duration") if len(rest) > 4 else 300
        if (x1, y1) == (x2, y2) and dur >= LONG_PRESS_MS:
            sh.device.long_press(x1, y1, dur)
        else:
            sh.device.swipe(x1, y1, x2, y2, dur)
        return 0
    if sub == "keyevent" and rest:
        codes = [a for a in rest if a not in ("--longpress", "--doubletap")]
        for name in codes:
            code = _keycode(name)
            if code is None:
                io_.e(f"Error: Unknown keycode: {name}\n")
                return 1
            sh.device.keyevent(code)
        return 0
    if sub == "text" and rest:
        text = android_input_text(rest[0])
        bad = sorted({c for c in text if not (" " <= c <= "~" or c in "\n\t")})
        if bad:
            io_.e(
                "Exception occurred while executing 'text':\njava.lang.NullPointerException: "
                "KeyCharacterMap cannot map "
                + ", ".join(f"U+{ord(c):04X}" for c in bad[:8])
                + " to key events\n"
            )
            return 255
        sh.device.input_text(text)
        return 0
    if sub == "press":
        sh.device.keyevent(23)
        return 0
    io_.e(f"Error: Unknown command: {sub}\nUsage: input [<source>] <command> [<arg>...]\n")
    return 1


def _dumpsys(sh: Shell, argv: list[str], io_: _IO) -> int:
    args = argv[1:]
    service = args[0] if args else ""
    comp = sh.device.foreground_activity()
    pkg, act = full_activity(comp)
    short = short_activity(comp)
    pid = _pid(pkg)
    if service == "activity":
        what = args[1] if len(args) > 1 else "activities"
        if what in ("activities", "a", "recents", "r"):
            io_.o(
                "ACTIVITY MANAGER ACTIVITIES (dumpsys activity activities)\n"
                "Display #0 (activities from top to bottom):\n"
                "  * Task{5b2ab1e #12 type=standard A=10100:" + pkg + "}\n"
                f"    * Hist #0: ActivityRecord{{8f3c2d1 u0 {short} t12}}\n"
                f"  ResumedActivity: ActivityRecord{{8f3c2d1 u0 {short} t12}}\n"
                f"    mResumedActivity: ActivityRecord{{8f3c2d1 u0 {short} t12}}\n"
                f"    mFocusedApp=ActivityRecord{{8f3c2d1 u0 {short} t12}}\n"
            )
            return 0
        if what == "top":
            io_.o(
                "TASK 10100:" + pkg + " id=12 userId=0\n"
                f"  ACTIVITY {short} 8f3c2d1 pid={pid}\n"
                "    Local FragmentActivity 2a2b3c4 State:\n"
            )
            return 0
        io_.o("ACTIVITY MANAGER (dumpsys activity)\n"
              f"  mResumedActivity: ActivityRecord{{8f3c2d1 u0 {short} t12}}\n")
        return 0
    if service == "window":
        w, h = sh.device.screen_size()
        io_.o(
            "WINDOW MANAGER WINDOWS (dumpsys window windows)\n"
            f"  Window #0 Window{{c0ffee1 u0 {pkg}/{act}}}:\n"
            f"    mDisplayId=0 rootTaskId=12 mSession=Session{{4d2 {pid}:u0a10100}}\n"
            f"  mCurrentFocus=Window{{c0ffee1 u0 {pkg}/{act}}}\n"
            f"  mFocusedApp=ActivityRecord{{8f3c2d1 u0 {short} t12}}\n"
            f"  init={w}x{h} 420dpi cur={w}x{h} app={w}x{h}\n"
        )
        return 0
    if service == "display":
        w, h = sh.device.screen_size()
        io_.o(
            "DISPLAY MANAGER (dumpsys display)\n"
            f"  mViewports=[DisplayViewport{{type=INTERNAL, valid=true, isActive=true, "
            f"displayId=0, uniqueId='local:0', physicalPort=0, orientation=0, "
            f"logicalFrame=Rect(0, 0 - {w}, {h}), physicalFrame=Rect(0, 0 - {w}, {h}), "
            f"deviceWidth={w}, deviceHeight={h}, isActive=true}}]\n"
        )
        return 0
    if service == "package" and len(args) > 1:
        p = args[1]
        if p not in sh.device.installed_packages():
            io_.o(f"Unable to find package: {p}\n")
            return 0
        io_.o(
            f"Packages:\n  Package [{p}] (1a2b3c4):\n    userId=10100\n"
            f"    versionCode=1 minSdk=21 targetSdk=33\n    versionName=1.0\n"
            "    pkgFlags=[ HAS_CODE ALLOW_CLEAR_USER_DATA ]\n"
            "    firstInstallTime=2024-01-01 00:00:00\n    lastUpdateTime=2024-01-01 00:00:00\n"
        )
        return 0
    if service == "power":
        io_.o("POWER MANAGER (dumpsys power)\n  mWakefulness=Awake\n"
              "  mHoldingDisplaySuspendBlocker=true\n")
        return 0
    if service == "battery":
        io_.o("Current Battery Service state:\n  AC powered: true\n  USB powered: false\n"
              "  status: 2\n  health: 2\n  present: true\n  level: 100\n  scale: 100\n"
              "  voltage: 5000\n  temperature: 250\n  technology: Li-ion\n")
        return 0
    if service == "input_method":
        io_.o(f"  mCurMethodId={sh.current_ime()}\n  mInputShown=false\n")
        return 0
    if service == "meminfo":
        return _meminfo(sh, args[1:], io_)
    if service == "thermalservice":
        # simulated: a cool device (status 0 = THROTTLING_NONE)
        io_.o("IsStatusOverride: false\nThermalEventListeners:\n\tcallbacks: 0\n"
              "Thermal Status: 0\nCached temperatures:\n"
              "\tTemperature{mValue=25.0, mType=2, mName=battery, mStatus=0}\n"
              "HAL Ready: true\n")
        return 0
    io_.o(f"Can't find service: {service}\n" if service else "")
    return 0


def _system_packages() -> set[str]:
    try:
        from llamatouch_emulator.virtual import SYSTEM_PACKAGES
    except ImportError:  # pragma: no cover - the virtual device ships with this package
        return set()
    return set(SYSTEM_PACKAGES)


def _pm(sh: Shell, argv: list[str], io_: _IO) -> int:
    args = argv[1:]
    if len(args) >= 2 and args[0] == "list" and args[1] == "packages":
        flags = [a for a in args[2:] if a.startswith("-")]
        filt = [a for a in args[2:] if not a.startswith("-")]
        pkgs = sh.device.installed_packages()
        system = _system_packages()
        if "-3" in flags:
            pkgs = [p for p in pkgs if p not in system]
        if "-s" in flags:
            pkgs = [p for p in pkgs if p in system]
        if filt:
            pkgs = [p for p in pkgs if filt[0] in p]
        for p in pkgs:
            prefix = f"package:/data/app/{p}-1/base.apk=" if "-f" in flags else "package:"
            io_.o(prefix + p + "\n")
        return 0
    if len(args) >= 2 and args[0] == "path":
        if args[1] in sh.device.installed_packages():
            io_.o(f"package:/data/app/{args[1]}-1/base.apk\n")
            return 0
        return 1
    if args and args[0] in ("clear", "grant", "revoke", "enable", "disable-user"):
        if args[0] == "clear":
            io_.o("Success\n")
        return 0
    if len(args) >= 2 and args[0] == "uninstall":
        fn = getattr(sh.device, "uninstall", None)
        if fn is None or args[-1] not in sh.device.installed_packages():
            io_.o("Failure [DELETE_FAILED_INTERNAL_ERROR]\n")
            return 1
        fn(args[-1])
        io_.o("Success\n")
        return 0
    io_.e(f"Unknown command: {args[0] if args else ''}\n")
    return 1


_AM_ARITY = {
    "-a": 1, "-d": 1, "-t": 1, "-c": 1, "-n": 1, "-f": 1, "-p": 1, "--user": 1, "-R": 1,
    "-P": 1, "--start-profiler": 1, "--es": 2, "--ei": 2, "--ez": 2, "--el": 2, "--ef": 2,
    "--eu": 2, "--esn": 1, "--ecn": 2, "--eia": 2, "--esa": 2, "--receiver-permission": 1,
}


def _am_parse(args: list[str]) -> tuple[dict[str, list[str]], dict[str, str], list[str]]:
    opts: dict[str, list[str]] = {}
    extras: dict[str, str] = {}
    rest: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        n = _AM_ARITY.get(a)
        if n is None:
            if a.startswith("-"):
                opts.setdefault(a, [])
            else:
                rest.append(a)
            i += 1
            continue
        vals = args[i + 1 : i + 1 + n]
        if n == 2 and len(vals) == 2:
            extras[vals[0]] = vals[1]
        else:
            opts.setdefault(a, []).extend(vals)
        i += 1 + n
    return opts, extras, rest


def _am(sh: Shell, argv: list[str], io_: _IO) -> int:
    args = argv[1:]
    if not args:
        io_.e("Activity manager (activity) commands:\n")
        return 1
    sub, rest = args[0], args[1:]
    if sub in ("start", "start-activity"):
        opts, _, positional = _am_parse(rest)
        comp = (opts.get("-n") or [""])[0]
        if not comp and positional and "/" in positional[0]:
            comp = positional[0]
        if not comp:
            action = (opts.get("-a") or ["android.intent.action.MAIN"])[0]
            io_.o(f"Starting: Intent {{ act={action} }}\n")
            io_.e(f"Error: Activity not started, unable to resolve Intent {{ act={action} "
                  "flg=0x10000000 }\n")
            return 1
        pkg, act = full_activity(comp)
        io_.o(f"Starting: Intent {{ cmp={short_activity(comp)} }}\n")
        if "-S" in opts:
            sh.device.stop_app(pkg)
        if pkg not in sh.device.installed_packages():
            io_.e(f"Error type 3\nError: Activity class {{{pkg}/{act}}} does not exist.\n")
            return 1
        # pkg/.Act, pkg/pkg.Act (what `am start -W` prints) and pkg/other.Act name the
        # same activity; a world may have recorded either form.
        failure: ActionError | None = None
        for form in dict.fromkeys((short_activity(comp), f"{pkg}/{act}", comp)):
            try:
                sh.device.open_app(pkg, form)
                break
            except ActionError as exc:
                failure = failure or exc
        else:
            assert failure is not None
            why = str(failure).removeprefix("Error: ")
            if "does not exist" in why:  # Android names the class in full
                why = f"Activity class {{{pkg}/{act}}} does not exist."
            io_.e(f"Error type 3\nError: {why}\n")
            return 1
        if "-W" in opts:
            shown = short_activity(sh.device.foreground_activity())
            io_.o(f"Status: ok\nLaunchState: COLD\nActivity: {shown}\nTotalTime: 1\n"
                  "WaitTime: 1\nComplete\n")
        return 0
    if sub == "force-stop" and rest:
        sh.device.stop_app(rest[-1])
        return 0
    if sub == "broadcast":
        return _broadcast(sh, rest, io_)
    io_.e(f"Error: unknown command '{sub}'\n")
    return 1


def _broadcast(sh: Shell, args: list[str], io_: _IO) -> int:
    """``am broadcast``; the receivers of uiautomator2's AdbKeyboard IME are implemented."""
    opts, extras, _ = _am_parse(args)
    action = (opts.get("-a") or [""])[0]
    io_.o(f"Broadcasting: Intent {{ act={action} flg=0x400000"
          + (" (has extras)" if extras else "") + " }\n")
    if not action.startswith("ADB_KEYBOARD_"):
        io_.o("Broadcast completed: result=0\n")
        return 0
    if sh.current_ime() != ADB_KEYBOARD_IME:
        # The IME's receiver is only registered while it is the current input method.
        io_.o("Broadcast completed: result=0\n")
        return 0
    if action == "ADB_KEYBOARD_INPUT_TEXT":
        try:
            text = base64.b64decode(extras.get("text", ""), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            io_.o('Broadcast completed: result=0, data="bad base64 text"\n')
            return 0
        sh.device.input_text(text)
    elif action == "ADB_KEYBOARD_CLEAR_TEXT":
        _clear_focused(sh)
    elif action == "ADB_KEYBOARD_INPUT_KEYCODE":
        sh.device.keyevent(_int(extras.get("code", "0"), "code"))
    elif action in ("ADB_KEYBOARD_SMART_ENTER", "ADB_KEYBOARD_EDITOR_CODE"):
        sh.device.keyevent(66)
    elif action != "ADB_KEYBOARD_HIDE":
        io_.o('Broadcast completed: result=0, data="unknown action"\n')
        return 0
    io_.o('Broadcast completed: result=-1, data="success"\n')
    return 0


def _clear_focused(sh: Shell) -> None:
    """Delete the focused field's text with DEL key presses (what the IME does)."""
    from llamatouch.ui.xmlio import read_uiautomator_xml

    screen = read_uiautomator_xml(sh.device.dump_xml(), "clear-text")
    focused = next((n for n in screen.nodes if n.focused and n.editable), None)
    if focused is None:
        return
    sh.device.keyevent(123)  # MOVE_END
    for _ in range(len(focused.text)):
        sh.device.keyevent(67)


def _export(sh: Shell, argv: list[str], io_: _IO) -> int:
    """``export NAME=value ...`` (what ``adb logcat`` sends before ``exec logcat``)."""
    for arg in argv[1:]:
        name, sep, value = arg.partition("=")
        if not name.replace("_", "").isalnum() or name[0].isdigit():
            io_.e(f"{SH}: export: {arg}: bad variable name\n")
            return 1
        if sep:
            sh.env[name] = value
    return 0


def _exec(sh: Shell, argv: list[str], io_: _IO) -> int:
    """``exec CMD ...``: run CMD in place of the shell (here: just run it)."""
    return sh._dispatch(argv[1:], io_)


def _logcat(sh: Shell, argv: list[str], io_: _IO) -> int:
    """``logcat -d`` (dump and exit) prints the device's log, which is empty; ``-c`` clears
    it. Following the log (no ``-d``) is not supported: it would never end."""
    args = argv[1:]
    if "-c" in args or "--clear" in args:
        return 0
    if "-d" in args or any(a.startswith("-t") for a in args):
        io_.o("--------- beginning of main\n--------- beginning of system\n")
        return 0
    io_.e("logcat: following the log is not supported by the llamatouch virtual device "
          "(its log is empty); use logcat -d\n")
    return 1


def _monkey(sh: Shell, argv: list[str], io_: _IO) -> int:
    args = argv[1:]
    pkgs = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "-p"]
    installed = set(sh.device.installed_packages())
    pkgs = [p for p in pkgs if p in installed]
    if not pkgs:
        io_.o("** No activities found to run, monkey aborted.\n")
        return 252
    sh.device.open_app(pkgs[0])
    io_.o("  bash arg: " + "\n  bash arg: ".join(args) + "\n")
    io_.o("Events injected: 1\n## Network stats: elapsed time=5ms (0ms mobile, 0ms wifi, "
          "5ms not connected)\n")
    return 0


def _getprop(sh: Shell, argv: list[str], io_: _IO) -> int:
    if len(argv) > 1:
        io_.o(sh.props.get(argv[1], argv[2] if len(argv) > 2 else "") + "\n")
    else:
        for k in sorted(sh.props):
            io_.o(f"[{k}]: [{sh.props[k]}]\n")
    return 0


def _wm(sh: Shell, argv: list[str], io_: _IO) -> int:
    sub = argv[1] if len(argv) > 1 else ""
    if sub == "size":
        w, h = sh.device.screen_size()
        io_.o(f"Physical size: {w}x{h}\n")
        return 0
    if sub == "density":
        io_.o(f"Physical density: {sh.props.get('ro.sf.lcd_density', '420')}\n")
        return 0
    io_.e(f"Error: unknown command '{sub}'\n")
    return 1


def _settings(sh: Shell, argv: list[str], io_: _IO) -> int:
    args = argv[1:]
    if len(args) >= 3 and args[0] in ("get", "put", "delete"):
        space = sh.settings.setdefault(args[1], {})
        if args[0] == "get":
            io_.o(space.get(args[2], "null") + "\n")
        elif args[0] == "put" and len(args) >= 4:
            space[args[2]] = args[3]
        elif args[0] == "delete":
            space.pop(args[2], None)
        return 0
    io_.e("usage: settings [--user <USER_ID>] get namespace key\n")
    return 1


def _ime(sh: Shell, argv: list[str], io_: _IO) -> int:
    args = argv[1:]
    available = [ADB_KEYBOARD_IME, LATIN_IME]
    if args[:1] == ["list"]:
        shown = available if "-a" in args else sorted(sh.enabled_imes)
        io_.o("".join(i + "\n" for i in shown) if "-s" in args else
              "".join(f"{i}:\n  mId={i}\n" for i in shown))
        return 0
    if len(args) >= 2 and args[0] in ("enable", "disable", "set"):
        ime = args[-1]
        if ime not in available:
            io_.e(f"Unknown input method {ime} cannot be {args[0]}d for user #0\n")
            return 1
        if args[0] == "enable":
            sh.enabled_imes.add(ime)
            io_.o(f"Input method {ime}: now enabled for user #0\n")
        elif args[0] == "disable":
            sh.enabled_imes.discard(ime)
            if sh.current_ime() == ime:
                sh.settings["secure"]["default_input_method"] = LATIN_IME
            io_.o(f"Input method {ime}: now disabled for user #0\n")
        else:
            sh.enabled_imes.add(ime)
            sh.settings["secure"]["default_input_method"] = ime
            io_.o(f"Input method {ime} selected for user #0\n")
        return 0
    io_.e("ime <command>:\n")
    return 1


def _md5sum(sh: Shell, argv: list[str], io_: _IO) -> int:
    status = 0
    for path in argv[1:]:
        data = sh.fs.read(path)
        if data is None:
            io_.e(f"md5sum: {path}: No such file or directory\n")
            status = 1
        else:
            io_.o(f"{hashlib.md5(data).hexdigest()}  {path}\n")  # noqa: S324 - file digest
    return status


def _toybox(sh: Shell, argv: list[str], io_: _IO) -> int:
    return sh._dispatch(argv[1:], io_) if len(argv) > 1 else 0


def _ps(sh: Shell, argv: list[str], io_: _IO) -> int:
    pkg, _ = full_activity(sh.device.foreground_activity())
    io_.o("USER           PID  PPID     VSZ    RSS WCHAN            ADDR S NAME\n")
    rows = [("root", 1, 0, "init"), ("system", _pid("system_server"), 1, "system_server"),
            ("u0_a100", _pid(pkg), 1, pkg)]
    for user, pid, ppid, name in rows:
        io_.o(f"{user:<12}{pid:>6}{ppid:>6} 1000000  50000 0                   0 S {name}\n")
    for name, pid in sh.hosted.items():
        mem = _hosted_memory(pid)
        if mem is not None:
            io_.o(f"{'u0_a200':<12}{pid:>6}{1:>6} 1000000 {mem[1]:>6} 0                   0 "
                  f"S {name}\n")
    return 0


def _hosted_memory(pid: int) -> tuple[int, int] | None:
    """(PSS kB, RSS kB) of a hosted process, read from the host's ``/proc``."""
    from llamatouch_emulator.llm_server import process_memory

    return process_memory(pid)


def _meminfo(sh: Shell, args: list[str], io_: _IO) -> int:
    """``dumpsys meminfo PID|NAME`` for a hosted process, with its real memory."""
    target = next((a for a in args if not a.startswith("-")), "")
    pid = int(target) if target.isascii() and target.isdigit() else sh.hosted.get(target, -1)
    name = next((n for n, p in sh.hosted.items() if p == pid), None)
    mem = _hosted_memory(pid) if name is not None else None
    if mem is None:
        io_.o(f"No process found for: {target}\n")
        return 0
    pss, rss = mem
    io_.o(
        "Applications Memory Usage (in Kilobytes):\n"
        f"Uptime: {int(time.monotonic() * 1000)} Realtime: {int(time.monotonic() * 1000)}\n\n"
        f"** MEMINFO in pid {pid} [{name}] **\n"
        "                   Pss  Private  Private  SwapPss      Rss\n"
        "                 Total    Dirty    Clean    Dirty    Total\n"
        "                ------   ------   ------   ------   ------\n"
        f"        TOTAL {pss:>8} {pss:>8} {0:>8} {0:>8} {rss:>8}\n\n"
        f" TOTAL PSS: {pss:>8}            TOTAL RSS: {rss:>8}      TOTAL SWAP PSS: {0:>8}\n"
    )
    return 0


def _pidof(sh: Shell, argv: list[str], io_: _IO) -> int:
    pkg, _ = full_activity(sh.device.foreground_activity())
    hits = [str(sh.hosted[a]) if a in sh.hosted else str(_pid(a)) for a in argv[1:]
            if a == pkg or a in sh.hosted]
    if hits:
        io_.o(" ".join(hits) + "\n")
        return 0
    return 1


def _id(sh: Shell, argv: list[str], io_: _IO) -> int:
    io_.o("uid=2000(shell) gid=2000(shell) groups=2000(shell),1004(input),1007(log)\n")
    return 0


def _cmd(sh: Shell, argv: list[str], io_: _IO) -> int:
    """``cmd SERVICE ...`` for the services that have a classic shell command."""
    alias = {"package": "pm", "activity": "am", "window": "wm", "input": "input",
             "settings": "settings", "input_method": "ime"}
    if len(argv) < 2:
        io_.e("cmd: No service specified; use -l to list all running services.\n")
        return 255
    target = alias.get(argv[1])
    if target is None:
        io_.e(f"cmd: Can't find service: {argv[1]}\n")
        return 20
    return COMMANDS[target](sh, [target, *argv[2:]], io_)


COMMANDS: dict[str, Command] = {
    "echo": _echo,
    "true": _true,
    "false": _false,
    "cat": _cat,
    "rm": _rm,
    "ls": _ls,
    "mkdir": _mkdir,
    "uiautomator": _uiautomator,
    "screencap": _screencap,
    "input": _input,
    "dumpsys": _dumpsys,
    "pm": _pm,
    "am": _am,
    "monkey": _monkey,
    "getprop": _getprop,
    "wm": _wm,
    "settings": _settings,
    "ime": _ime,
    "md5sum": _md5sum,
    "toybox": _toybox,
    "ps": _ps,
    "pidof": _pidof,
    "id": _id,
    "cmd": _cmd,
    "logcat": _logcat,
    "export": _export,
    "exec": _exec,
}
