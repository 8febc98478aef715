"""``run.json``: the configuration a run was started with, and restoring it on ``--resume``.

A resumed run is the same run: its agent, suite, tasks, model and every setting that decides
what an episode does come from ``run.json``. An explicit argument that disagrees with the
recorded value is an error (:class:`ResumeConflict`); execution settings (devices, workers,
infrastructure retries) may change between invocations.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from llamatouch.device.spec import DeviceSpec
from llamatouch.errors import DeviceError, LlamaTouchError
from llamatouch.redact import redacted_repr

RUN_SCHEMA = "llamatouch.eval-run/1"


class RunError(LlamaTouchError):
    """The run cannot start (bad options, an output folder that would be overwritten...)."""


class ResumeConflict(RunError):
    """``--resume`` with an argument that disagrees with the run being resumed."""


@dataclass(frozen=True, slots=True)
class EvalConfig:
    """One ``llamatouch eval`` run.

    Attributes:
        agent: agent spec (name, entry point, or ``file.py:Class``).
        out: the run folder (``traces/``, ``results.csv``, ``results.json``, ``summary.json``).
        tasks: suite name (``demo``) or suite file.
        task_ids: run only these tasks (empty: all).
        devices: device specs (see :mod:`llamatouch.runner.devices`); empty: ``adb-virtual``.
        workers: parallel episodes, each in its own worker process with its own device; 0 = one
            per device spec. Must not be negative.
        model: LLM spec for agents that use one.
        base_url: OpenAI-compatible endpoint for ``openai:`` models.
        trials: trials per task (pass@k, pass^k, flip rate when > 1).
        max_steps: step limit per episode (``None``: each task's own ``max_steps``).
        resume: continue the run in ``out`` (finished episodes are kept, others restart clean).
        infra_retries: how many times an episode hit by an infrastructure failure (device, LLM
            service) or by a crash of its worker process is retried before it is reported as
            ``infra_error`` / ``crash``.
        seed: seed of the agents and virtual devices (agents also see the trial number in
            ``AgentTask.trial``).
        annotations: annotations folder (``""``: the suite's default).
        require_completion: the evaluator demands that the agent declared completion
            (``--require-completion``; ``run.json`` files written before called it
            ``require_finish`` and still resume, see :data:`RENAMED_SETTINGS`).
        allow_shared_screen: one screen may satisfy several consecutive checkpoints
            (``--allow-shared-screen``).
        skip_types: primitive types the evaluator ignores (``--skip``), sorted.
        agent_params: agent-specific settings (``--agent-param KEY=VALUE``).
        memory_dir: memory folder for agents that keep one (AutoDroid).
        record_packages: record installed packages at every step (for ``installed`` checks).
    """

    agent: str
    out: Path
    tasks: str = "demo"
    task_ids: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    workers: int = 0
    model: str = "embedded"
    base_url: str | None = None
    trials: int = 1
    max_steps: int | None = None
    resume: bool = False
    infra_retries: int = 2
    seed: int = 0
    annotations: str = ""
    require_completion: bool = False
    allow_shared_screen: bool = False
    skip_types: tuple[str, ...] = ()
    agent_params: dict[str, str] = field(default_factory=dict)
    memory_dir: str = ""
    record_packages: bool = True

    def __repr__(self) -> str:  # the endpoint's credentials masked
        return redacted_repr(self)


#: Settings that define what a run's episodes are: restored on ``--resume``, and an explicit
#: different value is a conflict.
RUN_DEFINING: tuple[str, ...] = (
    "agent",
    "tasks",
    "task_ids",
    "model",
    "base_url",
    "trials",
    "max_steps",
    "seed",
    "annotations",
    "require_completion",
    "allow_shared_screen",
    "skip_types",
    "agent_params",
    "memory_dir",
    "record_packages",
)

#: Settings restored on ``--resume`` when not given, that may change between invocations.
EXECUTION: tuple[str, ...] = ("devices", "workers", "infra_retries")


def check_config(config: EvalConfig) -> None:
    """Refuse settings no run can use (one clear message each)."""
    if config.workers < 0:
        raise RunError(f"--workers must be at least 1 (got {config.workers})")
    if config.trials < 1:
        raise RunError(f"--trials must be at least 1 (got {config.trials})")
    if config.max_steps is not None and config.max_steps < 1:
        raise RunError(f"--max-steps must be at least 1 (got {config.max_steps})")
    if config.infra_retries < 0:
        raise RunError(f"--infra-retries must be at least 0 (got {config.infra_retries})")
    for text in config.devices:
        try:
            DeviceSpec.parse(text)
        except DeviceError as exc:
            raise RunError(f"--device: {exc}") from None
    _check_on_device(config)


def _check_on_device(config: EvalConfig) -> None:
    """``--model device:PORT`` needs a port and devices reached through adb that can host a
    model server (a phone, or ``llamatouch emulator serve --llm-server``)."""
    from llamatouch.errors import LLMError
    from llamatouch.llm.on_device import device_port

    try:
        port = device_port(config.model)
    except LLMError as exc:
        raise RunError(f"--model: {exc}") from None
    if port is None:
        return
    virtual = [d for d in config.devices if DeviceSpec.parse(d).is_virtual]
    if not config.devices or virtual:
        raise RunError(
            f"--model {config.model} runs the model on the device: name the device with "
            "--device SERIAL (a phone running llama-server, or a virtual device started with "
            "'llamatouch emulator serve --llm-server'); "
            + (f"{virtual[0]!r} cannot host a model server" if virtual else "none was given")
        )


def write_run_json(out: Path, config: EvalConfig, extra: dict[str, Any]) -> None:
    """Write ``out/run.json``: the configuration (``config``) and ``extra`` facts."""
    from llamatouch.fsutil import atomic_write_json
    from llamatouch.redact import redact_url, redact_value

    cfg = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()}
    if cfg.get("base_url"):
        cfg["base_url"] = redact_url(str(cfg["base_url"]))  # never its credentials
    doc = {"schema": RUN_SCHEMA, "config": cfg, **extra, "updated_at": time.time()}
    atomic_write_json(out / "run.json", redact_value(doc))  # nor any known secret


def recorded_config(out: Path) -> dict[str, Any]:
    """The ``config`` object of ``out/run.json`` (a :class:`RunError` when there is none)."""
    path = out / "run.json"
    if not path.is_file():
        what = "holds no run" if not (out / "traces").is_dir() else "has no run.json"
        raise RunError(f"--resume: {out} {what}: nothing to resume")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunError(f"--resume: {path}: unreadable: {exc}") from exc
    if not isinstance(data, dict) or data.get("schema") != RUN_SCHEMA:
        raise RunError(f"--resume: {path}: not a {RUN_SCHEMA} file")
    cfg = data.get("config")
    if not isinstance(cfg, dict):
        raise RunError(f"--resume: {path}: field 'config' missing or not an object")
    return cfg


#: The JSON type each restorable setting must have in ``run.json`` (``None`` allowed where the
#: setting is optional).
_STR = ("agent", "tasks", "model", "annotations", "memory_dir")
_INT = ("workers", "trials", "infra_retries", "seed")
_BOOL = ("require_completion", "allow_shared_screen", "record_packages")

#: Settings ``run.json`` recorded under an earlier name: earlier name -> current name.
RENAMED_SETTINGS: dict[str, str] = {"require_finish": "require_completion"}


def _current_names(recorded: dict[str, Any]) -> dict[str, Any]:
    """``recorded`` with every earlier setting name (:data:`RENAMED_SETTINGS`) under its
    current one (a current name already there wins)."""
    out = dict(recorded)
    for old, new in RENAMED_SETTINGS.items():
        if old in out:
            value = out.pop(old)
            out.setdefault(new, value)
    return out


def _check_recorded(path: Path, name: str, value: Any) -> None:
    """Refuse a ``run.json`` setting of the wrong type (a hand-edited or corrupt file)."""
    ok = True
    if name in _STR:
        ok = isinstance(value, str)
    elif name == "base_url":
        ok = value is None or isinstance(value, str)
    elif name in _INT:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif name == "max_steps":
        ok = value is None or (isinstance(value, int) and not isinstance(value, bool))
    elif name in _BOOL:
        ok = isinstance(value, bool)
    elif name in ("task_ids", "devices", "skip_types"):
        ok = isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
    elif name == "agent_params":
        ok = isinstance(value, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        )
    if not ok:
        raise RunError(
            f"--resume: {path}: field 'config.{name}': {value!r} is not a valid value "
            "(the file was edited or is damaged)"
        )


def _normalise(name: str, value: Any) -> Any:
    """A setting as stored in ``run.json``, in the type :class:`EvalConfig` uses."""
    if name in ("task_ids", "devices", "skip_types"):
        return tuple(str(v) for v in value or ())
    if name == "agent_params":
        return {str(k): str(v) for k, v in (value or {}).items()}
    return value


def resume_config(out: Path, explicit: dict[str, Any]) -> EvalConfig:
    """The configuration to resume the run in ``out`` with.

    Args:
        out: the run folder.
        explicit: the settings the user gave explicitly (``EvalConfig`` field names).

    Raises:
        ResumeConflict: an explicit run-defining setting disagrees with the recorded one.
        RunError: there is no run to resume in ``out``.
    """
    recorded = _current_names(recorded_config(out))
    known = {f.name for f in fields(EvalConfig)}
    base = EvalConfig(agent=str(recorded.get("agent", "")), out=out, resume=True)
    restored: dict[str, Any] = {}
    for name in (*RUN_DEFINING, *EXECUTION):
        if name in recorded and name in known:
            _check_recorded(out / "run.json", name, recorded[name])
            restored[name] = _normalise(name, recorded[name])
    for name, value in explicit.items():
        if name not in known or name in ("out", "resume"):
            continue
        value = _normalise(name, value)
        if name == "base_url" and _same_url(restored.get(name), value):
            restored[name] = value  # the real URL behind a redacted record
            continue
        if name in RUN_DEFINING and name in restored and restored[name] != value:
            raise ResumeConflict(
                f"--resume: {out} was run with {name}={restored[name]!r}; it cannot be "
                f"resumed with {name}={value!r} (leave the argument out, or use a new --out)"
            )
        restored[name] = value
    if not restored.get("agent"):
        raise RunError(f"--resume: {out / 'run.json'}: no agent recorded")
    url = restored.get("base_url")
    if isinstance(url, str) and REDACTED in url:
        raise RunError(
            f"--resume: {out} was run with a --base-url holding credentials, recorded redacted "
            f"({url}): pass the same --base-url again"
        )
    return replace(base, **restored)


#: What redacted credentials look like in ``run.json`` (see :mod:`llamatouch.redact`).
REDACTED = "***"


def _same_url(recorded: object, given: object) -> bool:
    """``given`` is the URL recorded (redacted) as ``recorded``."""
    if not isinstance(recorded, str) or not isinstance(given, str) or REDACTED not in recorded:
        return False
    try:
        from llamatouch.redact import redact_url
    except ImportError:  # pragma: no cover - redaction not available
        return False
    return bool(redact_url(given) == recorded)
