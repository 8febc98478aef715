"""The text-input plan: quoting, %s handling, newlines, non-ASCII (pure functions)."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llamatouch.device.textinput import TextStep, needs_ime, plan_text, quote
from llamatouch.errors import ActionError
from llamatouch_emulator.shell_cmds import android_input_text

PRINTABLE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)


def decoded(steps: list[TextStep]) -> str:
    """What the device types for a plan (input text decoding applied, keys as chars)."""
    out = []
    for s in steps:
        if s.kind == "text":
            arg = shlex.split(s.command())[2]
            out.append(android_input_text(arg))
        elif s.kind == "key":
            out.append({"66": "\n", "61": "\t"}[s.value])
        else:
            out.append(s.value)
    return "".join(out)


@given(PRINTABLE)
def test_quote_is_one_literal_word(text: str) -> None:
    assert shlex.split(quote(text)) == [text]


@given(PRINTABLE)
def test_printable_ascii_round_trips_through_android_decoding(text: str) -> None:
    steps = plan_text(text, ime_available=False, chunk=17)
    assert all(s.kind == "text" for s in steps)
    assert decoded(steps) == text
    for s in steps:
        assert len(s.value) <= 17
        words = shlex.split(s.command())
        assert words[:2] == ["input", "text"] and len(words) == 3


@settings(max_examples=200)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_any_text_types_exactly_or_is_refused(text: str) -> None:
    try:
        steps = plan_text(text, ime_available=True)
    except ActionError:
        assert any((ord(c) < 0x20 and c not in "\r\n\t") or ord(c) == 0x7F for c in text)
        return
    want = text.replace("\r\n", "\n").replace("\r", "\n")
    assert decoded(steps) == want


def test_examples() -> None:
    assert [s.command() for s in plan_text("a b", ime_available=False)] == ["input text 'a%sb'"]
    assert [s.command() for s in plan_text("50%s", ime_available=False)] == [
        "input text '50%'", "input text 's'"]
    assert [s.command() for s in plan_text("it's", ime_available=False)] == [
        "input text 'it'\\''s'"]
    assert [s.command() for s in plan_text("a\nb\tc", ime_available=False)] == [
        "input text 'a'", "input keyevent 66", "input text 'b'", "input keyevent 61",
        "input text 'c'"]
    assert plan_text("", ime_available=False) == []
    (step,) = plan_text("日本", ime_available=True)
    assert step.command() == "am broadcast -a ADB_KEYBOARD_INPUT_TEXT --es text 5pel5pys"
    assert needs_ime("héllo") and not needs_ime("hello\n")


def test_non_ascii_without_ime_is_a_clear_error() -> None:
    with pytest.raises(ActionError, match="ADB keyboard IME"):
        plan_text("héllo", ime_available=False)


def test_control_characters_are_refused() -> None:
    with pytest.raises(ActionError, match="U\\+0007"):
        plan_text("a\x07b", ime_available=True)
