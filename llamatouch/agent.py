"""The agent plug-in interface.

An agent is built once (per worker) from :class:`AgentOptions`, then for every episode:

1. :meth:`Agent.reset` with the task's :class:`AgentTask` view (instruction, app, the step
   limit the runner enforces, the trial...; never the ground truth, unless the agent class
   declares :attr:`Agent.oracle`) and the device's :class:`DeviceCapabilities`;
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
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from llamatouch.actions import Action
from llamatouch.device.base import Effect, Observation
from llamatouch.errors import AgentError
from llamatouch.redact import redacted_repr
from llamatouch.tasks import Task

#: ``Task.meta`` keys that carry (part of) the answer and never reach a non-oracle agent, beside
#: every ``gt_*`` key: the ground-truth length (``steps``, ``records``, ``step_num``), how the
#: ground truth was resolved, and the file it was read from.
ANSWER_META_KEYS = frozenset(
    {"steps", "records", "step_num", "resolved_by", "unresolved_records", "quirks", "source"}
)


def _is_answer_key(key: str) -> bool:
    return key == "gt" or key.startswith(("gt_", "gt-")) or key in ANSWER_META_KEYS


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """The answer key of a task, handed only to agents whose class sets ``oracle = True``.

    Attributes:
        actions: the ground-truth actions (action JSON, see :mod:`llamatouch.actions`).
        states: the world state ids along the ground-truth path.
    """

    actions: tuple[Mapping[str, Any], ...] = ()
    states: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AgentTask:
    """What an agent is told about the task of an episode (:meth:`Agent.reset`).

    It never holds the ground truth (``gt_actions``, ``gt_states``, answer-bearing metadata)
    unless the agent's class declares :attr:`Agent.oracle`; then :attr:`ground_truth` is set and
    the run is marked as an oracle run everywhere its results are shown.

    Attributes:
        id: the task id (``notes-create-buy-milk``).
        instruction: the natural-language task.
        app: the app's package.
        app_label: the app's human-readable name (``""`` when unknown).
        max_steps: the step limit the runner enforces for this episode: after ``max_steps``
            actions the episode ends as ``step_limit`` (the ``finish`` action counts as one).
        trial: 0-based trial number (``--trials K`` runs 0..K-1; seeded agents vary by it).
        world: the virtual world's name (``""``: the suite's world or a real device).
        meta: free-form metadata of the task that is not part of the answer (a copy).
        ground_truth: the answer key, for oracle agents only (``None`` for every other agent).
    """

    id: str
    instruction: str
    app: str
    app_label: str = ""
    max_steps: int = 15
    trial: int = 0
    world: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)
    ground_truth: GroundTruth | None = None

    @classmethod
    def from_task(
        cls,
        task: Task,
        *,
        max_steps: int,
        trial: int = 0,
        world: str = "",
        oracle: bool = False,
    ) -> AgentTask:
        """The view of ``task`` an agent gets (the ground truth only when ``oracle``).

        ``world`` is the world the episode runs in (default: ``task.world``). ``meta`` also
        holds ``trial`` (as it did before :attr:`trial` existed).
        """
        meta = {k: v for k, v in task.meta.items() if not _is_answer_key(str(k))}
        meta["trial"] = trial
        truth = None
        if oracle:
            truth = GroundTruth(
                actions=tuple(dict(a) for a in task.gt_actions), states=tuple(task.gt_states)
            )
        return cls(
            id=task.id,
            instruction=task.instruction,
            app=task.app,
            app_label=task.app_label,
            max_steps=max_steps,
            trial=trial,
            world=world or task.world,
            meta=meta,
            ground_truth=truth,
        )


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
        effect: the device's verdict (:class:`~llamatouch.device.base.Effect`).
        activity: the foreground activity the action was taken on.
        description: a short human-readable description of the action (e.g. "tap 'OK'"),
            filled in by the agent that took it (``AgentStep.description``).
    """

    index: int
    action: Action
    reasoning: str = ""
    effect: Effect = Effect.UNKNOWN
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
            ``"openai:MODEL"``, ``"device:PORT"``); see :class:`llamatouch.llm.LLMConfig`.
        base_url: OpenAI-compatible endpoint for ``openai:`` models (key from the environment);
            for ``device:PORT`` the runner sets it to the forward to the episode's device.
        seed: random seed (sampling, random choices).
        max_steps: the run's ``--max-steps`` when given, else the largest step limit of the
            run's tasks. The limit of each episode (which the runner enforces) is
            :attr:`AgentTask.max_steps`.
        memory_dir: where agents with a memory keep their files (``""``: no memory).
        params: agent-specific settings (``--agent-param KEY=VALUE`` on the command line).
    """

    model: str = "embedded"
    base_url: str | None = None
    seed: int = 0
    max_steps: int = 15
    memory_dir: str = ""
    params: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:  # the endpoint's credentials masked
        return redacted_repr(self)


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

    #: ``True`` only for baselines that need the answer key (``replay``): their
    #: :class:`AgentTask` carries :attr:`AgentTask.ground_truth`, and their runs are marked as
    #: oracle runs in ``run.json``, the results, the summary table and the report.
    oracle: ClassVar[bool] = False

    def __init__(self, options: AgentOptions | None = None) -> None:
        self.options = options or AgentOptions()

    @abc.abstractmethod
    def reset(self, task: AgentTask, capabilities: DeviceCapabilities) -> None:
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

    @classmethod
    def offline_stepwise(cls, request: OfflineRequest) -> str:
        """An optional capability: evaluate this agent step by step on a recorded dataset
        (at each recorded screen, does it choose the recorded action?), without a device.
        ``llamatouch eval --agent NAME --offline-stepwise DIR`` calls it and prints what it
        returns (a table). Agents without one raise :class:`OfflineUnsupportedError`.
        """
        raise OfflineUnsupportedError(
            f"agent {cls.name!r} has no offline step-wise evaluation (--offline-stepwise)"
        )


class OfflineUnsupportedError(AgentError):
    """The agent has no offline step-wise evaluation (:meth:`Agent.offline_stepwise`)."""


@dataclass(frozen=True, slots=True)
class OfflineRequest:
    """What ``eval --offline-stepwise`` asks of an agent's :meth:`Agent.offline_stepwise`.

    Attributes:
        dataset_dir: the recorded dataset (DroidTask's folder for AutoDroid).
        options: how to build the agent (model, endpoint, seed, memory, ``--agent-param``).
        apps: only these apps (empty: all).
        max_tasks_per_app: at most this many tasks per app (0: all).
        out: where to write the per-step results (``None``: nowhere).
        progress: show a progress bar on stderr.
    """

    dataset_dir: Path
    options: AgentOptions
    apps: tuple[str, ...] = ()
    max_tasks_per_app: int = 0
    out: Path | None = None
    progress: bool = True
