"""Typed text through the real path: AdbDevice → real adb server → our ADB server →
VirtualDevice. The text that arrives (``typed_log``) equals the text sent, and the virtual
shell's log shows that nothing but the typing commands ran."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llamatouch.actions import Type
from llamatouch_emulator.harness import AdbSession

pytestmark = pytest.mark.slow

#: Fragments chosen to break naive quoting; hypothesis mixes them with arbitrary text.
NASTY = ["'", '"', "\\", "$(id)", "`id`", "; rm -rf /sdcard", "&&", "||", "|", "&", ">",
         "<", "$?", "${HOME}", "%s", "%", " ", "*", "~", "#", "!", "(", ")", "{", "}", "-e",
         "--", "'\\''", '\\"', "$'x'", "%%s", "s"]
ASCII = st.lists(
    st.one_of(st.sampled_from(NASTY),
              st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E),
                      min_size=1, max_size=12)),
    min_size=1, max_size=8,
).map("".join)
UNICODE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30
)
SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture()
def editor(fresh: AdbSession) -> AdbSession:
    """The Notes editor with its title field focused."""
    fresh.virtual.reset("com.llamatouch.notes")
    dev = fresh.device
    dev.act(Type("", element=None, x=None, y=None, clear=False))  # no-op typing is allowed
    fresh.run_adb("shell", "input", "tap", "948", "2118")  # the "New note" button
    obs = dev.observe()
    field = next(n for n in obs.screen.nodes if n.editable)
    dev.act(Type("", element=obs.screen.key(field), clear=True))
    return fresh


def _typed_since(s: AdbSession, n_typed: int, n_exec: int) -> tuple[str, list[list[str]]]:
    assert s.server is not None
    log = list(s.server.shell.exec_log)[n_exec:]
    assert all(not r.refused for r in log), [r.refused for r in log if r.refused]
    return "".join(s.virtual.typed_log[n_typed:]), [r.argv for r in log]


@SETTINGS
@given(text=ASCII)
def test_ascii_text_arrives_exactly_and_only_input_text_runs(editor: AdbSession,
                                                              text: str) -> None:
    assert editor.server is not None
    n_typed, n_exec = len(editor.virtual.typed_log), len(editor.server.shell.exec_log)
    editor.device.type_text(text)
    arrived, argvs = _typed_since(editor, n_typed, n_exec)
    assert arrived == text
    assert argvs and all(a[:2] == ["input", "text"] and len(a) == 3 for a in argvs)


@SETTINGS
@given(text=UNICODE)
def test_unicode_text_arrives_exactly_through_the_ime(editor: AdbSession, text: str) -> None:
    assert editor.server is not None
    n_typed, n_exec = len(editor.virtual.typed_log), len(editor.server.shell.exec_log)
    editor.device.type_text(text)
    arrived, argvs = _typed_since(editor, n_typed, n_exec)
    assert arrived == text
    allowed = (["input", "text"], ["am", "broadcast"], ["settings", "get"], ["ime", "list"],
               ["ime", "enable"], ["ime", "set"])
    assert all(a[:2] in [list(p) for p in allowed] for a in argvs), argvs
    for a in argvs:
        if a[:2] == ["am", "broadcast"]:
            assert a[2:4] == ["-a", "ADB_KEYBOARD_INPUT_TEXT"] and a[4] == "--es"


def test_newlines_become_enter_key_presses(editor: AdbSession) -> None:
    assert editor.server is not None
    n_exec = len(editor.server.shell.exec_log)
    n_typed = len(editor.virtual.typed_log)
    editor.device.type_text("one\ntwo")
    argvs = [r.argv for r in list(editor.server.shell.exec_log)[n_exec:]]
    assert argvs == [["input", "text", "one"], ["input", "keyevent", "66"],
                     ["input", "text", "two"]]
    assert editor.virtual.typed_log[n_typed:] == ["one", "two"]


def test_type_action_replaces_the_field_text(editor: AdbSession) -> None:
    dev = editor.device
    obs = dev.observe()
    field = next(n for n in obs.screen.nodes if n.editable)
    key = obs.screen.key(field)
    dev.act(Type("first", element=key))
    dev.act(Type("Buy milk", element=key))  # clear=True by default
    obs = dev.observe()
    assert any(n.editable and n.text == "Buy milk" for n in obs.screen.nodes)
    dev.act(Type(" now", element=key, clear=False))
    assert any(n.editable and n.text == "Buy milk now" for n in dev.observe().screen.nodes)
