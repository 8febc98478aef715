"""Read a run folder defensively: whatever results and traces are there.

A run folder (``llamatouch eval --out`` or ``llamatouch score --out``) holds ``results.json``
(a list of row objects), ``results.csv`` and the episode trace folders. Each of them may be
missing or partial: rows come from ``results.json``, else ``results.csv``, else the trace
manifests; a row without a readable trace is still listed (with the reason), and a trace with
no row gets one built from its manifest.
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llamatouch.errors import InputFormatError, LlamaTouchError, PathEscapeError
from llamatouch.fsutil import safe_join
from llamatouch.trace.format import Trace, find_traces, read_trace

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

_NUMERIC = ("trial", "steps", "llm_calls", "prompt_tokens", "completion_tokens", "wall_s",
            "seconds", "seconds_per_step", "agent_s", "device_s", "llm_s")


@dataclass(slots=True)
class Episode:
    """One episode of the run.

    Attributes:
        row: the results row (normalised: numbers parsed, missing keys filled).
        trace: the episode's trace, ``None`` when it could not be read.
        trace_error: why the trace could not be read.
        verdict: the evaluator's verdict JSON (from the manifest, else the row), or ``None``.
    """

    row: dict[str, Any]
    trace: Trace | None = None
    trace_error: str = ""
    verdict: dict[str, Any] | None = None

    @property
    def episode_id(self) -> str:
        return str(self.row.get("episode_id", ""))

    @property
    def status(self) -> str:
        """The verdict status (``success``/``fail``/``error``/``unscored``...)."""
        v = self.row.get("verdict")
        if not v and self.verdict:
            v = self.verdict.get("status")
        return str(v or "unscored")


@dataclass(slots=True)
class RunData:
    """Everything the report shows.

    Attributes:
        root: the run folder.
        episodes: in results order.
        problems: files that could not be read (the report lists them).
        summary: ``summary.json`` when present.
    """

    root: Path
    episodes: list[Episode]
    problems: list[str] = field(default_factory=list)
    summary: dict[str, Any] | None = None


def _num(value: Any) -> Any:
    if isinstance(value, (int, float)) or value is None:
        return value
    try:
        f = float(str(value))
    except ValueError:
        return value
    return int(f) if f.is_integer() else f


def _normalise(row: dict[str, Any]) -> dict[str, Any]:
    """Rows of ``llamatouch eval`` (``episode_id``, ``task_id``, ``status`` = episode status,
    ``verdict``) and of ``llamatouch score`` (``episode``, ``task``, ``status`` = verdict,
    ``evaluator``) both become the eval form."""
    out = dict(row)
    for k in _NUMERIC:
        if k in out:
            out[k] = _num(out[k])
    if "episode_id" not in out and "episode" in out:
        out["episode_id"] = out["episode"]
    if "task_id" not in out and "task" in out:
        out["task_id"] = out["task"]
    if "evaluator" in out and not isinstance(out.get("verdict"), str):
        if isinstance(out.get("verdict"), dict):
            out["verdict_json"] = out["verdict"]
        out["verdict"] = out.get("status") or "unscored"
        out["status"] = ""
        out.pop("seconds", None)  # scoring time, not the episode's
    if isinstance(out.get("verdict"), dict):
        out["verdict_json"] = out["verdict"]
        out["verdict"] = out["verdict"].get("status") or "unscored"
    return out


def _read_rows(root: Path, problems: list[str]) -> list[dict[str, Any]] | None:
    jpath = root / "results.json"
    if jpath.is_file():
        try:
            data = json.loads(jpath.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                data = data.get("episodes") or data.get("results") or []
            if isinstance(data, list):
                return [_normalise(r) for r in data if isinstance(r, dict)]
            problems.append(f"{jpath}: not a list of rows")
        except (OSError, ValueError) as exc:
            problems.append(f"{jpath}: {exc}")
    cpath = root / "results.csv"
    if cpath.is_file():
        try:
            with cpath.open(newline="", encoding="utf-8") as fh:
                return [_normalise(r) for r in csv.DictReader(fh)]
        except (OSError, csv.Error, UnicodeDecodeError) as exc:
            problems.append(f"{cpath}: {exc}")
    return None


def _row_from_trace(trace: Trace, rel: str) -> dict[str, Any]:
    m = trace.manifest
    usage = m.usage or {}
    verdict = m.verdict or {}
    return {
        "episode_id": m.episode_id,
        "task_id": (m.task or {}).get("id", ""),
        "app": (m.task or {}).get("app", ""),
        "agent": (m.agent or {}).get("name", ""),
        "trial": 0,
        "status": m.status,
        "verdict": verdict.get("status", "unscored"),
        "steps": m.num_steps,
        "llm_calls": usage.get("llm_calls", 0),
        "wall_s": round(max(0.0, (m.finished_at or 0) - (m.started_at or 0)), 3),
        "reason": verdict.get("reason", ""),
        "trace_dir": rel,
    }


def load_run(run_dir: str | Path) -> RunData:
    """Read ``run_dir`` (see the module docstring). Never raises on a bad file inside it."""
    root = Path(run_dir).resolve()
    if not root.is_dir():
        raise InputFormatError(root, "not a folder (expected an eval or score run folder)")
    problems: list[str] = []
    rows = _read_rows(root, problems)
    traces: dict[str, Trace] = {}
    by_rel: dict[str, str] = {}
    for folder in find_traces(root):
        try:
            tr = read_trace(folder)
        except LlamaTouchError as exc:
            problems.append(str(exc))
            continue
        traces[tr.manifest.episode_id] = tr
        by_rel[folder.relative_to(root).as_posix()] = tr.manifest.episode_id
    if rows is None and not traces:
        raise InputFormatError(
            root, "no results.json, results.csv or readable trace: not a run folder"
            + ("".join(f"; {p}" for p in problems)))
    if rows is None:
        problems.append(f"{root}: no readable results.json or results.csv; "
                        "rows rebuilt from the trace manifests")
        rows = [_row_from_trace(t, t.root.relative_to(root).as_posix()) for t in traces.values()]
    episodes: list[Episode] = []
    seen: set[str] = set()
    for row in rows:
        ep = Episode(row=row)
        eid = ep.episode_id
        rel = str(row.get("trace_dir") or "")
        trace = traces.get(eid)
        if trace is None and rel:
            try:
                folder = safe_join(root, *rel.split("/"))
                trace = traces.get(by_rel.get(folder.relative_to(root).as_posix(), ""))
            except (PathEscapeError, ValueError) as exc:
                ep.trace_error = str(exc)
        if trace is None and not ep.trace_error:
            ep.trace_error = f"no readable trace for {eid!r}"
        ep.trace = trace
        seen.add(eid)
        if isinstance(row.get("verdict_json"), dict):
            ep.verdict = dict(row["verdict_json"])
        elif trace is not None and trace.manifest.verdict:
            ep.verdict = dict(trace.manifest.verdict)
        if trace is not None:
            m = trace.manifest
            row.setdefault("app", (m.task or {}).get("app", ""))
            row.setdefault("agent", (m.agent or {}).get("name", ""))
            if not row.get("status"):
                row["status"] = m.status
            if row.get("steps") in (None, ""):
                row["steps"] = m.num_steps
            if row.get("wall_s") in (None, "") and m.finished_at and m.started_at:
                row["wall_s"] = round(max(0.0, m.finished_at - m.started_at), 3)
        episodes.append(ep)
    for eid, tr in traces.items():
        if eid not in seen:
            rel = tr.root.relative_to(root).as_posix()
            episodes.append(Episode(row=_normalise(_row_from_trace(tr, rel)), trace=tr,
                                    verdict=dict(tr.manifest.verdict or {}) or None))
    summary = None
    spath = root / "summary.json"
    if spath.is_file():
        try:
            loaded = json.loads(spath.read_text(encoding="utf-8"))
            summary = loaded if isinstance(loaded, dict) else None
        except (OSError, ValueError) as exc:
            problems.append(f"{spath}: {exc}")
    return RunData(root=root, episodes=episodes, problems=problems, summary=summary)


def load_results(run_dir: str | Path) -> list[dict[str, Any]]:
    """The results rows of a run folder (eval or score), normalised to the eval form
    (``episode_id``, ``task_id``, ``app``, ``agent``, ``verdict``, ``steps``...).

    Rows come from ``results.json``, else ``results.csv``; traces are not read. Raises
    :class:`~llamatouch.errors.InputFormatError` naming the folder when neither is readable.
    """
    root = Path(run_dir).resolve()
    if not root.is_dir():
        raise InputFormatError(root, "not a folder (expected an eval or score run folder)")
    problems: list[str] = []
    rows = _read_rows(root, problems)
    if rows is None:
        raise InputFormatError(root, "no readable results.json or results.csv"
                               + "".join(f"; {p}" for p in problems))
    for row in rows:
        row.setdefault("agent", row.get("evaluator", ""))
        row.setdefault("app", "")
    return rows


def results_frame(run_dir: str | Path) -> pd.DataFrame:
    """:func:`load_results` as a pandas DataFrame, with a boolean ``success`` column and a
    ``run`` column (the folder's name)."""
    import pandas as pd

    frame = pd.DataFrame(load_results(run_dir))
    frame["success"] = frame["verdict"] == "success"
    frame["run"] = Path(run_dir).resolve().name
    return frame
