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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llamatouch.errors import InputFormatError, LlamaTouchError, PathEscapeError
from llamatouch.fsutil import safe_join
from llamatouch.report.rows import ScoreRow, is_score_row, result_row, score_row
from llamatouch.runner.results import EpisodeResult, result_from_manifest, result_from_score
from llamatouch.trace.fields import Fields
from llamatouch.trace.format import Trace, TraceManifest, find_traces, read_trace
from llamatouch.trace.records import VerdictRecord

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

#: Largest results file read (bytes): a bound against a runaway file.
MAX_RESULTS_BYTES = 256 * 1024 * 1024


@dataclass(slots=True)
class Episode:
    """One episode of the run.

    Attributes:
        row: the result row (built from the trace manifest when the run has no row for it).
        trace: the episode's trace, ``None`` when it could not be read.
        trace_error: why the trace could not be read.
        verdict: the evaluator's verdict (from the score row, else the manifest), or ``None``.
        evaluator: the evaluator of a ``score`` run (``""`` for ``eval`` runs).
        oracle: the agent was handed the ground truth (an oracle run, e.g. ``replay``).
    """

    row: EpisodeResult
    trace: Trace | None = None
    trace_error: str = ""
    verdict: VerdictRecord | None = None
    evaluator: str = ""
    oracle: bool = False

    @property
    def episode_id(self) -> str:
        return self.row.episode_id

    @property
    def status(self) -> str:
        """The verdict status (``success``/``fail``/``error``/``unscored``/``not_run``)."""
        return str(self.row.verdict or "unscored")


@dataclass(slots=True)
class RunData:
    """Everything the report shows.

    Attributes:
        root: the run folder.
        episodes: in results order.
        problems: files that could not be read (the report lists them).
        summary: ``summary.json`` when present.
        oracle: the run (``run.json``) or one of its episodes is an oracle run.
    """

    root: Path
    episodes: list[Episode]
    problems: list[str] = field(default_factory=list)
    summary: dict[str, Any] | None = None
    oracle: bool = False


@dataclass(slots=True)
class _Rows:
    results: list[EpisodeResult] = field(default_factory=list)
    scores: list[ScoreRow] = field(default_factory=list)


def _read_limited(path: Path) -> bytes:
    size = path.stat().st_size
    if size > MAX_RESULTS_BYTES:
        raise InputFormatError(path, f"{size} bytes (limit {MAX_RESULTS_BYTES})")
    return path.read_bytes()


def _rows_of(items: list[Any], source: Path, problems: list[str], *, text: bool) -> _Rows:
    out = _Rows()
    for i, obj in enumerate(items):
        where = f"[{i}]" if not text else f"row {i + 2}"
        try:
            if isinstance(obj, dict) and is_score_row(obj):
                out.scores.append(score_row(obj, source, where, text=text))
            else:
                out.results.append(result_row(obj, source, where, text=text))
        except LlamaTouchError as exc:
            problems.append(str(exc))
    return out


def _read_rows(root: Path, problems: list[str]) -> _Rows | None:
    jpath = root / "results.json"
    if jpath.is_file():
        try:
            data = json.loads(_read_limited(jpath))
            if isinstance(data, dict):
                data = data.get("episodes") or data.get("results")
            if isinstance(data, list):
                return _rows_of(data, jpath, problems, text=False)
            problems.append(f"{jpath}: not a list of rows")
        except (OSError, ValueError, RecursionError, LlamaTouchError) as exc:
            problems.append(f"{jpath}: {exc}")
    cpath = root / "results.csv"
    if cpath.is_file():
        try:
            text = _read_limited(cpath).decode("utf-8")
            return _rows_of(list(csv.DictReader(text.splitlines())), cpath, problems,
                            text=True)
        except (OSError, csv.Error, UnicodeDecodeError, LlamaTouchError) as exc:
            problems.append(f"{cpath}: {exc}")
    return None


def _read_run_json(root: Path, problems: list[str]) -> bool:
    """The ``oracle`` flag of ``run.json`` (top level or in its ``config``)."""
    path = root / "run.json"
    if not path.is_file():
        return False
    try:
        f = Fields(json.loads(_read_limited(path)), path)
        config = f.sub("config")
        return bool(f.flag("oracle", False) or config.flag("oracle", False))
    except (OSError, ValueError, RecursionError, LlamaTouchError) as exc:
        problems.append(f"{path}: {exc}" if str(path) not in str(exc) else str(exc))
        return False


def _oracle_of(manifest: TraceManifest | None) -> bool:
    return manifest is not None and manifest.agent.get("oracle") is True


