"""Agreement of an evaluator with human labels.

Labels come from a CSV with the columns ``episode,human`` (``1`` = the task was completed,
``0`` = not), optionally ``note``. Results whose status is ``error`` are left out of the
metrics and counted apart.

Metrics: accuracy, precision, recall, F1 and Cohen's kappa. Intervals (95%):

- accuracy, precision and recall are proportions: Wilson score intervals;
- F1 and kappa are not proportions: percentile intervals from 2000 bootstrap resamples of the
  episodes (fixed seed, so the figures are reproducible).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llamatouch.errors import InputFormatError
from llamatouch.evaluator.scoring import ScoreResult

Z95 = 1.959963984540054


@dataclass(slots=True)
class Label:
    episode: str
    human: bool
    note: str = ""


def load_labels(path: str | Path) -> dict[str, Label]:
    """Read ``episode,human[,note]``; a malformed row is an :class:`InputFormatError`."""
    p = Path(path)
    try:
        fh = p.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise InputFormatError(p, f"cannot read: {exc.strerror or exc}") from exc
    try:
        with fh:
            return _read_labels(p, fh)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputFormatError(p, f"not a UTF-8 CSV file: {exc}") from exc


def _read_labels(p: Path, fh: Any) -> dict[str, Label]:
    out: dict[str, Label] = {}
    reader = csv.DictReader(fh)
    if reader.fieldnames is None or not {"episode", "human"} <= set(reader.fieldnames):
        raise InputFormatError(p, "expected a header with the columns episode,human")
    for i, row in enumerate(reader, start=2):
        ep = (row.get("episode") or "").strip()
        hv = (row.get("human") or "").strip()
        if not ep or hv not in ("0", "1"):
            raise InputFormatError(p, f"line {i}: expected episode,human with human 0/1")
        if ep in out:
            raise InputFormatError(p, f"line {i}: episode {ep!r} labelled twice")
        out[ep] = Label(ep, hv == "1", (row.get("note") or "").strip())
    return out


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion (``(nan, nan)`` when ``n == 0``)."""
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(slots=True)
class Confusion:
    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.tn + self.fn

    def add(self, predicted: bool, human: bool) -> None:
        if predicted and human:
            self.tp += 1
        elif predicted:
            self.fp += 1
        elif human:
            self.fn += 1
        else:
            self.tn += 1


def _div(a: float, b: float) -> float:
    return a / b if b else math.nan


def f1_of(c: Confusion) -> float:
    return _div(2 * c.tp, 2 * c.tp + c.fp + c.fn)


def kappa_of(c: Confusion) -> float:
    n = c.n
    if n == 0:
        return math.nan
    po = (c.tp + c.tn) / n
    pe = ((c.tp + c.fp) * (c.tp + c.fn) + (c.tn + c.fn) * (c.tn + c.fp)) / (n * n)
    if pe == 1.0:
        return 1.0 if po == 1.0 else math.nan
    return (po - pe) / (1 - pe)


def _bootstrap(
    pairs: list[tuple[bool, bool]], seed: int = 7, rounds: int = 2000
) -> dict[str, tuple[float, float]]:
    import numpy as np

    if not pairs:
        return {"f1": (math.nan, math.nan), "kappa": (math.nan, math.nan)}
    rng = np.random.default_rng(seed)
    pred = np.array([p for p, _ in pairs], dtype=bool)
    hum = np.array([h for _, h in pairs], dtype=bool)
    n = len(pairs)
    idx = rng.integers(0, n, size=(rounds, n))
    p, h = pred[idx], hum[idx]
    tp = (p & h).sum(1).astype(float)
    fp = (p & ~h).sum(1).astype(float)
    fn = (~p & h).sum(1).astype(float)
    tn = (~p & ~h).sum(1).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = 2 * tp / (2 * tp + fp + fn)
        po = (tp + tn) / n
        pe = ((tp + fp) * (tp + fn) + (tn + fn) * (tn + fp)) / (n * n)
        kappa = np.where(pe < 1.0, (po - pe) / (1 - pe), 1.0)

    def pct(a: Any) -> tuple[float, float]:
        a = a[~np.isnan(a)]
        if a.size == 0:
            return (math.nan, math.nan)
        return (float(np.percentile(a, 2.5)), float(np.percentile(a, 97.5)))

    return {"f1": pct(f1), "kappa": pct(kappa)}


