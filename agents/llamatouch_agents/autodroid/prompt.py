"""AutoDroid's prompt and its JSON-schema-constrained answer.

The prompt is ordered for prefix caching: the fixed system instructions, then the task, then
the action history (which only grows), then the current screen; only the tail changes from one
step to the next, so the LLM backend reuses the KV state of everything before it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from llamatouch.llm.base import ChatMessage
from llamatouch.llm.recorded import answer_labels

SYSTEM_PROMPT = """You are an assistant that operates a smartphone app to complete a user's task.
Each turn you see the task, the actions taken so far, and the current screen as HTML: one
element per line, each with a numeric id.
- <button> can be tapped. Its text (or its text='...' attribute) says what it is.
- <checkbox> is a switch or check box; tapping it toggles it (checked=True/False).
- <input> is a text field: choose it with action "type" and give the text to enter.
- <p> is plain text; it can be tapped but usually does nothing.
- <scroller> elements scroll the screen up or down to reveal more elements.
- <button>go back</button> presses the Back key.
Rules:
1. Pick exactly one element for the next action, by its id on the CURRENT screen.
2. Prefer the element whose words match the task. Do not repeat an action that did nothing.
3. When every part of the task is done on the current screen, answer "finished": true.
Answer only with JSON of this form:
{"finished": false, "id": 3, "action": "tap", "text": ""}
"action" is "tap" or "type"; "text" is the text to type (empty when tapping).

Example. Task: Add a note titled 'Shopping'.
Current screen:
<button id=0 text='Search'></button>
<p id=1>My notes</p>
<button id=2>Meeting agenda</button>
<button id=3 text='New note'></button>
<button id=4>go back</button>
Answer: {"finished": false, "id": 3, "action": "tap", "text": ""}
Next screen:
<input id=0 >Title</input>
<input id=1 >Note text</input>
<button id=2 text='Save'></button>
<button id=3>go back</button>
Answer: {"finished": false, "id": 0, "action": "type", "text": "Shopping"}
Then tap Save (id 2). Only when the note list shows 'Shopping' is the task finished.
Never answer "finished": true on the first step: something must be done first."""

#: The compact prompt when the model answers with the element's label (``answer=label``): the
#: same screen and rules, the answer names the element by its text. A grammar limits that text
#: to the labels on the screen, so the choice follows what the elements say, not their
#: numbers (with ids, SmolLM2-135M answered the example's id 3 on most screens).
LABEL_SYSTEM_PROMPT = """\
You are an assistant that operates a smartphone app to complete a user's task.
Each turn you see the task, the actions taken so far, and the current screen as HTML: one
element per line.
- <button> can be tapped. Its text (or its text='...' attribute) says what it is.
- <checkbox> is a switch or check box; tapping it toggles it (checked=True/False).
- <input> is a text field: choose it and give the text to type in "text".
- <p> is plain text; it can be tapped but usually does nothing.
- <scroller> elements scroll the screen up or down to reveal more elements.
- <button>go back</button> presses the Back key.
Rules:
1. Pick exactly one element of the CURRENT screen for the next action: answer its text.
2. Prefer the element whose words match the task. Do not repeat an action that did nothing.
3. When every part of the task is done on the current screen, answer "finished": true.
Answer only with JSON of this form:
{"finished": false, "element": "<the element's text>", "text": ""}
"text" is the text to type into an <input> (empty otherwise).

