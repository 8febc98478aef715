"""AutoDroid's prompt and its JSON-schema-constrained answer.

The prompt is ordered for prefix caching: the fixed system instructions, then the task, then
the action history (which only grows), then the current screen; only the tail changes from one
step to the next, so the LLM backend reuses the KV state of everything before it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from llamatouch.llm.base import ChatMessage

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
) -> list[ChatMessage]:
    """The chat for one step (see the module docstring for the order)."""
    parts = [f"Task: {instruction}", ""]
    if history:
        parts.append("Actions so far:")
        parts += [f"{i + 1}. {h}" for i, h in enumerate(history)]
    else:
        parts.append("Actions so far: none")
    parts += ["", "Current screen:", screen_html]
    if hints:
        parts += ["", "Hints from exploring this app:"]
        parts += [f"- {h}" for h in hints]
    parts += ["", "Next action (JSON):"]
    return [ChatMessage("system", SYSTEM_PROMPT), ChatMessage("user", "\n".join(parts))]


def parse_answer(text: str) -> Answer:
    """Parse and check an answer; raises :class:`AnswerError` with feedback for the model."""
    raw = text.strip()
    start, end = raw.find("{"), raw.rfind("}")
    if start < 0 or end <= start:
        raise AnswerError("your answer was not a JSON object")
    try:
        obj = json.loads(raw[start : end + 1])
    except json.JSONDecodeError as exc:
        raise AnswerError(f"your answer was not valid JSON ({exc.msg})") from exc
    if not isinstance(obj, dict):
        raise AnswerError("your answer was not a JSON object")
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
