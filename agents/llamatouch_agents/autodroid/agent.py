"""The AutoDroid agent (clean-room, from the description in Wen et al., "AutoDroid: LLM-powered
Task Automation in Android", MobiCom'24).

Per step: the screen becomes functionality-aware HTML (plus explicit scroll choices); the
prompt holds the task, the actions so far, the screen and hints from the exploration memory;
the model answers JSON constrained by a schema (element id, tap/type, text, finished). An
answer that does not parse or names no element is re-asked with feedback up to
``max_retries`` times, then the step is an agent failure with the answers as evidence. When
the memory holds a confident path for the task, its taps are followed without an LLM call as
long as the screen and the element match (query optimisation).

Settings (``--agent-param KEY=VALUE``), see :class:`AutoDroidSettings`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from llamatouch.actions import Finish
from llamatouch.agent import (
    Agent,
    AgentFailure,
    AgentOptions,
    AgentStep,
    AgentTask,
    DeviceCapabilities,
    LLMUsageSummary,
    OfflineRequest,
    StepHistory,
)
from llamatouch.device.base import Observation
from llamatouch.errors import LlamaTouchError, LLMError
from llamatouch.llm.base import ChatMessage, LLMBackend
from llamatouch.world import World
from llamatouch_agents.autodroid.memory import AppMemory, MemoryHit, PathStep, confident_path
from llamatouch_agents.autodroid.prompt import (
    ANSWERS,
    LABEL_SYSTEM_PROMPT,
    PROMPTS,
    SYSTEM_PROMPT,
    Answer,
    AnswerError,
    answer_schema,
    build_messages,
    build_paper_messages,
    element_labels,
    label_schema,
    paper_action_line,
    parse_answer,
    with_memory_hints,
)
from llamatouch_agents.autodroid.screen import (
    Choice,
    ScreenView,
    build_view,
    choice_action,
    describe_choice,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AutoDroidSettings:
    """AutoDroid's settings (all can be given as ``--agent-param KEY=VALUE``).

    Attributes:
        max_retries: re-asks after an unusable answer before the step fails (bounded).
        max_tokens: upper bound on the tokens of one answer.
        memory: ``on`` to build/use the exploration memory (needs a virtual world), ``off``.
        describer: how memory entries are described: ``llm`` (the model writes the simulated
            task, AutoDroid's way) or ``template`` (deterministic, no LLM calls).
        hint_threshold: cosine similarity (MiniLM) above which a memory entry becomes a hint.
        path_threshold: similarity above which the best entry's path is followed without the
            LLM (query optimisation); ``1.01`` turns it off.
        max_hints: hints shown per step.
        stuck_repeats: the same choice on an unchanged screen this many times in a row ends
            the episode (``finish`` with status ``fail``): completion detection for loops.
        history_len: most recent actions shown in the prompt.
        threads: llama.cpp threads for the model this agent loads (0: the backend's default,
            every core this process may use; 1 can be faster on a machine busy with other work).
        prompt: ``compact`` (ours: a short system prompt with a worked example and a 4-field
            JSON answer, sized for a 135M model) or ``paper`` (the AutoDroid paper's prompt and
            7-field answer, word for word; see docs/autodroid.md).
        id_grammar: ``screen``: the answer's ``id`` is constrained to the ids on the screen
            (an enum in the JSON schema, so the grammar cannot produce an id that is not
            there); ``any``: any integer 0-999 (the earlier behaviour).
        answer: with the compact prompt, how the model names its element: ``label`` (the
            element's text, constrained by a grammar to the labels on the screen; the choice
            follows what elements say) or ``id`` (its number; SmolLM2-135M answered the
            prompt example's id 3 on most screens whatever they showed, see
            docs/autodroid.md).
        record_llm: a folder: every answer of the model is also written there in the recorded
            format (``llamatouch.llm.recorded``), so the run can be replayed with
            ``--model recorded:FOLDER`` (``""``: not recorded).
    """

    max_retries: int = 2
    max_tokens: int = 48
    memory: str = "on"
    describer: str = "llm"
    hint_threshold: float = 0.45
    path_threshold: float = 0.65
    max_hints: int = 3
    stuck_repeats: int = 3
    history_len: int = 12
    threads: int = 0
    prompt: str = "compact"
    id_grammar: str = "screen"
    answer: str = "label"
    record_llm: str = ""

    @classmethod
    def from_params(cls, params: dict[str, str]) -> AutoDroidSettings:
        kwargs: dict[str, Any] = {}
        known = {f.name: f for f in fields(cls)}
        for key, raw in params.items():
            if key not in known:
                raise AgentFailure(
                    f"autodroid: unknown --agent-param {key!r}; known: {', '.join(known)}"
                )
            default = getattr(cls(), key)
            try:
                kwargs[key] = type(default)(raw)
            except ValueError as exc:
                raise AgentFailure(f"autodroid: --agent-param {key}={raw!r}: {exc}") from exc
        out = cls(**kwargs)
        choices = (("prompt", PROMPTS), ("id_grammar", ("screen", "any")), ("answer", ANSWERS),
                   ("memory", ("on", "off")), ("describer", ("llm", "template")))
        for name, allowed in choices:
            if getattr(out, name) not in allowed:
                raise AgentFailure(
                    f"autodroid: --agent-param {name}={getattr(out, name)!r}: expected one of "
                    f"{', '.join(allowed)}"
                )
        return out


def default_memory_dir() -> Path:
    """``$XDG_CACHE_HOME/llamatouch/autodroid-memory`` (``~/.cache/...`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "llamatouch" / "autodroid-memory"


def _labels(
    view: ScreenView | None, screen_html: str, ids: set[int]
) -> tuple[dict[str, int], set[int]]:
    """Answer labels of the screen's elements (:func:`element_labels`) and the input ids."""
    if view is not None:
        pairs = [
            (c.id, c.text or (c.node.content_desc if c.node else "") or c.label)
            for c in view.choices if c.id in ids
        ]
        return element_labels(pairs), {c.id for c in view.choices if c.kind == "type"}
    from llamatouch.ui.html_agreement import parse_state_html

    els = [e for e in parse_state_html(screen_html, document_order=True) if e.id in ids]
    return (element_labels([(e.id, e.body or e.desc) for e in els]),
            {e.id for e in els if e.tag == "input"})


#: Answer budget with the paper's prompt (its answer carries Steps and Analyses texts).
PAPER_MAX_TOKENS = 384


@dataclass(slots=True)
class Decision:
    """The outcome of asking the model about one screen."""

    answer: Answer
    choice: Choice | None
    usage: LLMUsageSummary
    raw_answers: list[str]
    #: per call: tokens and seconds (``LLMUsage.as_dict()``), in order
    calls: list[dict[str, Any]] = field(default_factory=list)


class AutoDroidAgent(Agent):
    """See the module docstring. ``llm`` may be injected (tests, benchmarks, shared models);
    otherwise the backend named by ``options.model`` is loaded once, on first use."""

    name = "autodroid"

    def __init__(self, options: AgentOptions | None = None, llm: LLMBackend | None = None) -> None:
        super().__init__(options)
        self.settings = AutoDroidSettings.from_params(self.options.params)
        self._owns_llm = llm is None
        if llm is not None and self.settings.record_llm:
            from llamatouch.llm.recorded import RecordingBackend

            llm = RecordingBackend(llm, self.settings.record_llm)
        self._llm = llm
        self._task: AgentTask | None = None
        self._memory: AppMemory | None = None
        self._hits: list[MemoryHit] = []
        self._path: list[PathStep] = []
        self._path_pos = 0
        self._memories: dict[tuple[str, str], AppMemory] = {}
        self._recent: list[tuple[str, str]] = []
        #: the paper prompt's history lines of the current episode
        self._paper_lines: list[str] = []
        #: likelihood scorer (``answer=score``), built on first use
        self._scorer: Any = None
        #: LLM calls spent building memories (reported apart from episode usage).
        self.memory_build_calls = 0

    # -- plumbing --------------------------------------------------------------------------
    @property
    def llm(self) -> LLMBackend:
        if self._llm is None:
            from llamatouch.llm import LLMConfig, load_backend

            try:
                llm = load_backend(
                    LLMConfig(
                        model=self.options.model,
                        base_url=self.options.base_url,
                        n_threads=self.settings.threads or None,
                    )
                )
            except LLMError as exc:
                raise AgentFailure(f"autodroid: cannot load model: {exc}") from exc
            if self.settings.record_llm:
                from llamatouch.llm.recorded import RecordingBackend

                llm = RecordingBackend(llm, self.settings.record_llm)
            self._llm = llm
        return self._llm

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["settings"] = {f.name: getattr(self.settings, f.name) for f in fields(self.settings)}
        return out

    def close(self) -> None:
        if self._llm is not None and self._owns_llm:
            self._llm.close()
        self._llm = None

    @classmethod
    def offline_stepwise(cls, request: OfflineRequest) -> str:
        """The paper's offline step-wise evaluation on DroidTask
        (:mod:`llamatouch_agents.autodroid.offline`); returns its table."""
        from llamatouch_agents.autodroid.offline import run_request  # it imports this module

        return run_request(request)

    # -- episodes --------------------------------------------------------------------------
    def reset(self, task: AgentTask, capabilities: DeviceCapabilities) -> None:
        self._task = task
        self._recent = []
        self._paper_lines = []
        self._path, self._path_pos, self._hits = [], 0, []
        self._memory = None
        if self.settings.memory == "on" and capabilities.world:
            self._memory = self._load_memory(capabilities.world, task.app)
        elif self.settings.memory == "on":
            self._memory = self._stored_memory(task.app)
        if self._memory is not None and self._memory.entries:
            from llamatouch.embed.minilm import get_encoder

            q = get_encoder().encode([task.instruction])[0]
            self._hits = self._memory.retrieve(q, self.settings.hint_threshold, top_k=20)
            self._path = confident_path(self._hits, self.settings.path_threshold)

    def _memory_folder(self) -> Path:
        return Path(self.options.memory_dir) if self.options.memory_dir else default_memory_dir()

    def _stored_memory(self, app: str) -> AppMemory | None:
        """A real device has no world to check against: use a stored memory file as is
        (built beforehand, e.g. with ``explore.explore_device``), if there is one."""
        from llamatouch_agents.autodroid.memory import memory_path

        key = ("", app)
        if key not in self._memories:
            path = memory_path(self._memory_folder(), app)
            if not path.is_file():
                return None
            try:
                self._memories[key] = AppMemory.load(path)
            except LlamaTouchError as exc:
                log.warning("autodroid: memory %s not used: %s", path, exc)
                return None
        return self._memories[key]

    def _load_memory(self, world_name: str, app: str) -> AppMemory | None:
        key = (world_name, app)
        if key in self._memories:
            return self._memories[key]
        from llamatouch.world import resolve_world

        try:
            world = resolve_world(world_name)
        except LlamaTouchError as exc:
            log.warning("autodroid: no memory (world %r: %s)", world_name, exc)
            return None
        mem = self.memory_for_world(world, app)
        if mem is not None:
            self._memories[key] = mem
        return mem

    def memory_for_world(self, world: World, app: str) -> AppMemory | None:
        """The app's memory for ``world``: loaded from the memory folder when it matches the
        world, else built by exploring the world's graph (and saved)."""
        if world.app(app) is None:
            return None
        from llamatouch.embed.minilm import get_encoder
        from llamatouch_agents.autodroid.memory import (
            llm_describer,
            load_or_build,
            template_describer,
        )

        calls = LLMUsageSummary()

        def make() -> Any:
            if self.settings.describer == "llm":
                return (
                    llm_describer(self.llm, calls.add_call),
                    f"llm:{self.options.model}",
                    lambda: calls.calls,
                )
            return template_describer, "template", lambda: 0

        mem = load_or_build(self._memory_folder(), world, app, make, get_encoder().encode)
        self.memory_build_calls += calls.calls
        return mem

    def step(self, observation: Observation, history: list[StepHistory]) -> AgentStep:
        task = self._task
        if task is None:
            raise AgentFailure("autodroid: step() before reset()")
        view = build_view(observation.screen)
        followed = self._follow_path(view)
        if followed is not None:
            return followed
        hints, id_hints = self._hints(view)
        if self.settings.prompt == "paper":
            past, first = self._paper_lines, 1
        else:
            every = [h.description or h.action.kind for h in history]
            past = every[-self.settings.history_len :]
            first = len(every) - len(past) + 1
        decision = self.decide(task.instruction, past, view.text(), view, hints,
                               app=task.app_label or task.app, id_hints=id_hints,
                               first_number=first)
        usage = decision.usage
        ans = decision.answer
        extra = {"answers": decision.raw_answers, "hints": hints, "llm_calls": decision.calls}
        if ans.finished:
            return AgentStep(Finish(), "model: task finished", usage, "finish", extra)
        choice = decision.choice
        assert choice is not None  # decide() guarantees a choice for unfinished answers
        text = ans.text if choice.kind == "type" else ""
        if choice.kind == "type" and ans.action == "tap" and not text:
            action = choice_action(
                Choice(choice.id, choice.tag, choice.text, choice.html, "click", choice.node,
                       choice.key)
            )
            desc = f"tap {choice.label!r}"
        else:
            action = choice_action(choice, text)
            desc = describe_choice(choice, text)
        self._paper_lines.append(paper_action_line(choice.html, text))
        mark = (view.signature, desc)
        self._recent = [*self._recent, mark][-self.settings.stuck_repeats :]
        if len(self._recent) >= self.settings.stuck_repeats and len(set(self._recent)) == 1:
            return AgentStep(
                Finish(status="fail"),
                f"stuck: {desc} chosen {self.settings.stuck_repeats} times on an unchanged screen",
                usage,
                "finish (stuck)",
                extra,
            )
        return AgentStep(action, f"model chose element {choice.id}: {desc}", usage, desc, extra)

    # -- memory use ------------------------------------------------------------------------
    def _follow_path(self, view: ScreenView) -> AgentStep | None:
        if self._path_pos >= len(self._path):
            return None
        step = self._path[self._path_pos]
        choice = next((c for c in view.choices if c.label == step.label), None)
        if view.signature != step.sig or choice is None:
            log.debug("autodroid: memory path abandoned at step %d", self._path_pos)
            self._path = []
            return None
        self._path_pos += 1
        self._paper_lines.append(paper_action_line(choice.html))
        desc = describe_choice(choice)
        return AgentStep(
            choice_action(choice),
            f"memory path step {self._path_pos}/{len(self._path)}: {desc} (no LLM call)",
            LLMUsageSummary(saved_calls=1),
            desc,
            {"memory_path": True},
        )

    def _hints(self, view: ScreenView) -> tuple[list[str], dict[int, str]]:
        """Memory hints for the screen: as lines (compact prompt) and by element id (the
        paper's ``onclick=jump to a GUI about ...`` annotation)."""
        out: list[str] = []
        by_id: dict[int, str] = {}
        by_label = {c.label: c for c in view.choices}
        for hit in self._hits:
            e = hit.entry
            c = by_label.get(e.label)
            if c is None or c.id in by_id or (e.source_sig != view.signature and c.kind == "back"):
                continue
            out.append(f"element {c.id} ('{e.label}') leads to: {e.simulated_task}")
            by_id[c.id] = e.simulated_task
            if len(out) >= self.settings.max_hints:
                break
        return out, by_id

    # -- asking the model ------------------------------------------------------------------
    def _decide_by_score(
        self,
        messages: list[ChatMessage],
        labels: dict[str, int],
        inputs: set[int],
        usage: LLMUsageSummary,
        view: ScreenView | None,
        baseline: list[ChatMessage],
    ) -> Decision:
        """``answer=score``: the label the model finds most likely (one prefill, one token
        evaluation per label token); for an input element the text is then generated with
        the element fixed by the grammar."""
        import time

        from llamatouch.llm.base import LLMUsage
        from llamatouch_agents.autodroid.scoring import LikelihoodScorer

        try:
            if self._scorer is None:
                self._scorer = LikelihoodScorer(self.llm)
            t0 = time.perf_counter()
            scored = self._scorer.score(messages, list(labels), baseline)
            dt = time.perf_counter() - t0
        except LLMError as exc:
            raise AgentFailure(f"autodroid: scoring failed: {exc}",
                               {"usage": usage.to_json()}) from exc
        n_prompt = len(self._scorer.backend.tokenize_prompt(messages))
        call = LLMUsage(n_prompt, 0, max(0, n_prompt - scored.evaluated_tokens), dt, 0.0, dt)
        usage.add_call(call)
        calls = [call.as_dict() | {"finish_reason": "scored"}]
        top = sorted(scored.scores.items(), key=lambda kv: -kv[1])[:5]
        raw = [f"scored: finished={scored.finished} best={scored.label!r} top={top}"]
        if scored.finished:
            return Decision(Answer(True, -1, "tap", ""), None, usage, raw, calls)
        eid = labels[scored.label]
        text = ""
        if eid in inputs:
            schema = label_schema([scored.label])
            schema["properties"]["finished"] = {"type": "boolean", "enum": [False]}
            try:
                result = self.llm.complete(messages, json_schema=schema,
                                           max_tokens=self.settings.max_tokens, temperature=0.0,
                                           seed=self.options.seed)
            except LLMError as exc:
                raise AgentFailure(f"autodroid: LLM failed: {exc}",
                                   {"answers": raw, "usage": usage.to_json()}) from exc
            usage.add_call(result.usage)
            calls.append(result.usage.as_dict() | {"finish_reason": result.finish_reason})
            raw.append(result.text)
            try:
                text = parse_answer(result.text, labels, inputs).text
            except AnswerError:
                text = ""
        action = "type" if text else "tap"
        choice = view.get(eid) if view is not None else None
        return Decision(Answer(False, eid, action, text), choice, usage, raw, calls)

    def decide(
        self,
        instruction: str,
        history: list[str],
        screen_html: str,
        view: ScreenView | None,
        hints: list[str],
        valid_ids: set[int] | None = None,
        *,
        app: str = "",
        id_hints: dict[int, str] | None = None,
        first_number: int = 1,
    ) -> Decision:
        """Ask the model for one answer about a screen, re-asking with feedback on unusable
        answers. ``view`` (online) or ``valid_ids`` (offline HTML) says which ids exist.
        ``history`` holds history lines in the prompt style's form (``prompt=paper``: lines of
        :func:`~llamatouch_agents.autodroid.prompt.paper_action_line`); ``app`` names the app
        in the paper's first history line; ``id_hints`` are memory hints by element id (paper
        prompt), ``hints`` the same as lines (compact prompt).

        Raises:
            AgentFailure: no usable answer after the bounded re-asks, or the backend failed
                (evidence ``recorded_miss``: the kind of a recorded-answers miss).
        """
        ids = valid_ids if valid_ids is not None else {c.id for c in (view.choices if view else [])}
        paper = self.settings.prompt == "paper"
        by_label = self.settings.answer in ("label", "score") and not paper
        labels: dict[str, int] = {}
        inputs: set[int] = set()
        if paper:
            shown = with_memory_hints(screen_html, id_hints or {})
            messages = build_paper_messages(instruction, app, history, shown)
        else:
            system = LABEL_SYSTEM_PROMPT if by_label else SYSTEM_PROMPT
            messages = build_messages(instruction, history, screen_html, hints, first_number,
                                      system)
        if by_label:
            labels, inputs = _labels(view, screen_html, ids)
            schema = label_schema(list(labels))
        else:
            schema = answer_schema(ids if self.settings.id_grammar == "screen" else None,
                                   paper=paper)
        max_tokens = max(self.settings.max_tokens, PAPER_MAX_TOKENS) if paper else (
            self.settings.max_tokens
        )
        usage = LLMUsageSummary()
        raws: list[str] = []
        feedback: list[str] = []
        per_call: list[dict[str, Any]] = []
        llm = self.llm
        begin = getattr(llm, "begin_task", None)
        if callable(begin):
            begin(app or (self._task.app if self._task else ""))
        if self.settings.answer == "score" and not paper:
            baseline = build_messages("(none)", history, screen_html, hints, first_number,
                                      LABEL_SYSTEM_PROMPT)
            return self._decide_by_score(messages, labels, inputs, usage, view, baseline)
        for _attempt in range(self.settings.max_retries + 1):
            try:
                result = llm.complete(
                    messages,
                    json_schema=schema,
                    max_tokens=max_tokens,
                    temperature=0.0,
                    seed=self.options.seed,
                )
            except LLMError as exc:
                evidence: dict[str, Any] = {
                    "answers": raws, "feedback": feedback, "usage": usage.to_json(),
                    "calls": per_call,
                }
                kind = getattr(exc, "kind", None)
                if isinstance(kind, str):
                    evidence["recorded_miss"] = kind
                raise AgentFailure(f"autodroid: LLM failed: {exc}", evidence) from exc
            usage.add_call(result.usage)
            per_call.append(result.usage.as_dict() | {"finish_reason": result.finish_reason})
            raws.append(result.text)
            try:
                ans = parse_answer(result.text, labels, inputs)
                if ans.finished:
                    return Decision(ans, None, usage, raws, per_call)
                if ans.id not in ids:
                    shown = f"0-{max(ids)}" if ids else "none"
                    raise AnswerError(f"there is no element with id {ans.id} (ids: {shown})")
                choice = view.get(ans.id) if view is not None else None
                return Decision(ans, choice, usage, raws, per_call)
            except AnswerError as exc:
                feedback.append(str(exc))
                messages = [
                    *messages,
                    ChatMessage("assistant", result.text[:400]),
                    ChatMessage(
                        "user",
                        f"That answer cannot be used: {exc}. Answer again with JSON naming one "
                        "element id from the screen above.",
                    ),
                ]
        raise AgentFailure(
            f"autodroid: no usable answer after {self.settings.max_retries + 1} attempts: "
            f"{feedback[-1] if feedback else 'no answer'}",
            {"answers": raws, "feedback": feedback, "usage": usage.to_json(), "calls": per_call},
        )
