"""The recorded-answers backend (``--model recorded:DIR``) and the recorder (``record_llm``):
replies read the artifact's way, elements mapped between renderings, prompts keyed by task and
step (never by call order), typed misses; record → replay round trips through the agent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llamatouch.llm import LLMConfig, load_backend
from llamatouch.llm.base import ChatMessage, LLMBackend, LLMResult, LLMUsage
from llamatouch.llm.recorded import (
    ANSWERS_FILE,
    RecordedAnswerError,
    RecordedBackend,
    RecordingBackend,
    map_element,
    read_prompt,
    read_released_reply,
    screen_overlap,
    strip_memory_hints,
)
from llamatouch.ui.html_agreement import RecordedElement, parse_state_html
from llamatouch_agents.autodroid.agent import AutoDroidAgent
from llamatouch_agents.autodroid.prompt import (
    build_messages,
    build_paper_messages,
    paper_action_line,
    parse_answer,
)

SCREEN = (
    "<input id=0 >Search</input>\n<button id=1 text='Sort by'></button>\n"
    "<button id=2 text='More options'></button>\n<button id=3>Calendar</button>\n"
    "<checkbox id=4 checked=False>Show hidden apps</checkbox>\n<button id=5>go back</button>"
)


class ScriptedLLM(LLMBackend):
    """Answers from a script, in order (unit tests only)."""

    name = "scripted"

    def __init__(self, answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls = 0

    def complete(self, messages: list[ChatMessage], **kwargs: Any) -> LLMResult:
        text = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        return LLMResult(text, LLMUsage(10, 5, 0, 0.0, 0.0, 0.0), "scripted", "stop")


# -- replies ---------------------------------------------------------------------------------
def test_read_released_reply_forms() -> None:
    a = read_released_reply({"Finished": "No", "id": "3", "action": "tap", "input_text": "N/A"})
    assert (a.finished, a.id, a.action, a.form) == (False, 3, "tap", "json")
    # Finished: Yes wins over an id, as in the artifact's answers
    assert read_released_reply({"Finished": "Yes", "id": 6, "action": "tap"}).finished
    assert read_released_reply({"Finished": "No", "id": -1}).finished
    fenced = '```json\n{"Finished": "No", "id": 9, "action": "input", "input_text": "Bob"}\n```'
    b = read_released_reply(fenced)
    assert (b.finished, b.id, b.action, b.text, b.form) == (False, 9, "input", "Bob", "json")
    cut = '{ "Steps": "Tap on it", "Analyses": "The checkbox with id=9 is the one'
    c = read_released_reply(cut)
    assert c.form == "partial-json" and c.finished  # no id field: the artifact's -1
    free = "4. Can the task be proceeded? Y. - id=2- action=tap - input text=N/A."
    d = read_released_reply(free)
    assert (d.finished, d.id, d.action, d.text, d.form) == (False, 2, "tap", "N/A", "text")
    typed = "Fill in: - id=8 - action=input - input text=\"Alice\""
    assert read_released_reply(typed).text == "Alice"
    assert read_released_reply("no element here").finished


@given(st.integers(min_value=0, max_value=500), st.sampled_from(["tap", "input"]),
       st.text(alphabet="abcXYZ019 ", min_size=1, max_size=12))
def test_reply_json_roundtrip_through_our_parser(eid: int, action: str, text: str) -> None:
    """A paper-form reply the recorded backend emits parses to the same answer in the agent."""
    typed = text.strip() or "x"
    raw = {"Finished": "No", "id": eid, "action": action,
           "input_text": typed if action == "input" else "N/A"}
    rel = read_released_reply(raw)
    ours = parse_answer(json.dumps(raw))
    assert ours.id == rel.id == eid and not ours.finished
    assert ours.action == ("type" if action == "input" else "tap")
    assert ours.text == (typed if action == "input" else "")


# -- element mapping -------------------------------------------------------------------------
def _els(html: str) -> list[RecordedElement]:
    return parse_state_html(html, document_order=True)


def test_map_element_rules() -> None:
    src = _els("<button id=0>OK</button>\n<button id=1>OK</button>\n"
               "<button id=2>1</button>\n"
               "<checkbox id=3 checked=False>Prevent phone from sleeping while the app is in "
               "foreground</checkbox>\n<p id=4>Gone</p>")
    dst = _els("<p id=0>Title</p>\n<button id=1>OK</button>\n<button id=2>OK</button>\n"
               "<button id=3 text='One'>1</button>\n"
               "<checkbox id=4 checked=False>Prevent phone from sleeping while the app is in f"
               "</checkbox>")
    assert map_element(src, 0, dst) == 1 and map_element(src, 1, dst) == 2  # occurrence
    assert map_element(src, 2, dst) == 3  # content-desc left out by the recorder
    assert map_element(src, 3, dst) == 4  # a label cut by the renderer
    assert map_element(src, 4, dst) is None and map_element(src, 99, dst) is None


@settings(max_examples=60)
@given(st.permutations(list(range(6))))
def test_map_element_follows_content_not_position(order: list[int]) -> None:
    src = _els(SCREEN)
    lines = SCREEN.split("\n")
    shuffled = "\n".join(
        lines[j].replace(f"id={j}", f"id={i}", 1) for i, j in enumerate(order)
    )
    dst = _els(shuffled)
    for e in src:
        got = map_element(src, e.id, dst)
        assert got == order.index(e.id)
    assert screen_overlap(src, dst) == 1.0


def test_strip_memory_hints() -> None:
    hinted = ("<button id=3 text='More options' onclick=jump to a GUI about 'Set the column "
              "count, access settings.'></button>")
    assert strip_memory_hints(hinted) == "<button id=3 text='More options'></button>"


# -- prompts ---------------------------------------------------------------------------------
@given(st.text(alphabet="abc XYZ'019", min_size=1, max_size=30).map(str.strip).filter(bool),
       st.integers(min_value=0, max_value=20))
def test_read_prompt_both_forms(task: str, n: int) -> None:
    history = [f"tap 'item {i}'" for i in range(n)]
    key = read_prompt(build_messages(task, history, SCREEN, []))
    assert key is not None and (key.task, key.step, key.screen) == (task, n, SCREEN)
    # truncated history keeps absolute numbers: the step is still the number of actions
    if n > 3:
        key = read_prompt(build_messages(task, history[-3:], SCREEN, [], n - 2))
        assert key is not None and key.step == n
    paper = [paper_action_line("<button id=2 text='More options'></button>")] * n
    pkey = read_prompt(build_paper_messages(task, "applauncher", paper, SCREEN))
    assert pkey is not None and (pkey.task, pkey.step, pkey.screen) == (task, n, SCREEN)


def test_paper_history_lines_as_the_artifact() -> None:
    assert paper_action_line("<button id=3 text='More options'></button>") == (
        "\n- TapOn: <button text='More options'></button>"
    )
    assert paper_action_line("<checkbox id=2 checked=False>3 columns</checkbox>") == (
        "\n- Check: <checkbox >3 columns</checkbox>"
    )
    assert paper_action_line("<checkbox id=0 checked=True>Dark</checkbox>").startswith(
        "\n- Uncheck: "
    )
    assert paper_action_line("<input id=0 >Search</input>", "Clock") == (
        "\n- TapOn: <input >Search</input> InputText: Clock"
    )


# -- record and replay -----------------------------------------------------------------------
def _write_run(folder: Path, steps: list[dict[str, Any]], task: str = "Open calendar") -> None:
    data = {"applauncher": {"h": {"task": task, "profile": steps}}}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ANSWERS_FILE).write_text(json.dumps(data))


def test_replay_is_keyed_by_task_and_step_not_call_order(tmp_path: Path) -> None:
    other = SCREEN.replace("Calendar", "Camera")
    _write_run(tmp_path, [
        {"state": SCREEN, "raw": {"Finished": "No", "id": 3, "action": "tap"}, "correct": True,
         "label": [3, "null"]},
        {"state": other, "raw": {"Finished": "Yes", "id": -1, "action": "N/A"}},
    ])
    rb = load_backend(LLMConfig(model=f"recorded:{tmp_path}"))
    assert isinstance(rb, RecordedBackend)
    # step 1 asked first, then step 0: answers follow the prompt, not the order of calls
    r1 = rb.complete(build_messages("Open calendar", ["tap 'calendar'"], other, []))
    assert parse_answer(r1.text).finished
    r0 = rb.complete(build_messages("Open calendar", [], SCREEN, []))
    assert parse_answer(r0.text).id == 3
    assert rb.last_match is not None and rb.last_match.step.verdict is True
    # the same element on a screen numbered differently: the id follows the element
    moved = "<p id=0>Apps</p>\n" + "\n".join(
        line.replace(f"id={i}", f"id={i + 1}", 1) for i, line in enumerate(SCREEN.split("\n"))
    )
    assert parse_answer(rb.complete(build_messages("Open calendar", [], moved, [])).text).id == 4


@pytest.mark.parametrize(
    ("task", "history", "screen", "extra", "kind"),
    [
        ("Delete all alarms", [], SCREEN, [], "no-task"),
        ("Open calendar", ["a", "b", "c"], SCREEN, [], "no-step"),
        ("Open calendar", [], "<button id=0>Nothing</button>\n<button id=1>else</button>", [],
         "screen-mismatch"),
        ("Open calendar", [], SCREEN, [ChatMessage("assistant", "{}"),
                                       ChatMessage("user", "again")], "re-ask"),
        ("Open calendar", [], SCREEN.replace("Calendar", "Clock"), [], "element-not-on-screen"),
    ],
)
def test_misses_are_typed(
    tmp_path: Path, task: str, history: list[str], screen: str, extra: list[ChatMessage],
    kind: str,
) -> None:
    _write_run(tmp_path, [{"state": SCREEN, "raw": {"Finished": "No", "id": 3, "action": "tap"}}])
    rb = RecordedBackend(tmp_path)
    with pytest.raises(RecordedAnswerError) as err:
        rb.complete([*build_messages(task, history, screen, []), *extra])
    assert err.value.kind == kind
    assert rb.misses and rb.misses[-1].kind == kind


def test_unknown_folder_is_an_llm_error(tmp_path: Path) -> None:
    from llamatouch.errors import LLMError

    with pytest.raises(LLMError):
        load_backend(LLMConfig(model=f"recorded:{tmp_path / 'nope'}"))
    with pytest.raises(LLMError):
        load_backend(LLMConfig(model=f"recorded:{tmp_path}"))  # no answers file


def test_record_then_replay_through_the_agent(tmp_path: Path) -> None:
    """An agent run recorded with record_llm replays to the same decisions, re-asks included."""
    from llamatouch.agent import AgentOptions

    answers = ['{"finished": false, "id": 9, "action": "tap", "text": ""}',  # no such id
               '{"finished": false, "id": 2, "action": "tap", "text": ""}',
               '{"finished": false, "id": 0, "action": "type", "text": "Clock"}',
               '{"finished": true, "id": 0, "action": "tap", "text": ""}']
    rec_dir = tmp_path / "rec"
    agent = AutoDroidAgent(AgentOptions(params={"record_llm": str(rec_dir), "memory": "off"}),
                           llm=ScriptedLLM(answers))
    assert isinstance(agent.llm, RecordingBackend)
    valid = set(range(6))
    steps = [([], SCREEN), (["tap 'more options'"], SCREEN),
             (["tap 'more options'", "type 'Clock' into 'search'"], SCREEN)]
    first = [agent.decide("Find the clock", h, s, None, [], valid, app="applauncher")
             for h, s in steps]
    data = json.loads((rec_dir / ANSWERS_FILE).read_text())
    profile = data["applauncher"][next(iter(data["applauncher"]))]["profile"]
    assert len(profile) == 3 and len(profile[0]["reasks"]) == 1
    replay = AutoDroidAgent(AgentOptions(model=f"recorded:{rec_dir}",
                                         params={"memory": "off"}))
    again = [replay.decide("Find the clock", h, s, None, [], valid, app="applauncher")
             for h, s in reversed(steps)][::-1]
    for a, b in zip(first, again, strict=True):
        assert a.answer.finished == b.answer.finished
        if not a.answer.finished:
            assert (a.answer.id, a.answer.action, a.answer.text) == (
                b.answer.id, b.answer.action, b.answer.text)
    assert [d.answer.finished for d in again] == [False, False, True]
    assert (again[1].answer.action, again[1].answer.text) == ("type", "Clock")
    assert len(again[0].raw_answers) == 2  # the re-ask was replayed too


def test_label_answers_replay(tmp_path: Path) -> None:
    """Answers that name the element by its label (answer=label) replay to the same element,
    on a screen numbered differently too; a typed text goes only into an input."""
    from llamatouch.agent import AgentOptions

    answers = ['{"finished": false, "element": "Calendar", "text": ""}',
               '{"finished": false, "element": "Search", "text": "Clock"}',
               '{"finished": false, "element": "More options", "text": "noise"}']
    rec_dir = tmp_path / "rec"
    agent = AutoDroidAgent(AgentOptions(params={"record_llm": str(rec_dir), "memory": "off"}),
                           llm=ScriptedLLM(answers))
    valid = set(range(6))
    steps = [[], ["tap 'calendar'"], ["tap 'calendar'", "type 'Clock' into 'search'"]]
    first = [agent.decide("Find it", h, SCREEN, None, [], valid, app="a") for h in steps]
    assert [(d.answer.id, d.answer.action, d.answer.text) for d in first] == [
        (3, "tap", ""), (0, "type", "Clock"), (2, "tap", "")]
    moved = "<p id=0>Apps</p>\n" + "\n".join(
        line.replace(f"id={i}", f"id={i + 1}", 1) for i, line in enumerate(SCREEN.split("\n"))
    )
    replay = AutoDroidAgent(AgentOptions(model=f"recorded:{rec_dir}", params={"memory": "off"}))
    again = [replay.decide("Find it", h, moved, None, [], set(range(7)), app="a") for h in steps]
    assert [(d.answer.id, d.answer.action, d.answer.text) for d in again] == [
        (4, "tap", ""), (1, "type", "Clock"), (3, "tap", "")]


def test_two_recorders_share_one_folder(tmp_path: Path) -> None:
    """Worker processes of one run record into the same folder: nothing is lost."""
    a = RecordingBackend(ScriptedLLM(['{"finished": true, "id": 0, "action": "tap", "text": ""}']),
                         tmp_path, app="clock")
    b = RecordingBackend(ScriptedLLM(['{"finished": false, "id": 3, "action": "tap", "text": ""}']),
                         tmp_path, app="notes")
    a.complete(build_messages("Task A", [], SCREEN, []))
    b.complete(build_messages("Task B", [], SCREEN, []))
    a.complete(build_messages("Task A", ["tap 'x'"], SCREEN, []))
    data = json.loads((tmp_path / ANSWERS_FILE).read_text())
    assert set(data) == {"clock", "notes"}
    assert len(next(iter(data["clock"].values()))["profile"]) == 2
    replay = RecordedBackend(tmp_path)
    assert parse_answer(replay.complete(build_messages("Task B", [], SCREEN, [])).text).id == 3
