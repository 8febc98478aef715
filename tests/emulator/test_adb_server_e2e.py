"""The real adb binary (shipped with adbutils, private server, ADB_MDNS=0) ↔ our ADB
device server over loopback, serving the demo world's VirtualDevice."""

from __future__ import annotations

import io
import socket
import struct
from collections.abc import Iterator

import adbutils
import pytest
from PIL import Image

from llamatouch.ui.xmlio import read_uiautomator_xml
from llamatouch_emulator import adb_proto as P
from llamatouch_emulator.harness import AdbSession

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def session() -> Iterator[AdbSession]:
    with AdbSession.for_world("demo") as s:
        yield s


@pytest.fixture()
def s(session: AdbSession) -> AdbSession:
    session.virtual.reset()
    return session


def out(s: AdbSession, *args: str) -> bytes:
    return s.run_adb(*args).stdout


def test_adb_devices_lists_it(s: AdbSession) -> None:
    proc = s._adb_global("devices", "-l", timeout=10)
    line = next(ln for ln in proc.stdout.decode().splitlines() if ln.startswith(s.serial))
    assert "device" in line and "model:LlamaTouch_Virtual" in line


def test_uiautomator_dump_then_cat_and_pull(s: AdbSession, tmp_path: object) -> None:
    assert out(s, "shell", "uiautomator", "dump") == \
        b"UI hierchary dumped to: /sdcard/window_dump.xml\n"
    xml = out(s, "shell", "cat", "/sdcard/window_dump.xml")
    screen = read_uiautomator_xml(xml, "dump")
    assert screen.nodes and xml == s.virtual.dump_xml()
    import pathlib

    dest = pathlib.Path(str(tmp_path)) / "d.xml"
    s.run_adb("pull", "/sdcard/window_dump.xml", str(dest))
    assert dest.read_bytes() == xml


def test_exec_out_screencap_is_binary_safe(s: AdbSession) -> None:
    png = out(s, "exec-out", "screencap", "-p")
    assert png == s.virtual.screenshot_png()
    img = Image.open(io.BytesIO(png))
    assert img.size == s.virtual.screen_size()


def test_input_and_dumpsys_follow_the_world(s: AdbSession) -> None:
    v = s.virtual
    s.run_adb("shell", "monkey", "-p", "com.llamatouch.notes", "-c",
              "android.intent.category.LAUNCHER", "1")
    act = out(s, "shell", "dumpsys", "activity", "activities").decode()
    assert f"mResumedActivity: ActivityRecord{{8f3c2d1 u0 {v.foreground_activity()} t12}}" in act
    assert v.foreground_activity().startswith("com.llamatouch.notes/")
    s.run_adb("shell", "input", "keyevent", "KEYCODE_BACK")
    assert v.foreground_activity() == v._meta(v._home).activity
    s.run_adb("shell", "am", "start", "-n", "com.llamatouch.notes/.NotesActivity")
    assert v.foreground_package() == "com.llamatouch.notes"
    before = len(v.events)
    s.run_adb("shell", "input", "tap", "948", "2118")
    assert v.events[before]["kind"] == "tap" and v.events[before]["args"] == {"x": 948, "y": 2118}


def test_pm_list_packages(s: AdbSession) -> None:
    lines = out(s, "shell", "pm", "list", "packages", "-3").decode().split()
    assert "package:com.llamatouch.notes" in lines
    assert "package:com.android.settings" not in lines
    full = out(s, "shell", "pm list packages").decode().split()
    assert "package:com.android.settings" in full


def test_unknown_command_and_exit_codes(s: AdbSession) -> None:
    proc = s.run_adb("shell", "frobnicate", "--now", check=False)
    assert proc.returncode == 127  # shell_v2 carries the exit status to the adb client
    assert proc.stderr == b"/system/bin/sh: frobnicate: inaccessible or not found\n"
    assert s.run_adb("shell", "false", check=False).returncode == 1


def test_adbutils_paths(s: AdbSession) -> None:
    d = adbutils.AdbClient(host="127.0.0.1", port=s.adb_port).device(s.serial)
    assert d.shell2("echo hi; false").returncode == 1
    assert d.shell2("echo hi", v2=True).stdout == "hi\n"
    cur = d.app_current()
    assert cur.package == s.virtual.foreground_package()
    assert tuple(d.window_size()) == s.virtual.screen_size()
    assert d.dump_hierarchy().encode() == s.virtual.dump_xml()
    d.sync.push(b"payload", "/data/local/tmp/p.bin")
    assert d.sync.read_bytes("/data/local/tmp/p.bin") == b"payload"
    assert "p.bin" in d.sync.list("/data/local/tmp") or any(
        getattr(e, "path", "") == "p.bin" for e in d.sync.list("/data/local/tmp"))
    assert d.list_packages(["-3"]) == sorted(
        p for p in s.virtual.installed_packages() if p.startswith("com.llamatouch."))
    big = bytes(range(256)) * 4096  # 1 MiB: several WRTE payloads and sync DATA chunks
    d.sync.push(big, "/sdcard/big.bin")
    assert d.sync.read_bytes("/sdcard/big.bin") == big


