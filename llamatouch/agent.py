"""The agent plug-in interface.

An agent is built once (per worker) from :class:`AgentOptions`, then for every episode:

1. :meth:`Agent.reset` with the :class:`~llamatouch.tasks.Task` and the device's
   :class:`DeviceCapabilities`;
2. :meth:`Agent.step` with the current :class:`~llamatouch.device.base.Observation` and the
   episode's history so far, returning one :class:`AgentStep` (an action, the reasoning and the
   LLM usage of that step); a :class:`~llamatouch.actions.Finish` action ends the episode;
3. after the last episode, :meth:`Agent.close`.

An agent that cannot produce a valid action raises :class:`AgentFailure` (an
:class:`~llamatouch.errors.AgentError`) with the evidence (e.g. the model's raw answers): the
runner records it as an *agent* failure of that episode, and the run goes on.

See ``docs/agents.md`` for a complete minimal example agent.
"""

from __future__ import annotations

import abc
from dataclasses import asdict, dataclass, field
from typing import Any

from llamatouch.actions import Action
from llamatouch.device.base import Observation
from llamatouch.errors import AgentError
from llamatouch.tasks import Task


@dataclass(frozen=True, slots=True)
class DeviceCapabilities:
    """What the device an episode runs on can do.

    Attributes:
        serial: the device's serial (``virtual:demo``, ``127.0.0.1:5555``...).
        kind: ``"virtual"`` (in-process), ``"adb-virtual"`` (virtual device over ADB) or
            ``"adb"`` (a phone or emulator).
        width, height: screen size in pixels.
        screenshots: whether observations carry real (recorded or captured) screenshots rather
            than renderings of the hierarchy.
        world: the virtual world's name (``""`` on real devices).
    """

    serial: str
    kind: str
    width: int
    height: int
    screenshots: bool = True
    world: str = ""


@dataclass(slots=True)
class LLMUsageSummary:
    """LLM usage of one step (or, summed, of an episode).

    Attributes:
        calls: LLM calls made.
        prompt_tokens: prompt tokens over those calls (cached ones included).
        completion_tokens: generated tokens.
        cached_prompt_tokens: prompt tokens served from the prefix cache.
        prefill_s: seconds spent evaluating prompts.
        decode_s: seconds spent generating.
        seconds: wall-clock seconds of the calls (prefill + decode + overheads).
        saved_calls: LLM calls avoided (e.g. AutoDroid following a confident memory path).
    """

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    prefill_s: float = 0.0
    decode_s: float = 0.0
    seconds: float = 0.0
    saved_calls: int = 0

    def add_call(self, usage: Any) -> None:
        """Add one :class:`llamatouch.llm.LLMUsage` (duck-typed to keep this module light)."""
        self.calls += 1
        self.prompt_tokens += int(usage.prompt_tokens)
        self.completion_tokens += int(usage.completion_tokens)
        self.cached_prompt_tokens += int(usage.cached_prompt_tokens)
        self.prefill_s += float(usage.prefill_s)
        self.decode_s += float(usage.decode_s)
        self.seconds += float(usage.total_s)

    def merge(self, other: LLMUsageSummary) -> None:
        """Add ``other`` into this summary."""
        self.calls += other.calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cached_prompt_tokens += other.cached_prompt_tokens
        self.prefill_s += other.prefill_s
        self.decode_s += other.decode_s
        self.seconds += other.seconds
        self.saved_calls += other.saved_calls

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class StepHistory:
    """One earlier step of the episode, as the agent sees it.

    Attributes:
        index: 0-based step number.
        action: the action taken.
        reasoning: what the agent said about it.
        effect: the device's verdict (``changed``, ``no_effect``, ``unknown``...).
        activity: the foreground activity the action was taken on.
        description: a short human-readable description of the action (e.g. "tap 'OK'"),
            filled in by the agent that took it (``AgentStep.description``).
    """

    index: int
    action: Action
    reasoning: str = ""
    effect: str = "unknown"
    activity: str = ""
    description: str = ""


@dataclass(slots=True)
class AgentStep:
    """An agent's answer for one step.

    Attributes:
        action: the action to execute (``Finish`` ends the episode).
        reasoning: free-text reasoning, recorded in the trace.
        usage: the LLM usage of this step (zero for agents without a model).
        description: a short description of the action for the history ("tap 'Save'").
        extra: anything else to keep in the trace step (``StepRecord.extra["agent"]``).
    """

    action: Action
    reasoning: str = ""
    usage: LLMUsageSummary = field(default_factory=LLMUsageSummary)
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AgentOptions:
    """How to build an agent (what ``llamatouch eval`` passes to every agent).

    Attributes:
        model: the LLM spec for agents that use one (``"embedded"``, a ``.gguf`` path,
            ``"openai:MODEL"``); see :class:`llamatouch.llm.LLMConfig`.
        base_url: OpenAI-compatible endpoint for ``openai:`` models (key from the environment).
        seed: random seed (sampling, random choices).
        max_steps: the episode's step limit (the runner enforces it too).
        memory_dir: where agents with a memory keep their files (``""``: no memory).
        params: agent-specific settings (``--agent-param KEY=VALUE`` on the command line).
    """

    model: str = "embedded"
    base_url: str | None = None
    seed: int = 0
    max_steps: int = 15
    memory_dir: str = ""
    params: dict[str, str] = field(default_factory=dict)


class AgentFailure(AgentError):
    """The agent could not produce a valid action at this step.

    Attributes:
        evidence: what shows why (raw model answers, the feedback given, ...), recorded in the
            trace and in the results.
    """

    def __init__(self, message: str, evidence: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.evidence: dict[str, Any] = dict(evidence or {})


class Agent(abc.ABC):
    """Base class of every agent.

    Subclasses set :attr:`name`, implement :meth:`reset` and :meth:`step`, and may override
    :meth:`close`. The constructor takes :class:`AgentOptions` (a subclass that overrides
    ``__init__`` must accept it and call ``super().__init__(options)``).
    """

    #: Registry name (``autodroid``, ``random``...). Informational for file-loaded agents.
    name: str = "agent"

    def __init__(self, options: AgentOptions | None = None) -> None:
        self.options = options or AgentOptions()

    @abc.abstractmethod
    def reset(self, task: Task, capabilities: DeviceCapabilities) -> None:
        """Start a new episode of ``task`` on a device with ``capabilities``."""

    @abc.abstractmethod
    def step(self, observation: Observation, history: list[StepHistory]) -> AgentStep:
        """Choose the next action.

        Raises:
            AgentFailure: no valid action could be produced (an agent failure, with evidence).
        """

    def describe(self) -> dict[str, Any]:
        """The agent's configuration for the trace manifest (never secrets)."""
        return {"name": self.name, "model": self.options.model, "seed": self.options.seed}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (models, connections). Called once after the last episode."""
