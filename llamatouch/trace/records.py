"""The typed records of a trace and their JSON form, in one place.

Every field of ``manifest.json`` and ``step.json`` (trace format ``llamatouch.trace/1``, see
``docs/trace-format.md``) is read here, its type and range checked, and written back with the
same layout. Readers get typed objects (:class:`TaskRef`,
:class:`~llamatouch.agent.DeviceCapabilities`, :class:`EpisodeUsage` with its
:class:`~llamatouch.agent.LLMUsageSummary`, :class:`VerdictRecord`,
:class:`~llamatouch.actions.Action`, :class:`~llamatouch.device.base.ActResult`); a bad field
raises :class:`~llamatouch.errors.SchemaError` naming the file and the field.

The closed vocabularies are string enums (:class:`EpisodeStatus`, :class:`VerdictStatus`,
:class:`FailureKind`, :class:`Effect`): they compare equal to, and serialise as, the same
strings as before, so no file changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

from llamatouch.actions import Action, action_from_json
from llamatouch.agent import DeviceCapabilities, LLMUsageSummary
from llamatouch.device.base import ActResult, Effect
from llamatouch.errors import ActionError, SchemaError
from llamatouch.trace.fields import Fields


class EpisodeStatus(StrEnum):
    """How an episode ended (``manifest.status``)."""

    RUNNING = "running"
    FINISHED = "finished"
    STEP_LIMIT = "step_limit"
    AGENT_ERROR = "agent_error"
    INFRA_ERROR = "infra_error"
    #: the episode killed its worker process (a native crash) on every attempt.
    CRASH = "crash"


class VerdictStatus(StrEnum):
    """The evaluator's answer, and what a result row says when there is none."""

    SUCCESS = "success"
    FAIL = "fail"
    ERROR = "error"
    UNSCORED = "unscored"
    NOT_RUN = "not_run"


class FailureKind(StrEnum):
    """Why an episode is not a success (``""``: it is one)."""

    NONE = ""
    AGENT = "agent"
    INFRA = "infra"
    EVAL = "eval"
    UNSCORED = "unscored"
    CRASH = "crash"


#: Largest free-text field accepted in a record (reasoning, errors, instructions).
MAX_TEXT = 1_000_000


# -- task -----------------------------------------------------------------------------------
@dataclass(slots=True)
class TaskRef:
    """What an episode attempted (``manifest.task``).

    Attributes:
        id: the task id.
        suite: the suite's name (``""`` for imported traces without one).
        app: the app's package.
        instruction: the task as the agent was given it.
        trial: 0-based trial number.
        extra: any other keys a producer kept (e.g. the source dataset's episode id), written
            back beside the known ones.
    """

    id: str = ""
    suite: str = ""
    app: str = ""
    instruction: str = ""
    trial: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {**self.extra, "id": self.id, "suite": self.suite, "app": self.app,
                "instruction": self.instruction, "trial": self.trial}

    @classmethod
    def from_json(cls, obj: object, source: str | Path = "<task>", where: str = "task") -> TaskRef:
        f = Fields(obj, source, where)
        return cls(
            id=f.text("id", ""),
            suite=f.text("suite", ""),
            app=f.text("app", ""),
            instruction=f.text("instruction", "", max_len=MAX_TEXT),
            trial=f.integer("trial", 0, low=0),
            extra=f.unknown(_TASK_KEYS),
        )


_TASK_KEYS = frozenset({"id", "suite", "app", "instruction", "trial"})


# -- device ---------------------------------------------------------------------------------
def device_to_json(device: DeviceCapabilities | None) -> dict[str, Any]:
    """``manifest.device`` (``{}`` when the device is unknown)."""
    if device is None:
        return {}
    return {"serial": device.serial, "kind": device.kind, "width": device.width,
            "height": device.height, "world": device.world, "screenshots": device.screenshots}