def test_every_command_is_logged(s: AdbSession) -> None:
    log = s.server.shell.exec_log if s.server else None
    assert log is not None
    s.run_adb("shell", "echo 'a;b' && echo $(id)", check=False)
    tail = list(log)[-2:]
    assert tail[0].argv == ["echo", "a;b"] and not tail[0].refused
    assert tail[1].refused.startswith("command substitution")


def test_binds_loopback_only_by_default(s: AdbSession) -> None:
    assert s.server is not None
    assert s.server.config.host == "127.0.0.1"
    sock = s.server._server.sockets[0] if s.server._server else None
    assert sock is not None and sock.getsockname()[0] == "127.0.0.1"


def test_garbage_on_the_wire_drops_only_that_connection(s: AdbSession) -> None:
    assert s.server is not None
    with socket.create_connection(("127.0.0.1", s.server.port), timeout=5) as c:
        c.sendall(b"GET / HTTP/1.1\r\n\r\n" + b"\0" * 16)
        c.settimeout(5)
        assert c.recv(100) == b""  # closed: bad magic
    with socket.create_connection(("127.0.0.1", s.server.port), timeout=5) as c:
        c.sendall(P.pack(P.Message(P.A_CNXN, P.A_VERSION_SKIP_CHECKSUM, 4096, b"host::\0")))
        head = c.recv(24)
        cmd, arg0, arg1, length, _crc, magic = struct.unpack("<6I", head)
        assert cmd == P.A_CNXN and magic == cmd ^ 0xFFFFFFFF
        banner = b""
        while len(banner) < length:
            banner += c.recv(length - len(banner))
        assert banner.startswith(b"device::ro.product.name=llamatouch_virtual;")
        assert b"features=shell_v2,cmd,fixed_push_mkdir" in banner
        # an unknown service is refused with CLSE(0, id)
        c.sendall(P.pack(P.Message(P.A_OPEN, 7, 0, b"framebuffer:\0")))
        cmd, arg0, arg1, *_ = struct.unpack("<6I", c.recv(24))
        assert (cmd, arg0, arg1) == (P.A_CLSE, 0, 7)
    assert out(s, "shell", "echo", "still-alive") == b"still-alive\n"


def _read_msg(c: socket.socket) -> P.Message:
    head = b""
    while len(head) < 24:
        chunk = c.recv(24 - len(head))
        assert chunk, "connection closed"
        head += chunk
    cmd, arg0, arg1, length, crc = P.unpack_header(head)
    data = b""
    while len(data) < length:
        data += c.recv(length - len(data))
    assert crc in (0, P.checksum(data))
    return P.Message(cmd, arg0, arg1, data)


def test_old_protocol_version_gets_checksums_and_auth_is_not_required(s: AdbSession) -> None:
    """A host speaking version 0x01000000 (checksums on) and volunteering AUTH still gets a
    working connection; a shell stream runs over it by hand."""
    assert s.server is not None
    with socket.create_connection(("127.0.0.1", s.server.port), timeout=5) as c:
        c.sendall(P.pack(P.Message(P.A_CNXN, P.A_VERSION_MIN, 4096, b"host::\0")))
        reply = _read_msg(c)
        assert reply.command == P.A_CNXN and reply.arg0 == P.A_VERSION_MIN
        c.sendall(P.pack(P.Message(P.A_AUTH, P.AUTH_SIGNATURE, 0, b"x" * 256)))
        assert _read_msg(c).command == P.A_CNXN
        c.sendall(P.pack(P.Message(P.A_OPEN, 5, 0, b"shell,v2,raw:echo hi; exit_is_127\0")))
        okay = _read_msg(c)
        assert (okay.command, okay.arg1) == (P.A_OKAY, 5)
        local = okay.arg0
        data = b""
        while True:
            msg = _read_msg(c)
            if msg.command == P.A_WRTE:
                assert msg.arg0 == local and msg.arg1 == 5
                data += msg.data
                c.sendall(P.pack(P.Message(P.A_OKAY, 5, local)))
            elif msg.command == P.A_CLSE:
                break
        assert data.startswith(bytes([1]) + (3).to_bytes(4, "little") + b"hi\n")
        assert data.endswith(bytes([3]) + (1).to_bytes(4, "little") + bytes([127]))
        # a message with a wrong checksum drops the connection
        bad = bytearray(P.pack(P.Message(P.A_OPEN, 6, 0, b"shell:echo\0")))
        bad[16] ^= 0xFF
        c.sendall(bytes(bad))
        assert c.recv(24) == b""
    assert out(s, "shell", "echo", "ok") == b"ok\n"


