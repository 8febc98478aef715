"""Unit tests of the virtual device's shell: parsing, refusal of unsupported constructs and
Android-faithful outputs (a small fake device isolates the interpreter)."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from llamatouch.device.textinput import quote
from llamatouch_emulator.shell_cmds import Shell, android_input_text
from llamatouch_emulator.shell_lex import ShellSyntaxError, parse, tokenize


class FakeDevice:
    serial = "fake-0"

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []
        self.activity = "com.example/.MainActivity"

    def dump_xml(self) -> bytes:
        return (b"<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>"
                b'<hierarchy rotation="0"><node index="0" text="" '
                b'class="android.widget.FrameLayout" bounds="[0,0][100,200]" /></hierarchy>')

    def screenshot_png(self) -> bytes:
        buf = io.BytesIO()
        Image.new("RGB", (10, 20), "blue").save(buf, "PNG")
        return buf.getvalue()

    def foreground_activity(self) -> str:
        return self.activity

    def tap(self, x: int, y: int) -> None:
        self.calls.append(("tap", x, y))

    def long_press(self, x: int, y: int, duration_ms: int = 1000) -> None:
        self.calls.append(("long_press", x, y, duration_ms))

    def swipe(self, x1: int, y1: int, x2: int, y2: int, duration_ms: int = 300) -> None:
        self.calls.append(("swipe", x1, y1, x2, y2, duration_ms))

    def input_text(self, text: str) -> None:
        self.calls.append(("text", text))

    def keyevent(self, code: int | str) -> None:
        self.calls.append(("key", code))

    def open_app(self, package: str, activity: str | None = None) -> None:
        self.calls.append(("open", package, activity))

    def stop_app(self, package: str) -> None:
        self.calls.append(("stop", package))

    def installed_packages(self) -> list[str]:
        return ["android", "com.example"]

    def screen_size(self) -> tuple[int, int]:
        return 100, 200

    def health(self) -> bool:
        return True


@pytest.fixture()
def sh() -> Shell:
    return Shell(FakeDevice())


def test_quoting_rules() -> None:
    words = [t for t in tokenize("""echo 'a;b' "c $HOME" d\\ e '$?'""")]
    cmds = parse("""echo 'a;b' "c $HOME" d\\ e '$?'""")
    assert len(cmds) == 1 and len(words) == 5


def test_single_quotes_keep_everything_literal(sh: Shell) -> None:
    r = sh.run("echo '$(id); `id` | & > /x $? \\'")
    assert r.stdout == b"$(id); `id` | & > /x $? \\\n"
    assert [rec.argv[0] for rec in sh.exec_log] == ["echo"]


def test_exit_status_and_lists(sh: Shell) -> None:
    r = sh.run("false; echo X4EXIT:$?")
    assert r.stdout == b"X4EXIT:1\n"
    r = sh.run("false && echo no || echo yes")
    assert r.stdout == b"yes\n"
    r = sh.run("nosuchcmd")
    assert r.status == 127
    assert r.stderr == b"/system/bin/sh: nosuchcmd: inaccessible or not found\n"


def test_substitution_pipes_are_refused_and_logged(sh: Shell) -> None:
    for line in ("echo $(rm -rf /)", "echo `id`", "ls | grep x", "sleep 1 &", "(id)"):
        sh.exec_log.clear()
        r = sh.run(line)
        assert r.status == 2, line
        assert b"not supported" in r.stderr
        assert sh.exec_log[-1].refused, line


def test_syntax_errors(sh: Shell) -> None:
    for line in ("echo 'open", 'echo "open', "&& echo", "echo ${"):
        r = sh.run(line)
        assert r.status == 2 and r.stderr.startswith(b"/system/bin/sh: "), line
    with pytest.raises(ShellSyntaxError):
        parse("echo 'x")


def test_uiautomator_dump_and_cat(sh: Shell) -> None:
    r = sh.run("uiautomator dump")
    assert r.stdout == b"UI hierchary dumped to: /sdcard/window_dump.xml\n"
    assert sh.run("cat /sdcard/window_dump.xml").stdout.startswith(b"<?xml")
    r = sh.run("rm -f /x; uiautomator dump /x >/dev/null && cat /x")
    assert r.stdout.startswith(b"<?xml") and b"dumped" not in r.stdout
    assert sh.run("cat /nope").status == 1


def test_redirections(sh: Shell) -> None:
    sh.run("echo hello > /data/local/tmp/a; echo more >> /data/local/tmp/a")
    assert sh.fs.read("/data/local/tmp/a") == b"hello\nmore\n"
    r = sh.run("cat /missing 2>/dev/null")
    assert r.stderr == b"" and r.status == 1
    r = sh.run("cat /missing 2>&1")
    assert b"No such file" in r.stdout


def test_input_commands(sh: Shell) -> None:
    dev = sh.device
    assert isinstance(dev, FakeDevice)
    sh.run("input tap 10 20; input swipe 1 2 3 4 500; input swipe 5 5 5 5 800")
    sh.run("input keyevent KEYCODE_BACK 66 HOME; input text 'a%sb'")
    assert dev.calls == [("tap", 10, 20), ("swipe", 1, 2, 3, 4, 500), ("long_press", 5, 5, 800),
                         ("key", 4), ("key", 66), ("key", 3), ("text", "a b")]
    r = sh.run("input keyevent NOPE")
    assert r.status == 1 and b"Unknown keycode" in r.stderr
    r = sh.run("input text 'h\u00e9'")
    assert r.status != 0 and ("text", "h\u00e9") not in dev.calls


def test_android_percent_s_decoding() -> None:
    assert android_input_text("a%sb") == "a b"
    assert android_input_text("%%s") == "% "
    assert android_input_text("100%") == "100%"
    assert android_input_text("%d%s%") == "%d %"


def test_dumpsys_shapes_adbutils_parses(sh: Shell) -> None:
    out = sh.run("dumpsys window windows").stdout.decode()
    assert "mCurrentFocus=Window{c0ffee1 u0 com.example/com.example.MainActivity}" in out
    out = sh.run("dumpsys activity activities").stdout.decode()
    assert "mResumedActivity: ActivityRecord{8f3c2d1 u0 com.example/.MainActivity t12}" in out
    assert b"Physical size: 100x200" in sh.run("wm size").stdout
    assert sh.run("getprop ro.build.version.sdk").stdout == b"33\n"


def test_apps(sh: Shell) -> None:
    dev = sh.device
    assert isinstance(dev, FakeDevice)
    assert sh.run("pm list packages -3").stdout == b"package:com.example\n"
    assert sh.run("am start -n com.example/.Other").status == 0
    assert ("open", "com.example", "com.example/.Other") in dev.calls
    r = sh.run("am start -n com.nope/.X")
    assert r.status == 1 and b"does not exist" in r.stderr
    r = sh.run("monkey -p com.nope -c android.intent.category.LAUNCHER 1")
    assert r.status == 252 and b"No activities found" in r.stdout
    assert sh.run("monkey -p com.example -c android.intent.category.LAUNCHER 1").status == 0
    sh.run("am force-stop com.example")
    assert ("stop", "com.example") in dev.calls


def test_screencap_png_and_raw(sh: Shell) -> None:
    png = sh.run("screencap -p").stdout
    assert png.startswith(b"\x89PNG")
    raw = sh.run("screencap").stdout
    assert raw[:16] == (10).to_bytes(4, "little") + (20).to_bytes(4, "little") + \
        (1).to_bytes(4, "little") + (0).to_bytes(4, "little")
    assert len(raw) == 16 + 10 * 20 * 4


def test_adb_keyboard_broadcast_needs_the_ime(sh: Shell) -> None:
    dev = sh.device
    assert isinstance(dev, FakeDevice)
    r = sh.run("am broadcast -a ADB_KEYBOARD_INPUT_TEXT --es text aMOp")
    assert b"result=0" in r.stdout and ("text", "h\u00e9") not in dev.calls
    sh.run("ime enable com.github.uiautomator/.AdbKeyboard; "
           "ime set com.github.uiautomator/.AdbKeyboard")
    r = sh.run("am broadcast -a ADB_KEYBOARD_INPUT_TEXT --es text aMOp")
    assert b'result=-1, data="success"' in r.stdout
    assert ("text", "h\u00e9") in dev.calls


def _argv(sh: Shell, line: str) -> list[str]:
    sh.exec_log.clear()
    sh.run(line)
    return sh.exec_log[-1].argv





@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_single_quoted_words_come_back_verbatim(text: str) -> None:
    sh = Shell(FakeDevice())
    assert _argv(sh, "echo " + quote(text)) == ["echo", text]


WORD = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E,
                                      blacklist_characters="$`;&|()<>#\\'\"*?[]~{}=!"),
               min_size=1, max_size=8)


@given(st.lists(st.tuples(WORD, st.sampled_from(["plain", "single", "double", "backslash"])),
                min_size=1, max_size=5))
def test_lexer_agrees_with_shlex_on_plain_quoting(words: list[tuple[str, str]]) -> None:
    import shlex

    parts = []
    for w, style in words:
        if style == "single":
            parts.append(f"'{w}'")
        elif style == "double":
            parts.append(f'"{w}"')
        elif style == "backslash":
            parts.append("\\" + w)
        else:
            parts.append(w)
    line = "echo " + " ".join(parts)
    sh = Shell(FakeDevice())
    assert _argv(sh, line) == shlex.split(line)


def test_export_exec_logcat_as_adb_logcat_sends_them() -> None:
    sh = Shell(FakeDevice())
    res = sh.run("export ANDROID_LOG_TAGS=\"''\"; exec logcat -d")
    assert res.status == 0 and res.stdout.startswith(b"--------- beginning of main\n")
    assert "ANDROID_LOG_TAGS" not in sh.env  # an export lasts for its command line only
    assert sh.run("export X=1; echo $X").stdout == b"1\n"
    assert sh.run("echo $X").stdout == b"\n"
    follow = sh.run("logcat")
    assert follow.status == 1 and b"use logcat -d" in follow.stderr
    assert sh.run("export 1A=2").status == 1