def device_from_json(obj: object, source: str | Path = "<device>",
                     where: str = "device") -> DeviceCapabilities | None:
    """Read ``manifest.device`` (``{}`` or ``null``: ``None``)."""
    f = Fields({} if obj is None else obj, source, where)
    if not f.obj:
        return None
    return DeviceCapabilities(
        serial=f.text("serial", ""),
        kind=f.text("kind", ""),
        width=f.integer("width", 0, low=0),
        height=f.integer("height", 0, low=0),
        screenshots=f.flag("screenshots", True),
        world=f.text("world", ""),
    )


# -- usage ----------------------------------------------------------------------------------
def llm_to_json(llm: LLMUsageSummary) -> dict[str, Any]:
    """A step's ``llm`` object (every counter of :class:`LLMUsageSummary`)."""
    return llm.to_json()


_LLM_INTS = ("calls", "prompt_tokens", "completion_tokens", "cached_prompt_tokens", "saved_calls")
_LLM_FLOATS = ("prefill_s", "decode_s", "seconds")


def llm_from_json(obj: object, source: str | Path = "<llm>", where: str = "llm") -> LLMUsageSummary:
    """Read an LLM usage object (absent counters are 0; ``llm_calls`` is read as ``calls``,
    the name some early traces used)."""
    f = Fields({} if obj is None else obj, source, where)
    calls_key = "calls" if f.has("calls") or not f.has("llm_calls") else "llm_calls"
    return LLMUsageSummary(
        calls=f.integer(calls_key, 0, low=0),
        prompt_tokens=f.integer("prompt_tokens", 0, low=0),
        completion_tokens=f.integer("completion_tokens", 0, low=0),
        cached_prompt_tokens=f.integer("cached_prompt_tokens", 0, low=0),
        prefill_s=f.number("prefill_s", 0.0, low=0.0),
        decode_s=f.number("decode_s", 0.0, low=0.0),
        seconds=f.number("seconds", 0.0, low=0.0),
        saved_calls=f.integer("saved_calls", 0, low=0),
    )


@dataclass(slots=True)
class DeviceLLMState:
    """The device serving an episode's model, read through adb at the episode's start or end
    (``usage.on_device.start`` / ``.end``). ``None``: the device could not say.

    Attributes:
        at: wall-clock seconds when it was read.
        pid: the serving process (``pidof``).
        pss_kb: its proportional set size (``dumpsys meminfo PID``: TOTAL PSS), kB.
        rss_kb: its resident set size (TOTAL RSS), kB.
        battery_level: battery charge, percent (``dumpsys battery``).
        battery_temp_c: battery temperature, degrees Celsius.
        plugged: the device is on a charger (AC, USB or wireless).
        thermal_status: ``dumpsys thermalservice``'s Thermal Status, 0 (none) .. 6 (shutdown).
    """

    at: float = 0.0
    pid: int | None = None
    pss_kb: int | None = None
    rss_kb: int | None = None
    battery_level: int | None = None
    battery_temp_c: float | None = None
    plugged: bool | None = None
    thermal_status: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, f: Fields) -> DeviceLLMState:
        return cls(
            at=f.number("at", 0.0, low=0.0),
            pid=f.opt_integer("pid", low=0),
            pss_kb=f.opt_integer("pss_kb", low=0),
            rss_kb=f.opt_integer("rss_kb", low=0),
            battery_level=f.opt_integer("battery_level", low=0),
            battery_temp_c=f.opt_number("battery_temp_c"),
            plugged=f.opt_flag("plugged"),
            thermal_status=f.opt_integer("thermal_status", low=0),
        )


@dataclass(slots=True)
class OnDeviceUsage:
    """Where an episode's model ran when it ran on the device (``usage.on_device``; absent for
    host-side models). The per-step figures are in each step's ``llm`` object.

    Attributes:
        serial: the device.
        port: the server's port on the device (``--model device:PORT``).
        model: the model the server reported (``/v1/models``).
        start: the device at the episode's start (``None``: not read).
        end: the device at the episode's end.
    """

    serial: str = ""
    port: int = 0
    model: str = ""
    start: DeviceLLMState | None = None
    end: DeviceLLMState | None = None

    def to_json(self) -> dict[str, Any]:
        return {"serial": self.serial, "port": self.port, "model": self.model,
                "start": None if self.start is None else self.start.to_json(),
                "end": None if self.end is None else self.end.to_json()}

    @classmethod
    def from_json(cls, f: Fields) -> OnDeviceUsage:
        start, end = f.opt_sub("start"), f.opt_sub("end")
        return cls(
            serial=f.text("serial", ""),
            port=f.integer("port", 0, low=0, high=65535),
            model=f.text("model", ""),
            start=None if start is None else DeviceLLMState.from_json(start),
            end=None if end is None else DeviceLLMState.from_json(end),
        )