Example. Task: Add a note titled 'Shopping'.
Current screen:
<button id=0 text='Search'></button>
<p id=1>My notes</p>
<button id=2>Meeting agenda</button>
<button id=3 text='New note'></button>
<button id=4>go back</button>
Answer: {"finished": false, "element": "New note", "text": ""}
Next screen:
<input id=0 >Title</input>
<input id=1 >Note text</input>
<button id=2 text='Save'></button>
<button id=3>go back</button>
Answer: {"finished": false, "element": "Title", "text": "Shopping"}
Then tap Save. Only when the note list shows 'Shopping' is the task finished.
Never answer "finished": true on the first step: something must be done first."""

#: Answer forms of the compact prompt (``--agent-param answer=...``).
ANSWERS = ("label", "id", "score")

#: The AutoDroid paper's prompt (the artifact's ``prompt.yaml``, as its released prompts show
#: it): introduction, then ``Task:``, ``Previous UI actions:``, ``Current UI state:`` and the
#: answer format. Built by :func:`build_paper_messages` (``--agent-param prompt=paper``).
PAPER_INTRO = (
    "You are a smartphone assistant to help users complete tasks by interacting with mobile "
    "apps.\nGiven a task, the previous UI actions, and the content of current UI state, your "
    "job is to decide whether the task is already finished by the previous actions, and if "
    "not, decide which UI element in current UI state should be interacted.\n\n"
)
PAPER_QUESTION = (
    'Your answer should always use the following format: { "Steps": "...<steps usually '
    'involved to complete the above task on a smartphone>", "Analyses": "...<Analyses of the '
    'relations between the task, and relations between the previous UI actions and current '
    'UI state>", "Finished": "Yes/No", "Next step": "None or a <high level description of the '
    'next step>", "id": "an integer or -1 (if the task has been completed by previous UI '
    'actions)", "action": "tap or input", "input_text": "N/A or ...<input text>" } \n\n'
    "**Note that the id is the id number of the UI element to interact with. If you think the "
    "task has been completed by previous UI actions, the id should be -1. If 'Finished' is "
    "'Yes', then the 'description' of 'Next step' is 'None', otherwise it is a high level "
    "description of the next step. If the 'action' is 'tap', the 'input_text' is N/A, "
    "otherwise it is the '<input text>'. Please do not output any content other than the JSON "
    "format. **"
)

#: The paper's answer as a schema (bounded free-text fields keep a small model short).
PAPER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "Steps": {"type": "string", "maxLength": 120},
        "Analyses": {"type": "string", "maxLength": 160},
        "Finished": {"type": "string", "enum": ["Yes", "No"]},
        "Next step": {"type": "string", "maxLength": 80},
        "id": {"type": "integer", "minimum": -1, "maximum": 999},
        "action": {"type": "string", "enum": ["tap", "input"]},
        "input_text": {"type": "string", "maxLength": 60},
    },
    "required": ["Steps", "Analyses", "Finished", "Next step", "id", "action", "input_text"],
    "additionalProperties": False,
}

_ID_ATTR_RE = re.compile(r"\s?id=\d+")
_ONCLICK_ATTR_RE = re.compile(r" onclick=(?:jump to a GUI about '.*?'|\"[^\"]*\")(?=>)", re.S)


def paper_action_line(element_html: str, typed: str = "") -> str:
    """One line of the paper's action history for acting on ``element_html`` (an element line
    of the screen): ``- TapOn: <button text='Save'></button>``, ``- Check: <checkbox >Dark
    </checkbox>`` (``Uncheck`` when it was checked), `` InputText: TEXT`` after a typed text.
    The element loses its id, memory hint and checked state, as in the artifact."""
    el = _ONCLICK_ATTR_RE.sub("", _ID_ATTR_RE.sub("", element_html, count=1))
    verb = "TapOn"
    if el.startswith("<checkbox"):
        verb = "Uncheck" if "checked=True" in el else "Check"
    el = el.replace("checked=True", "").replace("checked=False", "")
    line = f"\n- {verb}: {el}"
    return line + (f" InputText: {typed}" if typed else "")


def with_memory_hints(screen_html: str, hints: dict[int, str]) -> str:
    """The screen with the paper's memory annotation on the elements that have one:
    ``<button id=3 text='More' onclick=jump to a GUI about 'TASK'></button>``."""
    if not hints:
        return screen_html
    out = []
    for line in screen_html.split("\n"):
        m = re.match(r"<(\w+) id=(\d+)([^>]*)>", line)
        if m and int(m.group(2)) in hints:
            end = m.end() - 1
            note = f" onclick=jump to a GUI about '{hints[int(m.group(2))]}'"
            line = line[:end] + note + line[end:]
        out.append(line)
    return "\n".join(out)


def build_paper_messages(
    instruction: str, app: str, history: list[str], screen_html: str
) -> list[ChatMessage]:
    """The paper's prompt, one user message: ``history`` holds lines made by
    :func:`paper_action_line` (empty at the first step: ``- Start the APP app.``)."""
    past = "".join(history) if history else f"\n- Start the {app} app."
    text = (
        f"{PAPER_INTRO}Task: {instruction}\nPrevious UI actions: {past}\n"
        f"Current UI state: \n{screen_html}\n{PAPER_QUESTION}"
    )
    return [ChatMessage("user", text)]


#: Prompt styles (``--agent-param prompt=...``).
PROMPTS = ("compact", "paper")

#: The answer schema (llama.cpp turns it into a grammar; endpoints get it as response_format).
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "finished": {"type": "boolean"},
        "id": {"type": "integer", "minimum": 0, "maximum": 999},
        "action": {"type": "string", "enum": ["tap", "type"]},
        "text": {"type": "string", "maxLength": 60},
    },
    "required": ["finished", "id", "action", "text"],
    "additionalProperties": False,
}


def element_labels(elements: list[tuple[int, str]]) -> dict[str, int]:
    """Answer labels for ``(id, text)`` elements: the text on one line, cut at 50 characters
    (``element N`` when empty); repeated labels get `` (2)``, `` (3)``... in screen order
    (:func:`llamatouch.llm.recorded.answer_labels`, so recorded label answers replay)."""
    return answer_labels(elements)


def label_schema(labels: list[str]) -> dict[str, Any]:
    """The label answer: ``finished``, ``element`` (one of ``labels``) and ``text``."""
    return {
        "type": "object",
        "properties": {
            "finished": {"type": "boolean"},
            "element": {"type": "string", "enum": list(labels)},
            "text": {"type": "string", "maxLength": 60},
        },
        "required": ["finished", "element", "text"],
        "additionalProperties": False,
    }


def answer_schema(ids: set[int] | None = None, *, paper: bool = False) -> dict[str, Any]:
    """The answer schema, with ``id`` limited to ``ids`` (the ids on the screen) when given:
    the grammar then cannot produce an element that is not there. The paper's form also
    allows -1 (finished)."""
    base = PAPER_SCHEMA if paper else ANSWER_SCHEMA
    if not ids:
        return base
    allowed = sorted(ids | {-1}) if paper else sorted(ids)
    props = dict(base["properties"])
    props["id"] = {"type": "integer", "enum": allowed}
    return base | {"properties": props}


@dataclass(frozen=True, slots=True)
class Answer:
    """A parsed answer.

    Attributes:
        finished: the model says the task is complete.
        id: the chosen element.
        action: ``tap`` or ``type``.
        text: text to type.
    """

    finished: bool
    id: int
    action: str
    text: str


class AnswerError(ValueError):
    """An answer that does not parse or does not follow the schema (the message is the
    feedback given to the model)."""


def build_messages(
    instruction: str,
    history: list[str],
    screen_html: str,
    hints: list[str],
    first_number: int = 1,
    system: str = SYSTEM_PROMPT,
) -> list[ChatMessage]:
    """The chat for one step (see the module docstring for the order). ``history`` holds the
    most recent actions; ``first_number`` is the number of the first of them (actions are
    numbered from the start of the episode even when older ones are left out, so the last
    number is always the number of actions taken)."""
    parts = [f"Task: {instruction}", ""]
    if history:
        parts.append("Actions so far:")
        parts += [f"{first_number + i}. {h}" for i, h in enumerate(history)]
    else:
        parts.append("Actions so far: none")
    parts += ["", "Current screen:", screen_html]
    if hints:
        parts += ["", "Hints from exploring this app:"]
        parts += [f"- {h}" for h in hints]
    parts += ["", "Next action (JSON):"]
    return [ChatMessage("system", system), ChatMessage("user", "\n".join(parts))]


def parse_answer(text: str, labels: dict[str, int] | None = None,
                 inputs: set[int] | None = None) -> Answer:
    """Parse and check an answer; raises :class:`AnswerError` with feedback for the model.

    Both answer forms are read: ours (``finished``, ``id``, ``action`` tap/type, ``text``) and
    the AutoDroid paper's (``Finished`` Yes/No, ``id`` (-1: finished), ``action`` tap/input,
    ``input_text``, ``N/A`` for none; a code fence around the JSON is allowed)."""
    raw = text.strip()
    if raw.startswith("```"):
        raw = raw.strip("`").removeprefix("json").strip()
    start, end = raw.find("{"), raw.rfind("}")
    if start < 0 or end <= start:
        raise AnswerError("your answer was not a JSON object")
    try:
        obj = json.loads(raw[start : end + 1])
    except json.JSONDecodeError as exc:
        raise AnswerError(f"your answer was not valid JSON ({exc.msg})") from exc
    if not isinstance(obj, dict):
        raise AnswerError("your answer was not a JSON object")
    if "Finished" in obj or "input_text" in obj:
        return _parse_paper_answer(obj)
    if "element" in obj and "id" not in obj:
        return _parse_label_answer(obj, labels or {}, inputs or set())
    finished = obj.get("finished", False)
    if not isinstance(finished, bool):
        raise AnswerError('"finished" must be true or false')
    eid = obj.get("id")
    if isinstance(eid, str) and eid.strip().lstrip("-").isdigit():
        eid = int(eid)
    if finished and eid is None:
        eid = -1
    if isinstance(eid, bool) or not isinstance(eid, int):
        raise AnswerError('"id" must be the number of an element')
    action = obj.get("action", "tap")
    if action not in ("tap", "type"):
        raise AnswerError('"action" must be "tap" or "type"')
    typed = obj.get("text", "")
    if typed is None:
        typed = ""
    if not isinstance(typed, str):
        raise AnswerError('"text" must be a string')
    return Answer(finished=finished, id=eid, action=action, text=typed)


def _parse_paper_answer(obj: dict[str, Any]) -> Answer:
    """An answer in the paper's format: ``Finished: Yes`` or ``id: -1`` means finished;
    ``action: input`` types ``input_text``; any other action taps."""
    finished = str(obj.get("Finished", "")).strip().lower() in ("yes", "y", "true")
    eid = obj.get("id")
    if isinstance(eid, str) and eid.strip().lstrip("-").isdigit():
        eid = int(eid)
    if finished or eid == -1:
        return Answer(finished=True, id=-1, action="tap", text="")
    if isinstance(eid, bool) or not isinstance(eid, int):
        raise AnswerError('"id" must be the number of an element or -1')
    action = str(obj.get("action") or "").strip().lower()
    typed = obj.get("input_text", "")
    typed = "" if typed is None or str(typed).strip() in ("N/A", "None", "") else str(typed)
    return Answer(finished=False, id=eid, action="type" if action in ("input", "type") else "tap",
                  text=typed)


def _parse_label_answer(obj: dict[str, Any], labels: dict[str, int], inputs: set[int]) -> Answer:
    """An answer naming the element by its label: typed text goes into an input element."""
    finished = obj.get("finished", False)
    if not isinstance(finished, bool):
        raise AnswerError('"finished" must be true or false')
    typed = obj.get("text", "")
    typed = typed if isinstance(typed, str) else ""
    if finished:
        return Answer(finished=True, id=-1, action="tap", text="")
    label = obj.get("element")
    if not isinstance(label, str) or label not in labels:
        raise AnswerError(f'"element" must be the text of an element on the screen, not {label!r}')
    eid = labels[label]
    kind = "type" if eid in inputs and typed.strip() else "tap"
    return Answer(finished=False, id=eid, action=kind, text=typed if kind == "type" else "")
