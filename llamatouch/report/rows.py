"""Result rows read back from ``results.json`` / ``results.csv``, every field checked.

A row becomes the one row type, :class:`~llamatouch.runner.results.EpisodeResult`. Rows of
``llamatouch eval`` are read field by field (a CSV cell is text and is parsed by the field's
type); rows of ``llamatouch score`` (``episode``, ``task``, ``status`` = verdict,
``evaluator``) are kept as :class:`ScoreRow` and turned into result rows from their trace's
manifest (:func:`~llamatouch.runner.results.result_from_manifest`), so both kinds of run give
the same columns.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

from llamatouch.errors import SchemaError
from llamatouch.runner.results import EpisodeResult
from llamatouch.trace.fields import Fields, type_name
from llamatouch.trace.records import EpisodeStatus, FailureKind, VerdictStatus

#: Row fields whose value is one of a closed set of strings.
_ENUMS: dict[str, type[EpisodeStatus] | type[VerdictStatus] | type[FailureKind]] = {
    "status": EpisodeStatus,
    "verdict": VerdictStatus,
    "failure_kind": FailureKind,
}
#: Row fields that are counts (non-negative integers) or durations (non-negative seconds).
_NON_NEGATIVE = frozenset(
    {"trial", "steps", "llm_calls", "prompt_tokens", "completion_tokens",
     "cached_prompt_tokens", "saved_llm_calls", "prefill_s", "decode_s", "llm_s", "agent_s",
     "device_s", "wall_s", "seconds_per_step", "infra_attempts"}
)
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no", ""})


@dataclass(slots=True)
class ScoreRow:
    """A row of ``llamatouch score --format json|csv``.

    Attributes:
        episode_id: the scored trace's episode id.
        task_id, app: what it attempted.
        evaluator: ``essential``, ``exact`` or ``lcs``.
        verdict: ``success``, ``fail`` or ``error``.
        reason: why.
        steps: steps in the trace.
        path: the trace folder as the scorer saw it.
        verdict_json: the full verdict (JSON rows only), else ``None``.
    """

    episode_id: str
    task_id: str
    app: str
    evaluator: str
    verdict: VerdictStatus
    reason: str
    steps: int
    path: str
    verdict_json: dict[str, Any] | None = None


def is_score_row(obj: dict[str, Any]) -> bool:
    """Whether a row object is a ``score`` row rather than an ``eval`` one."""
    return "evaluator" in obj and "episode_id" not in obj


def score_row(obj: object, source: str | Path, where: str, *, text: bool = False) -> ScoreRow:
    """Read a ``score`` row (``text``: the values are CSV cells)."""
    f = Fields(obj, source, where)
    steps_raw = f.obj.get("steps", 0)
    if text:
        steps_raw = _int_text(f, "steps", steps_raw)
    f.obj = {**f.obj, "steps": steps_raw}
    verdict = f.obj.get("verdict")
    if verdict is not None and not isinstance(verdict, dict):
        raise f.error("verdict", f"expected an object, got {type_name(verdict)}")
    return ScoreRow(
        episode_id=f.text("episode"),
        task_id=f.text("task", ""),
        app=f.text("app", ""),
        evaluator=f.text("evaluator"),
        verdict=f.enum("status", VerdictStatus),
        reason=f.text("reason", ""),
        steps=f.integer("steps", 0, low=0),
        path=f.text("path", ""),
        verdict_json=verdict,
    )


def result_row(obj: object, source: str | Path, where: str, *, text: bool = False) -> EpisodeResult:
    """Read an ``eval`` row into an :class:`EpisodeResult`, checking every field's type and
    range (``text``: the values are CSV cells, parsed by the field's type).

    A field missing from the row takes the field's default, or an empty value of its type
    (rows written before a column was added still read); ``episode_id`` is required.
    """
    f = Fields(obj, source, where)
    values: dict[str, Any] = {}
    for fd in fields(EpisodeResult):
        name, kind = fd.name, str(fd.type)
        if name not in f.obj:
            if name == "episode_id":
                raise f.error(name, "missing")
            if fd.default is not MISSING:
                values[name] = fd.default
            elif fd.default_factory is not MISSING:
                values[name] = fd.default_factory()
            else:
                values[name] = _EMPTY.get(kind, "")
            continue
        raw = f.obj[name]
        if kind == "bool":
            values[name] = _bool_text(f, name, raw) if text else f.flag(name)
        elif kind == "int":
            if text:
                f.obj[name] = _int_text(f, name, raw)
            values[name] = f.integer(name, low=0 if name in _NON_NEGATIVE else None)
        elif kind == "float":
            if text:
                f.obj[name] = _float_text(f, name, raw)
            values[name] = f.number(name, low=0.0 if name in _NON_NEGATIVE else None)
        elif name in _ENUMS:
            values[name] = str(f.enum(name, _ENUMS[name]))
        else:
            values[name] = f.text(name)
    return EpisodeResult(**values)


_EMPTY: dict[str, Any] = {"bool": False, "int": 0, "float": 0.0, "str": ""}


def _int_text(f: Fields, key: str, raw: object) -> object:
    if not isinstance(raw, str):
        return raw
    try:
        return int(raw.strip() or "0")
    except ValueError:
        try:
            v = float(raw)
        except ValueError:
            raise f.error(key, f"expected an integer, got {raw[:40]!r}") from None
        if math.isfinite(v) and v.is_integer():
            return int(v)
        raise f.error(key, f"expected an integer, got {raw[:40]!r}") from None


def _float_text(f: Fields, key: str, raw: object) -> object:
    if not isinstance(raw, str):
        return raw
    try:
        return float(raw.strip() or "0")
    except ValueError:
        raise f.error(key, f"expected a number, got {raw[:40]!r}") from None


def _bool_text(f: Fields, key: str, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in _TRUE:
        return True
    if isinstance(raw, str) and raw.strip().lower() in _FALSE:
        return False
    raise SchemaError(f.source, f.name(key), f"expected true or false, got {raw!r}")