def _score_to_result(row: ScoreRow, trace: Trace | None, rel: str) -> EpisodeResult:
    """A ``score`` row as a result row: from its trace's manifest when there is one, with the
    score's verdict (the one builder, :func:`result_from_manifest`)."""
    manifest = trace.manifest if trace is not None else TraceManifest(episode_id=row.episode_id)
    base = result_from_score(manifest, rel, evaluator=row.evaluator, verdict=str(row.verdict),
                             reason=row.reason)
    if trace is None:
        base.task_id, base.app, base.steps, base.status = row.task_id, row.app, row.steps, ""
    base.task_id = row.task_id or base.task_id
    base.app = base.app or row.app
    return base


def load_run(run_dir: str | Path) -> RunData:
    """Read ``run_dir`` (see the module docstring). Never raises on a bad file inside it."""
    root = Path(run_dir).resolve()
    if not root.is_dir():
        raise InputFormatError(root, "not a folder (expected an eval or score run folder)")
    problems: list[str] = []
    rows = _read_rows(root, problems)
    run_oracle = _read_run_json(root, problems)
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
        rows = _Rows()
    episodes: list[Episode] = []
    seen: set[str] = set()

    def find(eid: str, rel: str, ep: Episode) -> Trace | None:
        trace = traces.get(eid)
        if trace is None and rel:
            try:
                folder = safe_join(root, *rel.split("/"))
                trace = traces.get(by_rel.get(folder.relative_to(root).as_posix(), ""))
            except (PathEscapeError, ValueError) as exc:
                ep.trace_error = str(exc)
        if trace is None and not ep.trace_error:
            ep.trace_error = f"no readable trace for {eid!r}"
        return trace

    for row in rows.results:
        ep = Episode(row=row, evaluator=row.evaluator)
        ep.trace = find(row.episode_id, row.trace_dir, ep)
        if ep.trace is not None and not row.evaluator:  # a score run's verdict is its row's
            ep.verdict = ep.trace.manifest.verdict
        seen.add(row.episode_id)
        episodes.append(ep)
    for srow in rows.scores:
        ep = Episode(row=result_from_manifest(TraceManifest(episode_id=srow.episode_id), ""),
                     evaluator=srow.evaluator)
        trace = find(srow.episode_id, _relative(root, srow.path), ep)
        rel = trace.root.relative_to(root).as_posix() if trace is not None else ""
        ep.row, ep.trace = _score_to_result(srow, trace, rel), trace
        if srow.verdict_json is not None:
            try:
                ep.verdict = VerdictRecord.from_json(srow.verdict_json, root / "results.json",
                                                     f"{srow.episode_id}.verdict")
            except LlamaTouchError as exc:
                problems.append(str(exc))
        seen.add(srow.episode_id)
        episodes.append(ep)
    for eid, tr in traces.items():
        if eid not in seen:
            rel = tr.root.relative_to(root).as_posix()
            episodes.append(Episode(row=result_from_manifest(tr.manifest, rel), trace=tr,
                                    verdict=tr.manifest.verdict))
    for ep in episodes:
        ep.oracle = bool(getattr(ep.row, "oracle", False)) or _oracle_of(
            ep.trace.manifest if ep.trace else None)
    summary = None
    spath = root / "summary.json"
    if spath.is_file():
        try:
            loaded = json.loads(_read_limited(spath))
            summary = loaded if isinstance(loaded, dict) else None
            if summary is None:
                problems.append(f"{spath}: not an object")
        except (OSError, ValueError, RecursionError, LlamaTouchError) as exc:
            problems.append(f"{spath}: {exc}")
    return RunData(root=root, episodes=episodes, problems=problems, summary=summary,
                   oracle=run_oracle or any(ep.oracle for ep in episodes))


def _relative(root: Path, path: str) -> str:
    """A score row's trace path, relative to the run folder when it lies inside it."""
    if not path:
        return ""
    p = Path(path)
    if not p.is_absolute():
        return p.as_posix()
    try:
        return p.resolve().relative_to(root).as_posix()
    except ValueError:
        return ""


def load_results(run_dir: str | Path) -> list[EpisodeResult]:
    """The result rows of a run folder (eval or score), as :class:`EpisodeResult`.

    ``eval`` rows come from ``results.json``, else ``results.csv``, every field checked; a
    ``score`` run's rows are built from its traces' manifests with the score's verdict (the
    same columns). Traces with no row get one from their manifest. Raises
    :class:`~llamatouch.errors.InputFormatError` naming the folder when the run has neither
    rows nor traces.
    """
    return [ep.row for ep in load_run(run_dir).episodes]


def results_frame(run_dir: str | Path) -> pd.DataFrame:
    """:func:`load_results` as a pandas DataFrame, with a boolean ``success`` column and a
    ``run`` column (the folder's name)."""
    import pandas as pd

    rows = load_run(run_dir).episodes
    frame = pd.DataFrame([asdict(ep.row) | {"evaluator": ep.evaluator} for ep in rows])
    frame["success"] = frame["verdict"] == "success"
    frame["run"] = Path(run_dir).resolve().name
    return frame