@dataclass(slots=True)
class Metrics:
    """Agreement figures over ``n`` labelled, non-error episodes."""

    n: int
    confusion: Confusion
    accuracy: float
    precision: float
    recall: float
    f1: float
    kappa: float
    intervals: dict[str, tuple[float, float]]

    def to_json(self) -> dict[str, Any]:
        c = self.confusion
        return {
            "n": self.n,
            "tp": c.tp,
            "fp": c.fp,
            "tn": c.tn,
            "fn": c.fn,
            "accuracy": self.accuracy,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "kappa": self.kappa,
            "ci95": {k: list(v) for k, v in self.intervals.items()},
        }


def metrics(pairs: list[tuple[bool, bool]]) -> Metrics:
    """Metrics of ``(predicted, human)`` pairs."""
    c = Confusion()
    for p, h in pairs:
        c.add(p, h)
    boot = _bootstrap(pairs)
    intervals = {
        "accuracy": wilson(c.tp + c.tn, c.n),
        "precision": wilson(c.tp, c.tp + c.fp),
        "recall": wilson(c.tp, c.tp + c.fn),
        "f1": boot["f1"],
        "kappa": boot["kappa"],
    }
    return Metrics(
        n=c.n,
        confusion=c,
        accuracy=_div(c.tp + c.tn, c.n),
        precision=_div(c.tp, c.tp + c.fp),
        recall=_div(c.tp, c.tp + c.fn),
        f1=f1_of(c),
        kappa=kappa_of(c),
        intervals=intervals,
    )


@dataclass(slots=True)
class Disagreement:
    episode: str
    task: str
    app: str
    human: bool
    status: str
    reason: str
    note: str
    evidence: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "episode": self.episode,
            "task": self.task,
            "app": self.app,
            "human": int(self.human),
            "evaluator": self.status,
            "reason": self.reason,
            "label_note": self.note,
            "evidence": self.evidence,
        }


@dataclass(slots=True)
class Agreement:
    """Agreement report: overall, by app, by primitive type, and every disagreement."""

    overall: Metrics
    by_app: dict[str, Metrics]
    by_primitive: dict[str, Metrics]
    disagreements: list[Disagreement]
    errors: int
    unlabelled: int
    missing: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "overall": self.overall.to_json(),
            "by_app": {k: v.to_json() for k, v in self.by_app.items()},
            "by_primitive": {k: v.to_json() for k, v in self.by_primitive.items()},
            "disagreements": [d.to_json() for d in self.disagreements],
            "errors": self.errors,
            "unlabelled": self.unlabelled,
            "missing": self.missing,
        }


def agreement(results: Iterable[ScoreResult], labels: dict[str, Label]) -> Agreement:
    """Compare scored results with human labels (matched by episode id)."""
    pairs: list[tuple[bool, bool]] = []
    by_app: dict[str, list[tuple[bool, bool]]] = {}
    by_prim: dict[str, list[tuple[bool, bool]]] = {}
    dis: list[Disagreement] = []
    errors = unlabelled = 0
    seen: set[str] = set()
    for r in results:
        lab = labels.get(r.episode_id)
        if lab is None:
            unlabelled += 1
            continue
        seen.add(r.episode_id)
        if r.status == "error":
            errors += 1
            continue
        pred = r.status == "success"
        pair = (pred, lab.human)
        pairs.append(pair)
        by_app.setdefault(r.app or "?", []).append(pair)
        for t in r.primitive_types:
            by_prim.setdefault(t, []).append(pair)
        if pred != lab.human:
            ev = [] if r.verdict is None else [e.to_json() for e in r.verdict.evidence]
            dis.append(
                Disagreement(
                    r.episode_id, r.task_id, r.app, lab.human, r.status, r.reason, lab.note, ev
                )
            )
    return Agreement(
        overall=metrics(pairs),
        by_app={k: metrics(v) for k, v in sorted(by_app.items())},
        by_primitive={k: metrics(v) for k, v in sorted(by_prim.items())},
        disagreements=dis,
        errors=errors,
        unlabelled=unlabelled,
        missing=sorted(set(labels) - seen),
    )
