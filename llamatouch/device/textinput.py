"""Turning text an agent wants typed into device shell commands that cannot do anything else.

The device shell (``/system/bin/sh -c``) receives one command line per adb call, so every
character an agent produces must reach ``input text`` as data, never as syntax. The rules:

1. **Quoting.** Every argument is wrapped in single quotes; a single quote inside becomes
   ``'\\''`` (close, escaped quote, reopen). Inside single quotes POSIX shells (Android's mksh
   included) give no character a special meaning, so ``;``, ``&``, ``|``, ``$(...)``,
   backquotes, ``>``, ``*``, ``\\`` and newlines are all literal. See :func:`quote`.
2. **Spaces and ``%``.** Android's ``input text`` turns ``%s`` into a space and leaves every
   other character alone (AOSP ``InputShellCommand.sendText``). Spaces are therefore sent as
   ``%s``; a literal ``%`` followed by ``s`` cannot be expressed in one call, so the text is
   split there and sent as two ``input text`` calls (``"50%s"`` → ``'50%'`` then ``'s'``).
3. **Newlines and tabs** are not sent as characters: ``\\n`` (and ``\\r\\n``, ``\\r``) become
   ``input keyevent 66`` (ENTER) and ``\\t`` becomes ``input keyevent 61`` (TAB), between the
   surrounding pieces of text. Any other control character (U+0000-U+001F, U+007F) raises
   :class:`~llamatouch.errors.ActionError`.
4. **Non-ASCII text** (anything outside printable ASCII) cannot go through ``input text``
   (the virtual keyboard's KeyCharacterMap has no keys for it). It is sent through the ADB
   keyboard IME that uiautomator2 installs (``com.github.uiautomator/.AdbKeyboard``):
   ``am broadcast -a ADB_KEYBOARD_INPUT_TEXT --es text <base64 of the UTF-8>``; base64 uses
   only ``A-Z a-z 0-9 + / =``, so it is shell-safe too. When that IME is not available the
   plan raises :class:`~llamatouch.errors.ActionError` saying so.
5. **Length.** Long text is split into chunks of at most ``chunk`` characters per command.

The virtual device implements both receivers (``input text`` with Android's ``%s`` decoding,
and the IME broadcast), and the property tests in ``tests/device/test_textinput_adb.py`` type
arbitrary text through the real ``adb`` binary and check that exactly that text arrived and
that no other command ran.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from llamatouch.errors import ActionError

#: Key codes used for newline and tab (android.view.KeyEvent).
KEYCODE_ENTER = 66
KEYCODE_TAB = 61
#: The IME whose broadcast receiver types arbitrary Unicode (uiautomator2's AdbKeyboard).
ADB_KEYBOARD_IME = "com.github.uiautomator/.AdbKeyboard"
ADB_KEYBOARD_ACTION = "ADB_KEYBOARD_INPUT_TEXT"
DEFAULT_CHUNK = 200


@dataclass(frozen=True, slots=True)
class TextStep:
    """One device command of a typing plan.

    Attributes:
        kind: ``"text"`` (``input text``), ``"key"`` (``input keyevent``) or ``"ime"`` (ADB
            keyboard broadcast).
        value: the text (already in its final form) or the key code as a string.
    """

    kind: str
    value: str

    def command(self) -> str:
        """The shell command line for this step (safe to hand to ``adb shell``)."""
        if self.kind == "text":
            return "input text " + quote(encode_input_text(self.value))
        if self.kind == "key":
            if not self.value.isdigit():
                raise ActionError(f"bad key code {self.value!r}")
            return f"input keyevent {self.value}"
        if self.kind == "ime":
            b64 = base64.b64encode(self.value.encode("utf-8")).decode("ascii")
            return f"am broadcast -a {ADB_KEYBOARD_ACTION} --es text {b64}"
        raise ActionError(f"unknown text step kind {self.kind!r}")


def quote(arg: str) -> str:
    """Single-quote ``arg`` for a POSIX shell: the result is always exactly one literal word."""
    return "'" + arg.replace("'", "'\\''") + "'"


def is_printable_ascii(ch: str) -> bool:
    return " " <= ch <= "~"


def encode_input_text(piece: str) -> str:
    """The ``input text`` argument that Android decodes back to ``piece``.

    ``piece`` must be printable ASCII without the sequence ``%s`` (see :func:`plan_text`).
    """
    if "%s" in piece or not all(is_printable_ascii(c) for c in piece):
        raise ActionError(f"internal: {piece!r} cannot be sent in one input text call")
    return piece.replace(" ", "%s")


def _split_percent_s(run: str, chunk: int) -> list[str]:
    """Split a printable-ASCII run so that no piece contains ``%s`` and none is longer than
    ``chunk``; a piece ending with ``%`` never precedes one starting with ``s`` in the same call."""
    pieces: list[str] = []
    cur = ""
    for ch in run:
        if (ch == "s" and cur.endswith("%")) or len(cur) >= chunk:
            pieces.append(cur)
            cur = ""
        cur += ch
    if cur:
        pieces.append(cur)
    return pieces


def plan_text(text: str, *, ime_available: bool, chunk: int = DEFAULT_CHUNK) -> list[TextStep]:
    """The commands that type ``text`` (see the module docstring for the rules)."""
    if chunk < 2:
        raise ValueError("chunk must be at least 2")
    steps: list[TextStep] = []
    buf: list[str] = []

    def flush() -> None:
        if not buf:
            return
        run = "".join(buf)
        buf.clear()
        if all(is_printable_ascii(c) for c in run):
            steps.extend(TextStep("text", p) for p in _split_percent_s(run, chunk))
            return
        if not ime_available:
            bad = next(c for c in run if not is_printable_ascii(c))
            raise ActionError(
                f"type: character {bad!r} (U+{ord(bad):04X}) cannot be typed with 'input text'; "
                f"non-ASCII text needs the ADB keyboard IME ({ADB_KEYBOARD_IME}), which is not "
                "installed on this device (install it with uiautomator2, or type ASCII only)"
            )
        for start in range(0, len(run), chunk):
            steps.append(TextStep("ime", run[start : start + chunk]))

    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "\r\n":
            flush()
            steps.append(TextStep("key", str(KEYCODE_ENTER)))
            i += 2 if text[i : i + 2] == "\r\n" else 1
            continue
        if ch == "\t":
            flush()
            steps.append(TextStep("key", str(KEYCODE_TAB)))
            i += 1
            continue
        if ord(ch) < 0x20 or ord(ch) == 0x7F:
            raise ActionError(f"type: control character U+{ord(ch):04X} cannot be typed")
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise ActionError(f"type: lone surrogate U+{ord(ch):04X} is not text")
        buf.append(ch)
        i += 1
    flush()
    return steps


def needs_ime(text: str) -> bool:
    """Whether typing ``text`` needs the ADB keyboard IME (it has non-ASCII characters)."""
    return any(not is_printable_ascii(c) and c not in "\r\n\t" for c in text)
