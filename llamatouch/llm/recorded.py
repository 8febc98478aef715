"""Recorded answers as an LLM backend: ``--model recorded:DIR`` and ``--record-llm DIR``.

A recorded run is a folder holding ``result_analysis.json`` in the AutoDroid artifact's format
(``{app: {sha256(task): {"task": ..., "profile": [step, ...]}}}``, each step with ``state``
(the screen HTML the model saw), ``history``, ``prompt``, ``raw`` (the model's reply) and, in
the artifact's own logs, ``label``, ``answer`` and its verdict ``correct``). The Vicuna-7B
folder of the artifact (``ground_truth.json`` + ``output1.json``: the same profiles, and per
task a list of free-text replies) is read too.

:class:`RecordedBackend` answers a prompt with the recorded reply **for the same task and the
same step**, read from the prompt itself (the ``Task:`` line and the number of actions in its
history; never the order of the calls), and checks the prompt's screen against the recorded
one. The reply's element id is translated from the recorded screen to the prompt's screen
(element identity: tag, text, content-desc; see :func:`map_element`), so the replayed answer
names the same element even when our rendering numbers elements differently. What it cannot
match raises :class:`RecordedAnswerError` with a ``kind`` (never a silent wrong answer), and
every call leaves a :class:`RecordedMatch` in :attr:`RecordedBackend.last_match`.

:class:`RecordingBackend` wraps any backend and writes its answers in the same format, so any
run can be replayed and re-scored without the model. See docs/autodroid.md.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llamatouch.errors import LLMError
from llamatouch.fsutil import atomic_write_json
from llamatouch.llm.base import ChatMessage, LLMBackend, LLMResult, LLMUsage
from llamatouch.ui.html_agreement import RecordedElement, parse_state_html

#: The model spec prefix: ``recorded:DIR``.
RECORDED_PREFIX = "recorded:"
#: The file a recorded run keeps its answers in (the artifact's name).
ANSWERS_FILE = "result_analysis.json"
#: Share of the recorded screen's elements that must be on the prompt's screen.
DEFAULT_MIN_OVERLAP = 0.5

_ONCLICK_RE = re.compile(r" onclick=(?:jump to a GUI about '.*?'|\"[^\"]*\")(?=>)", re.S)
_FENCE_RE = re.compile(r"^```(?:json)?\s*|\s*```$")
_TASK_RE = re.compile(r"^Task: ?(.*)$", re.M)
_PAPER_ACTION_RE = re.compile(r"^- (?:TapOn|Check|Uncheck): ", re.M)
_OUR_ACTION_RE = re.compile(r"^(\d+)\. ", re.M)
#: Where a prompt's screen starts and ends (our prompt, then the artifact's).
_SCREEN_MARKS = (
    ("Current screen:\n", ("\n\nHints from exploring", "\n\nNext action")),
    ("Current UI state: \n", ("\nYour answer should",)),
    ("Current UI state:\n", ("\nYour answer should",)),
)


class RecordedAnswerError(LLMError):
    """A prompt the recorded run has no answer for.

    Attributes:
        kind: ``no-task`` (no recorded task with this text), ``no-step`` (the task has no
            recorded step with this number), ``screen-mismatch`` (the prompt's screen is not
            the recorded one), ``element-not-on-screen`` (the recorded answer's element is not
            on the prompt's screen), ``re-ask`` (a follow-up attempt that was not recorded),
            ``unreadable-prompt`` (no task/screen in the prompt).
        task: the task text read from the prompt (``""`` when none).
        step: the step read from the prompt (``-1`` when none).
    """

    def __init__(self, kind: str, message: str, task: str = "", step: int = -1) -> None:
        self.kind = kind
        self.task = task
        self.step = step
        super().__init__(f"recorded answers: {kind}: {message}")


# -- screens and elements -------------------------------------------------------------------
def strip_memory_hints(html: str) -> str:
    """The screen without AutoDroid's memory annotations (``onclick=jump to a GUI about ...``)."""
    return _ONCLICK_RE.sub("", html)


def _norm(text: str) -> str:
    return " ".join(text.replace("<br>", " ").split()).lower()


def element_key(e: RecordedElement) -> tuple[str, str, str]:
    """What identifies an element across renderings: tag, text and content-desc (normalised:
    ``<br>`` and whitespace runs folded, lower case)."""
    return (e.tag, _norm(e.body), _norm(e.desc))


def _loose_same(a: RecordedElement, b: RecordedElement) -> bool:
    """Same tag and one label is a prefix of the other (a renderer that cuts long checkbox
    labels, a text with a line break rendered as a space)."""
    if a.tag != b.tag:
        return False
    la, lb = _norm(a.body) or _norm(a.desc), _norm(b.body) or _norm(b.desc)
    if not la or not lb:
        return False
    short, long_ = sorted((la, lb), key=len)
    return len(short) >= 12 and long_.startswith(short)


def map_element(
    src: list[RecordedElement], src_id: int, dst: list[RecordedElement]
) -> int | None:
    """The id in ``dst`` of the element ``src_id`` of ``src`` (``None``: not there).

    Elements are the same when :func:`element_key` is equal; with several equal elements the
    same occurrence (2nd in ``src`` → 2nd in ``dst``). When no element is equal: a unique
    element with the same tag and text (the content-desc aside: DroidTask's recorder left a
    content-desc out on some screens), else a unique element with the same tag whose label is
    a prefix of the other's (a cut checkbox label).
    """
    here = next((e for e in src if e.id == src_id), None)
    if here is None:
        return None
    key = element_key(here)
    same = [e for e in dst if element_key(e) == key]
    if same:
        occurrence = [e for e in src if element_key(e) == key].index(here)
        return same[min(occurrence, len(same) - 1)].id
    if _norm(here.body):
        same_text = [e for e in dst if e.tag == here.tag and _norm(e.body) == _norm(here.body)]
        if len(same_text) == 1:
            return same_text[0].id
    loose = [e for e in dst if _loose_same(here, e)]
    return loose[0].id if len(loose) == 1 else None


def screen_overlap(recorded: list[RecordedElement], prompt: list[RecordedElement]) -> float:
    """Share of the recorded elements (``go back`` aside) that are on the prompt's screen."""
    rec = [e for e in recorded if _norm(e.body) != "go back"]
    if not rec:
        return 1.0
    keys = {element_key(e) for e in prompt}
    return sum(element_key(e) in keys or any(_loose_same(e, p) for p in prompt) for e in rec) / len(
        rec
    )


# -- prompts ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PromptKey:
    """What a prompt says about where it is.

    Attributes:
        task: the task text (the ``Task:`` line).
        step: the number of actions in the prompt's history (0 at the first step).
        screen: the screen HTML of the prompt.
        attempt: 0 for a first question, n for the n-th re-ask (assistant turns before it).
    """

    task: str
    step: int
    screen: str
    attempt: int = 0


def _screen_of(text: str) -> str:
    for start, ends in _SCREEN_MARKS:
        i = text.find(start)
        if i < 0:
            continue
        body = text[i + len(start):]
        cut = min((j for j in (body.find(e) for e in ends) if j >= 0), default=len(body))
        return body[:cut].strip("\n")
    return ""


def read_prompt(messages: list[ChatMessage]) -> PromptKey | None:
    """The task, step and screen of an AutoDroid prompt (ours or the artifact's); ``None`` when
    the messages are not such a prompt (e.g. a memory-description question)."""
    users = [m for m in messages if m.role == "user"]
    if not users:
        return None
    text = users[0].content
    m = _TASK_RE.search(text)
    screen = _screen_of(text)
    if m is None or not screen:
        return None
    task = m.group(1).strip()
    if "Previous UI actions:" in text:
        hist = text[text.find("Previous UI actions:"): text.find("Current UI state:")]
        step = len(_PAPER_ACTION_RE.findall(hist))
    else:
        hist = text[m.end(): text.find("Current screen:")]
        numbers = [int(n) for n in _OUR_ACTION_RE.findall(hist)]
        step = max(numbers) if numbers else 0
    attempt = sum(1 for msg in messages if msg.role == "assistant")
    return PromptKey(task, step, screen, attempt)


def task_hash(task: str) -> str:
    """The artifact's task key: sha256 of the task text."""
    return hashlib.sha256(task.encode("utf-8")).hexdigest()


# -- released replies ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ReleasedAnswer:
    """A recorded reply read the artifact's way.

    Attributes:
        finished: the model says the task is done (``Finished: Yes`` or id -1).
        id: the element id on the recorded screen (-1 when finished).
        action: ``tap``, ``input`` or ``N/A`` as the reply says.
        text: the text to type (``N/A`` when none).
        fields: the reply's JSON object (``{}`` for free text).
        form: ``json`` (a JSON object, possibly in a code fence), ``partial-json`` (JSON cut
            short: its fields read by pattern), ``text`` (free text, read with the artifact's
            ``id=N`` / ``input text=...`` rules) or ``none``.
        label: the element named by its label (our ``answer=label`` replies; ``id`` is then
            resolved on the recorded screen by :func:`answer_labels`), ``""`` otherwise.
    """

    finished: bool
    id: int
    action: str
    text: str
    fields: dict[str, Any]
    form: str
    label: str = ""


def answer_labels(elements: list[tuple[int, str]]) -> dict[str, int]:
    """Answer labels for ``(id, text)`` elements (the agent's ``answer=label`` form): the text
    on one line, cut at 50 characters (``element N`` when empty); repeated labels get
    `` (2)``, `` (3)``... in screen order."""
    out: dict[str, int] = {}
    for eid, text in elements:
        base = " ".join(text.replace("<br>", " ").split())[:50].replace('"', "'") or (
            f"element {eid}"
        )
        label, n = base, 1
        while label in out:
            n += 1
            label = f"{base} ({n})"
        out[label] = eid
    return out


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    return None


def _as_object(raw: Any) -> dict[str, Any] | None:
    if isinstance(raw, Mapping):
        return dict(raw)
    if not isinstance(raw, str):
        return None
    text = _FENCE_RE.sub("", raw.strip())
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        obj = json.loads(text[start: end + 1])
    except json.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def read_released_reply(raw: Any) -> ReleasedAnswer:
    """Read a recorded reply: a JSON object in the artifact's answer format (``Finished``,
    ``id``, ``action``, ``input_text``), or free text with ``id=N`` and ``input text=...``."""
    obj = _as_object(raw)
    if obj is not None and "element" in obj and "id" not in obj:
        done = obj.get("finished") is True
        typed = obj.get("text")
        typed = typed if isinstance(typed, str) and typed.strip() else "N/A"
        return ReleasedAnswer(done, -1, "N/A" if done else "tap", "N/A" if done else typed,
                              obj, "json", "" if done else str(obj.get("element")))
    if obj is not None:
        finished_field = str(obj.get("Finished", obj.get("finished", ""))).strip().lower()
        eid = _int_or_none(obj.get("id"))
        action = str(obj.get("action") or "N/A").strip()
        action = "input" if action.lower() in ("input", "type") else action
        text = obj.get("input_text", obj.get("text", "N/A"))
        text = "N/A" if text in (None, "") else str(text)
        finished = finished_field in ("yes", "true", "y") or eid is None or eid == -1
        return ReleasedAnswer(
            finished, -1 if finished else int(eid or 0), action, text, obj, "json"
        )
    if isinstance(raw, str) and (raw.lstrip().startswith(("{", "```")) or '"Finished"' in raw):
        # a JSON answer cut short or malformed: its fields by pattern; no id = no element
        fin = re.search(r'"Finished"\s*:\s*"(\w+)"', raw)
        eid_m = re.search(r'"id"\s*:\s*"?(-?\d+)', raw)
        act = re.search(r'"action"\s*:\s*"([^"]*)"', raw)
        txt = re.search(r'"input_text"\s*:\s*"([^"]*)"', raw)
        finished = (fin is not None and fin.group(1).lower() == "yes") or eid_m is None
        eid = -1 if finished or eid_m is None else int(eid_m.group(1))
        return ReleasedAnswer(
            finished or eid == -1, eid, act.group(1) if act else "N/A",
            txt.group(1) if txt else "N/A", {}, "partial-json",
        )
    if isinstance(raw, str):
        m = re.search(r"id=(\d+)", raw)
        t = re.search(r"input text=([^\s]+)", raw) or re.search(r"input=([^\s]+)", raw)
        text = t.group(1).strip("\"'.,:;") if t else "N/A"
        if text in ("N/A", "None", "null", "none", ""):
            text = "N/A"
        if m is None:
            return ReleasedAnswer(True, -1, "N/A", "N/A", {}, "text")
        a = re.search(r"action=(\w+)", raw)
        action = a.group(1).lower() if a else ("tap" if text == "N/A" else "input")
        return ReleasedAnswer(False, int(m.group(1)), action, text, {}, "text")
    return ReleasedAnswer(True, -1, "N/A", "N/A", {}, "none")


# -- the recorded run ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RecordedStep:
    """One recorded step.

    Attributes:
        app: the app key of the recorded run.
        task: the task text.
        step: the step number in the task (0-based).
        state: the screen HTML the model saw (memory hints removed).
        raw: the reply (a JSON object or text), as recorded.
        reasks: replies to follow-up attempts, in order (our recordings only).
        label: the artifact's label ``(element id, input text or "null")`` when known.
        verdict: the artifact's own ``correct`` flag when known.
        prompt: the recorded prompt text (``""`` when not recorded).
    """

    app: str
    task: str
    step: int
    state: str
    raw: Any
    reasks: tuple[Any, ...] = ()
    label: tuple[int, str] | None = None
    verdict: bool | None = None
    prompt: str = ""


@dataclass(frozen=True, slots=True)
class RecordedMatch:
    """How one prompt was answered.

    Attributes:
        key: what the prompt said (task, step, screen, attempt).
        step: the recorded step used.
        answer: the recorded reply, read the artifact's way.
        mapped_id: the answer's element on the prompt's screen (-1: finished).
        overlap: share of the recorded screen found on the prompt's screen.
    """

    key: PromptKey
    step: RecordedStep
    answer: ReleasedAnswer
    mapped_id: int
    overlap: float


def _label(value: Any) -> tuple[int, str] | None:
    if isinstance(value, list | tuple) and len(value) == 2:
        eid = _int_or_none(value[0])
        if eid is not None:
            return eid, str(value[1])
    return None


def load_recorded(folder: str | Path) -> list[RecordedStep]:
    """Every recorded step of a folder (``result_analysis.json``, or the artifact's Vicuna
    files ``ground_truth.json`` + ``output1.json``).

    Raises:
        LLMError: no such folder, no readable answers file.
    """
    root = Path(folder)
    answers = root / ANSWERS_FILE
    if answers.is_file():
        data = _load_json(answers)
        replies: Mapping[str, Any] | None = None
    elif (root / "ground_truth.json").is_file() and (root / "output1.json").is_file():
        data = _load_json(root / "ground_truth.json")
        replies = _load_json(root / "output1.json")
    else:
        raise LLMError(
            f"recorded:{root}: no {ANSWERS_FILE} (nor ground_truth.json + output1.json) there"
        )
    out: list[RecordedStep] = []
    for app, tasks in data.items():
        if not isinstance(tasks, Mapping):
            continue
        for thash, entry in tasks.items():
            if not isinstance(entry, Mapping) or not isinstance(entry.get("profile"), list):
                continue
            task = str(entry.get("task", ""))
            outputs = replies.get(app, {}).get(thash) if replies is not None else None
            for i, st in enumerate(entry["profile"]):
                if not isinstance(st, Mapping):
                    continue
                if replies is not None:
                    if not isinstance(outputs, list) or i >= len(outputs):
                        continue
                    raw: Any = outputs[i]
                elif "raw" in st:
                    raw = st["raw"]
                else:
                    continue
                verdict = st.get("correct")
                out.append(
                    RecordedStep(
                        app=str(app),
                        task=task,
                        step=i,
                        state=strip_memory_hints(str(st.get("state", ""))),
                        raw=raw,
                        reasks=tuple(st.get("reasks", ()) or ()),
                        label=_label(st.get("label")),
                        verdict=verdict if isinstance(verdict, bool) else None,
                        prompt=str(st.get("prompt", "")),
                    )
                )
    return out


def _load_json(path: Path) -> Any:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LLMError(f"recorded answers {path}: cannot read: {exc}") from exc
    if not isinstance(data, dict):
        raise LLMError(f"recorded answers {path}: top level is not an object")
    return data


def _usage(t0: float) -> LLMUsage:
    return LLMUsage(0, 0, 0, 0.0, 0.0, time.perf_counter() - t0)


class RecordedBackend(LLMBackend):
    """Answers prompts with recorded replies (see the module docstring).

    Args:
        folder: the recorded run.
        min_overlap: share of the recorded screen's elements that must be on the prompt's
            screen (below it: ``screen-mismatch``).
    """

    name = "recorded"

    def __init__(self, folder: str | Path, *, min_overlap: float = DEFAULT_MIN_OVERLAP) -> None:
        self.folder = Path(folder)
        self.min_overlap = min_overlap
        self.steps = load_recorded(self.folder)
        self._index: dict[tuple[str, int], list[RecordedStep]] = {}
        for s in self.steps:
            self._index.setdefault((_norm(s.task), s.step), []).append(s)
        self._tasks = {_norm(s.task) for s in self.steps}
        self._other = self._other_calls()
        #: the match of the last successful call (``None`` before the first)
        self.last_match: RecordedMatch | None = None
        #: every prompt that could not be answered, in order
        self.misses: list[RecordedAnswerError] = []
        #: the app of the current task (prefers that app's steps when two apps have a task
        #: with the same text); set by :meth:`begin_task`
        self.app = ""
        self._lock = threading.Lock()

    def begin_task(self, app: str) -> None:
        """Say which app the following prompts are about (breaks ties between apps that have
        a task with the same text and the same screen)."""
        self.app = app

    def find(self, task: str, step: int, app: str = "") -> RecordedStep | None:
        """The recorded step of ``task`` number ``step`` (that app's when several apps have
        the task), or ``None``."""
        cands = self._index.get((_norm(task), step), [])
        return next((c for c in cands if c.app == app), cands[0] if cands else None)

    def _other_calls(self) -> dict[str, str]:
        path = self.folder / ANSWERS_FILE
        if not path.is_file():
            return {}
        other = _load_json(path).get("_other_calls", {})
        return {str(k): str(v) for k, v in other.items()} if isinstance(other, Mapping) else {}

    def _miss(self, err: RecordedAnswerError) -> RecordedAnswerError:
        self.misses.append(err)
        self.last_match = None
        return err

    def match(self, messages: list[ChatMessage]) -> RecordedMatch:
        """The recorded step and answer for ``messages`` (see the module docstring).

        Raises:
            RecordedAnswerError: what could not be matched.
        """
        key = read_prompt(messages)
        if key is None:
            raise self._miss(
                RecordedAnswerError("unreadable-prompt", "no 'Task:' line or no screen in it")
            )
        norm = _norm(key.task)
        if norm not in self._tasks:
            raise self._miss(
                RecordedAnswerError("no-task", f"no recorded task {key.task!r}", key.task)
            )
        cands = self._index.get((norm, key.step), [])
        if not cands:
            raise self._miss(
                RecordedAnswerError(
                    "no-step", f"task {key.task!r} has no recorded step {key.step}", key.task,
                    key.step,
                )
            )
        shown = parse_state_html(strip_memory_hints(key.screen), document_order=True)
        scored = [
            (
                screen_overlap(parse_state_html(c.state, document_order=True), shown),
                c.app == self.app,
                c,
            )
            for c in cands
        ]
        overlap, _, step = max(scored, key=lambda p: (p[0], p[1]))
        if overlap < self.min_overlap:
            raise self._miss(
                RecordedAnswerError(
                    "screen-mismatch",
                    f"task {key.task!r} step {key.step}: only {overlap:.0%} of the recorded "
                    "screen's elements are on the prompt's screen",
                    key.task, key.step,
                )
            )
        if key.attempt > len(step.reasks):
            raise self._miss(
                RecordedAnswerError(
                    "re-ask",
                    f"task {key.task!r} step {key.step}: attempt {key.attempt + 1} was not "
                    "recorded",
                    key.task, key.step,
                )
            )
        raw = step.raw if key.attempt == 0 else step.reasks[key.attempt - 1]
        answer = read_released_reply(raw)
        mapped = -1
        if not answer.finished:
            recorded = parse_state_html(step.state, document_order=True)
            if answer.label:
                named = answer_labels([(e.id, e.body or e.desc) for e in recorded])
                rid = named.get(answer.label)
                if rid is None:
                    raise self._miss(
                        RecordedAnswerError(
                            "element-not-on-screen",
                            f"task {key.task!r} step {key.step}: the recorded answer names "
                            f"{answer.label!r}, which is not on the recorded screen",
                            key.task, key.step,
                        )
                    )
                tag = next(e.tag for e in recorded if e.id == rid)
                typed = answer.text != "N/A" and tag == "input"
                answer = ReleasedAnswer(False, rid, "input" if typed else "tap",
                                        answer.text if typed else "N/A", answer.fields,
                                        answer.form)
            found = map_element(recorded, answer.id, shown)
            if found is None and all(e.id != answer.id for e in recorded):
                # the model named an element that was not on its screen: replay that as an
                # id that is not on this screen either (the agent re-asks, as it did)
                ids = {int(i) for i in re.findall(r"\bid=(\d+)", key.screen)}
                found = answer.id if answer.id not in ids else max(ids) + 1 + answer.id
            if found is None:
                raise self._miss(
                    RecordedAnswerError(
                        "element-not-on-screen",
                        f"task {key.task!r} step {key.step}: the recorded answer's element "
                        f"{answer.id} is not on the prompt's screen",
                        key.task, key.step,
                    )
                )
            mapped = found
        return RecordedMatch(key, step, answer, mapped, overlap)

    def complete(
        self,
        messages: list[ChatMessage],
        *,
        json_schema: dict[str, Any] | None = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> LLMResult:
        t0 = time.perf_counter()
        with self._lock:
            if read_prompt(messages) is None:
                text = "\n".join(m.content for m in messages)
                other = self._other.get(hashlib.sha256(text.encode()).hexdigest())
                if other is not None:
                    return LLMResult(other, _usage(t0), f"recorded:{self.folder}", "stop")
            m = self.match(messages)
            self.last_match = m
            fields = dict(m.answer.fields) or {
                "Analyses": m.step.raw if isinstance(m.step.raw, str) else "",
            }
            fields["Finished"] = "Yes" if m.answer.finished else "No"
            fields["id"] = m.mapped_id
            fields["action"] = m.answer.action
            fields["input_text"] = m.answer.text
            text = json.dumps(fields, ensure_ascii=False)
            return LLMResult(text, _usage(t0), f"recorded:{self.folder}", "stop")


class RecordingBackend(LLMBackend):
    """Delegates to ``inner`` and writes every answer to ``folder/result_analysis.json`` in the
    recorded format. After each call the file is read, the answer merged in and the file
    rewritten atomically, under an exclusive lock on ``folder/.lock``: the worker processes
    of one run (``--workers N``) can all record into the same folder. Prompts that are not
    AutoDroid step prompts (memory descriptions) are kept by the hash of their text under
    ``_other_calls``.

    Args:
        inner: the backend that answers.
        folder: where to write.
        app: the app key the next prompts belong to (see :meth:`begin_task`).
    """

    name = "recording"

    def __init__(self, inner: LLMBackend, folder: str | Path, app: str = "unknown") -> None:
        self.inner = inner
        self.folder = Path(folder)
        self.app = app
        self.data: dict[str, Any] = {}
        self._lock = threading.Lock()

    def begin_task(self, app: str) -> None:
        """Say which app the following prompts are about (the key of the recorded run; passed
        on to ``inner`` when it wants to know too, e.g. a recorded backend)."""
        self.app = app or "unknown"
        inner_begin = getattr(self.inner, "begin_task", None)
        if callable(inner_begin):
            inner_begin(app)

    def complete(
        self,
        messages: list[ChatMessage],
        *,
        json_schema: dict[str, Any] | None = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> LLMResult:
        result = self.inner.complete(
            messages, json_schema=json_schema, max_tokens=max_tokens,
            temperature=temperature, seed=seed,
        )
        import fcntl

        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(self.folder / ".lock", "a+b") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    path = self.folder / ANSWERS_FILE
                    self.data = _load_json(path) if path.is_file() else {}
                    self._store(messages, result.text)
                    atomic_write_json(path, self.data)
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
        return result

    def _store(self, messages: list[ChatMessage], text: str) -> None:
        key = read_prompt(messages)
        if key is None:
            whole = "\n".join(m.content for m in messages)
            other = self.data.setdefault("_other_calls", {})
            other[hashlib.sha256(whole.encode()).hexdigest()] = text
            return
        entry = self.data.setdefault(self.app, {}).setdefault(
            task_hash(key.task), {"task": key.task, "profile": []}
        )
        profile: list[dict[str, Any]] = entry["profile"]
        while len(profile) <= key.step:
            profile.append({})
        st = profile[key.step]
        if key.attempt == 0 or "raw" not in st:
            user = next(m.content for m in messages if m.role == "user")
            st.clear()
            st.update({"state": key.screen, "prompt": user, "raw": text, "reasks": []})
        else:
            st.setdefault("reasks", []).append(text)
        entry["step_num"] = len(profile)

    def close(self) -> None:
        self.inner.close()


def parse_spec(model: str) -> Path:
    """``recorded:DIR`` → the folder (which must exist).

    Raises:
        LLMError: not a ``recorded:`` spec or no such folder.
    """
    if not model.startswith(RECORDED_PREFIX):
        raise LLMError(f"model {model!r} is not a {RECORDED_PREFIX}DIR spec")
    folder = Path(model[len(RECORDED_PREFIX):]).expanduser()
    if not folder.is_dir():
        raise LLMError(f"model {model!r}: folder {folder} not found")
    return folder


def load_recorded_backend(model: str) -> RecordedBackend:
    """The backend for a ``recorded:DIR`` spec."""
    return RecordedBackend(parse_spec(model))


__all__ = [
    "ANSWERS_FILE",
    "RECORDED_PREFIX",
    "PromptKey",
    "RecordedAnswerError",
    "RecordedBackend",
    "RecordedMatch",
    "RecordedStep",
    "RecordingBackend",
    "ReleasedAnswer",
    "answer_labels",
    "element_key",
    "load_recorded",
    "load_recorded_backend",
    "map_element",
    "read_prompt",
    "read_released_reply",
    "screen_overlap",
    "strip_memory_hints",
    "task_hash",
]