@dataclass(slots=True)
class EpisodeUsage:
    """What an episode used (``manifest.usage``, one flat object on disk).

    Attributes:
        llm: LLM usage totals (``calls``, tokens, seconds...).
        agent_s: seconds spent in the agent.
        device_s: seconds spent in device calls.
        wall_s: the episode's wall-clock seconds.
        actions: actions taken (the ``finish`` action included); ``None`` when not recorded
            (an episode that never ran), and readers then count the steps.
        infra_attempts: attempts lost to infrastructure failures before this one.
        on_device: the device-side model's figures (``--model device:PORT``; ``None``: the
            model ran on the host).
        extra: any other keys a producer kept, written back beside the known ones.
    """

    llm: LLMUsageSummary = field(default_factory=LLMUsageSummary)
    agent_s: float = 0.0
    device_s: float = 0.0
    wall_s: float = 0.0
    actions: int | None = None
    infra_attempts: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    on_device: OnDeviceUsage | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {**self.extra, **llm_to_json(self.llm), "agent_s": self.agent_s,
                               "device_s": self.device_s, "wall_s": self.wall_s,
                               "infra_attempts": self.infra_attempts}
        if self.actions is not None:
            out["actions"] = self.actions
        if self.on_device is not None:
            out["on_device"] = self.on_device.to_json()
        return out

    @classmethod
    def from_json(cls, obj: object, source: str | Path = "<usage>",
                  where: str = "usage") -> EpisodeUsage:
        f = Fields({} if obj is None else obj, source, where)
        return cls(
            llm=llm_from_json(f.obj, source, where),
            agent_s=f.number("agent_s", 0.0, low=0.0),
            device_s=f.number("device_s", 0.0, low=0.0),
            wall_s=f.number("wall_s", 0.0, low=0.0),
            actions=f.opt_integer("actions", low=0),
            infra_attempts=f.integer("infra_attempts", 0, low=0),
            extra=f.unknown(_USAGE_KEYS),
            on_device=_opt_on_device(f),
        )


def _opt_on_device(f: Fields) -> OnDeviceUsage | None:
    sub = f.opt_sub("on_device")
    return None if sub is None else OnDeviceUsage.from_json(sub)


_USAGE_KEYS = frozenset(
    {*_LLM_INTS, *_LLM_FLOATS, "llm_calls", "agent_s", "device_s", "wall_s", "actions",
     "infra_attempts", "on_device"}
)


# -- verdict --------------------------------------------------------------------------------
@dataclass(slots=True)
class EvidenceRecord:
    """What one primitive compared on one step (an entry of ``verdict.evidence``).

    Attributes:
        checkpoint: checkpoint index.
        primitive: primitive index within the checkpoint.
        type: primitive type.
        step: the step examined (``None``: none could be).
        passed: ``True`` / ``False``; ``None`` when not computed or not evaluated.
        score, threshold: the measured value and what it was compared with (may be NaN).
        expected, found: what the annotation asks for and what the trace showed (any JSON).
        detail: human-readable explanation.
    """

    checkpoint: int
    primitive: int
    type: str
    step: int | None = None
    passed: bool | None = None
    score: float | None = None
    threshold: float | None = None
    expected: Any = None
    found: Any = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {k.name: getattr(self, k.name) for k in fields(self)}

    @classmethod
    def from_json(cls, obj: object, source: str | Path, where: str) -> EvidenceRecord:
        f = Fields(obj, source, where)
        return cls(
            checkpoint=f.integer("checkpoint", low=0),
            primitive=f.integer("primitive", low=0),
            type=f.text("type"),
            step=f.opt_integer("step", low=0),
            passed=f.opt_flag("passed"),
            score=_opt_any_number(f, "score"),
            threshold=_opt_any_number(f, "threshold"),
            expected=f.obj.get("expected"),
            found=f.obj.get("found"),
            detail=f.text("detail", "", max_len=MAX_TEXT),
        )