def test_concurrent_streams_are_kept_apart(s: AdbSession) -> None:
    """The adb server multiplexes every client's stream over one TCP connection to us:
    parallel commands must each get their own output."""
    from concurrent.futures import ThreadPoolExecutor

    dev = s.make_device(use_u2="off")

    def run(i: int) -> tuple[int, bytes, bytes]:
        out = dev.exec_out(f"echo stream-{i}")
        png = dev.exec_out("screencap -p") if i % 4 == 0 else b""
        return i, out, png

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(run, range(40)))
    shot = s.virtual.screenshot_png()
    for i, out, png in results:
        assert out == f"stream-{i}\n".encode()
        assert png in (b"", shot)


def test_adb_cli_push_pull_ls(s: AdbSession, tmp_path: object) -> None:
    import pathlib

    src = pathlib.Path(str(tmp_path)) / "in.bin"
    payload = bytes(range(256)) * 1000 + b"end"
    src.write_bytes(payload)
    s.run_adb("push", str(src), "/sdcard/Download/in.bin")
    assert s.server is not None and s.server.shell.fs.read("/sdcard/Download/in.bin") == payload
    assert b"in.bin" in out(s, "shell", "ls", "/sdcard/Download")
    dest = pathlib.Path(str(tmp_path)) / "out.bin"
    s.run_adb("pull", "/sdcard/Download/in.bin", str(dest))
    assert dest.read_bytes() == payload
    missing = s.run_adb("pull", "/sdcard/nope.bin", str(dest), check=False)
    assert missing.returncode != 0 and b"does not exist" in missing.stderr


def test_am_start_accepts_the_form_am_start_w_prints(s: AdbSession) -> None:
    v = s.virtual
    proc = s.run_adb("shell", "am", "start", "-W", "-n", "com.llamatouch.notes/.NotesActivity")
    text = proc.stdout.decode()
    assert "Status: ok" in text and "Activity: com.llamatouch.notes/.NotesActivity" in text
    s.run_adb("shell", "input", "keyevent", "KEYCODE_HOME")
    assert v.foreground_package() != "com.llamatouch.notes"
    full = s.run_adb("shell", "am", "start", "-n",
                     "com.llamatouch.notes/com.llamatouch.notes.NotesActivity", check=False)
    assert full.returncode == 0, full.stderr
    assert v.foreground_package() == "com.llamatouch.notes"
    w = s.run_adb("shell", "am", "start", "-W", "-n",
                  "com.llamatouch.clock/com.llamatouch.clock.DeskClock", check=False)
    assert w.returncode == 0 and v.foreground_package() == "com.llamatouch.clock", w.stderr


def test_am_start_errors_read_like_android(s: AdbSession) -> None:
    bad = s.run_adb("shell", "am", "start", "-n", "com.llamatouch.notes/.NoSuchActivity",
                    check=False)
    assert bad.returncode == 1
    err = bad.stderr.decode()
    assert "Error: Error" not in err
    assert err == ("Error type 3\nError: Activity class "
                   "{com.llamatouch.notes/com.llamatouch.notes.NoSuchActivity} does not exist.\n")
    gone = s.run_adb("shell", "monkey", "-p", "com.not.installed", "1", check=False)
    assert gone.returncode != 0
    nope = s.run_adb("shell", "cmd", "activity", "start", "-n", "com.not.installed/.A",
                     check=False)
    assert "Error: Error" not in nope.stderr.decode()


def test_root_reboot_reverse_logcat(s: AdbSession) -> None:
    v = s.virtual
    root = s.run_adb("root", check=False)
    assert root.returncode == 0
    assert b"not supported by the llamatouch virtual device" in root.stdout
    assert s.run_adb("unroot", check=False).stdout == b"adbd not running as root\n"
    s.run_adb("shell", "monkey", "-p", "com.llamatouch.notes", "1")
    assert v.foreground_package() == "com.llamatouch.notes"
    s.run_adb("reboot")  # the screen comes back as after a boot: home
    assert v.foreground_package() != "com.llamatouch.notes"
    assert v.current_state == v._home
    assert out(s, "shell", "echo", "up") == b"up\n"  # still connected
    boot = s.run_adb("reboot", "bootloader", check=False)
    assert b"not supported by the llamatouch virtual device" in boot.stdout
    assert s.run_adb("reverse", "--list").stdout.strip() == b""  # no reverse forwards
    s.run_adb("reverse", "--remove-all")
    rev = s.run_adb("reverse", "tcp:8081", "tcp:8081", check=False)
    assert rev.returncode != 0
    assert b"reverse port forwarding is not supported by the llamatouch virtual device" in \
        rev.stderr
    log = s.run_adb("logcat", "-d", check=False)
    assert log.returncode == 0 and log.stdout.startswith(b"--------- beginning of main")
    assert s.run_adb("logcat", "-c", check=False).returncode == 0
    follow = s.run_adb("shell", "logcat", check=False)
    assert follow.returncode == 1 and b"use logcat -d" in follow.stderr