def _opt_any_number(f: Fields, key: str) -> float | None:
    v = f.obj.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise f.error(key, "expected a number or null")
    return float(v)


@dataclass(slots=True)
class VerdictRecord:
    """The evaluator's verdict as a manifest keeps it (``manifest.verdict``).

    Attributes:
        status: ``success``, ``fail`` or ``error``.
        reason: one sentence explaining it.
        task_id, episode_id: what was scored.
        checkpoint_steps: per checkpoint, the step that satisfied it (``None``: none).
        evidence: per primitive, what was compared.
        problems: steps that could not be examined, with the reason.
        extra: any other keys the evaluator wrote, kept.
    """

    status: VerdictStatus
    reason: str = ""
    task_id: str = ""
    episode_id: str = ""
    checkpoint_steps: list[int | None] = field(default_factory=list)
    evidence: list[EvidenceRecord] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return self.status == VerdictStatus.SUCCESS

    def to_json(self) -> dict[str, Any]:
        return {**self.extra, "status": str(self.status), "reason": self.reason,
                "task_id": self.task_id, "episode_id": self.episode_id,
                "checkpoint_steps": list(self.checkpoint_steps),
                "evidence": [e.to_json() for e in self.evidence],
                "problems": list(self.problems)}

    @classmethod
    def from_json(cls, obj: object, source: str | Path = "<verdict>",
                  where: str = "verdict") -> VerdictRecord:
        f = Fields(obj, source, where)

        def step_or_none(v: object, name: str) -> int | None:
            if v is None:
                return None
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise SchemaError(source, name, "expected a step index (>= 0) or null")
            return v

        return cls(
            status=f.enum("status", VerdictStatus),
            reason=f.text("reason", "", max_len=MAX_TEXT),
            task_id=f.text("task_id", ""),
            episode_id=f.text("episode_id", ""),
            checkpoint_steps=f.array("checkpoint_steps", step_or_none),
            evidence=f.array("evidence", lambda v, n: EvidenceRecord.from_json(v, source, n)),
            problems=f.text_list("problems"),
            extra=f.unknown(_VERDICT_KEYS),
        )


_VERDICT_KEYS = frozenset({"status", "reason", "task_id", "episode_id", "checkpoint_steps",
                           "evidence", "problems"})


# -- actions --------------------------------------------------------------------------------
def action_to_json(action: Action | None) -> dict[str, Any] | None:
    return None if action is None else action.to_json()


def action_from_record(obj: object, source: str | Path = "<action>",
                       where: str = "action") -> Action | None:
    """Read a step's ``action`` (``null``: none)."""
    if obj is None:
        return None
    if isinstance(obj, Action):
        return obj
    try:
        return action_from_json(obj)
    except ActionError as exc:
        raise SchemaError(source, where, str(exc)) from exc


def act_result_to_json(result: ActResult | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {"ok": result.ok, "effect": str(result.effect), "detail": result.detail,
            "started_at": result.started_at, "finished_at": result.finished_at,
            "timings": dict(result.timings)}


def act_result_from_json(obj: object, source: str | Path = "<action_result>",
                         where: str = "action_result") -> ActResult | None:
    """Read a step's ``action_result`` (``null``: none)."""
    if obj is None:
        return None
    if isinstance(obj, ActResult):
        return obj
    f = Fields(obj, source, where)
    return ActResult(
        ok=f.flag("ok"),
        effect=f.enum("effect", Effect, Effect.UNKNOWN),
        detail=f.text("detail", "", max_len=MAX_TEXT),
        started_at=f.number("started_at", 0.0, low=0.0),
        finished_at=f.number("finished_at", 0.0, low=0.0),
        timings=f.number_map("timings"),
    )
