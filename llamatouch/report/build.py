"""Turn a run folder into one static HTML page (Jinja2), with images embedded or beside it."""

from __future__ import annotations

import base64
import io
import logging
import math
import os
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from llamatouch.errors import LlamaTouchError
from llamatouch.fsutil import atomic_write_bytes, atomic_write_text
from llamatouch.report.charts import StackedRow, colour, column_bars, stacked_bars
from llamatouch.report.data import Episode, RunData, load_run
from llamatouch.trace.format import TraceStep
from llamatouch.trace.records import action_to_json
from llamatouch.trace.views import describe_action, step_png, step_screen, step_view
from llamatouch.ui.image import decode_image

log = logging.getLogger(__name__)

_HERE = Path(__file__).resolve().parent
VERDICT_ORDER = ("success", "fail", "error", "unscored", "not_run")


@dataclass(frozen=True, slots=True)
class ReportConfig:
    """How the report is written.

    Attributes:
        out: the HTML file to write.
        embed_images: ``True``: screenshots inside the HTML as base64 (one file to share);
            ``False``: written to ``<out stem>_files/`` beside it, linked relatively.
        thumb_width: width in pixels of the screenshots in the report.
        max_steps: most steps shown per episode (the rest are summarised), to keep big runs
            readable; 0 = all.
    """

    out: Path
    embed_images: bool = True
    thumb_width: int = 270
    max_steps: int = 0


_GENERIC_TAILS = frozenset({"pro", "free", "lite", "debug", "app", "android", "mobile"})


def app_label(package: str) -> str:
    """A short name for an app package: its last segment, or the last two when the last is a
    generic suffix (``com.simplemobiletools.gallery.pro`` → ``gallery.pro``)."""
    parts = [p for p in str(package or "?").split(".") if p]
    if not parts:
        return "?"
    if len(parts) > 1 and parts[-1].lower() in _GENERIC_TAILS:
        return ".".join(parts[-2:])
    return parts[-1]


def _anchor(episode_id: str) -> str:
    return "ep-" + re.sub(r"[^A-Za-z0-9_-]", "_", episode_id)


class _Images:
    """Encodes step images as thumbnails, inline (data URI) or as files beside the report."""

    def __init__(self, cfg: ReportConfig) -> None:
        self.cfg = cfg
        self.files_dir = cfg.out.parent / f"{cfg.out.stem}_files"
        self.count = 0

    def url(self, png: bytes, name: str, source: str | Path = "") -> str:
        """The image's URL (data URI or relative path); raises ImageFormatError on bad bytes."""
        from PIL import Image

        with decode_image(png, source or name) as src:  # safe: size checked before decoding
            img: Image.Image = src.convert("RGB")
        if img.width > self.cfg.thumb_width:
            h = round(img.height * self.cfg.thumb_width / img.width)
            img = img.resize((self.cfg.thumb_width, h), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=82, optimize=True)
        data = buf.getvalue()
        self.count += 1
        if self.cfg.embed_images:
            return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
        atomic_write_bytes(self.files_dir / f"{name}.jpg", data)
        return f"{self.files_dir.name}/{name}.jpg"


def _wireframe(view: dict[str, Any]) -> str:
    w, h = view["width"] or 1080, view["height"] or 1920
    parts = []
    for c in sorted(view["components"], key=lambda c: c["depth"]):
        left, top, right, bottom = c["bounds"]
        parts.append(f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" '
                     f'class="wire"/>')
        label = c["text"] or c["content_desc"]
        if label and bottom - top > 30:
            fs = max(22, min(40, (bottom - top) * 0.45))
            n = max(4, (right - left) // 22)
            text = label if len(label) <= n else label[: n - 1] + "…"
            parts.append(f'<text x="{left + 14}" y="{top + min(bottom - top, 60) * 0.72:.0f}" '
                         f'font-size="{fs:.0f}" class="wire-text">{escape(text)}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="shot" viewBox="0 0 {w} {h}" '
            f'preserveAspectRatio="none">{"".join(parts)}</svg>')


def _overlay(view: dict[str, Any]) -> str:
    o = view.get("overlay")
    w, h = view["width"] or 1080, view["height"] or 1920
    if not o:
        return ""
    parts: list[str] = []
    if o.get("box"):
        left, top, right, bottom = o["box"]
        parts.append(f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" '
                     f'class="ov-box"/>')
    if o.get("shape") == "point":
        r = max(28, w * 0.035)
        parts.append(f'<circle cx="{o["x"]}" cy="{o["y"]}" r="{r:.0f}" class="ov-dot"/>'
                     f'<circle cx="{o["x"]}" cy="{o["y"]}" r="8" class="ov-head"/>')
    elif o.get("shape") == "arrow":
        x1, y1, x2, y2 = o["line"]
        ang = math.atan2(y2 - y1, x2 - x1)
        size = 48
        head = [(x2, y2)] + [
            (x2 - size * math.cos(ang + d), y2 - size * math.sin(ang + d)) for d in (-0.5, 0.5)
        ]
        pts = " ".join(f"{px:.0f},{py:.0f}" for px, py in head)
        parts.append(f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" class="ov-line"/>'
                     f'<polygon points="{pts}" class="ov-head"/>')
    if o.get("shape") == "badge" or o.get("kind") == "type":
        fs = round(w * 0.04)
        label = o.get("label", "")[:30]
        bw = min(w - 40, len(label) * fs * 0.56 + 40)
        parts.append(f'<rect x="{(w - bw) / 2:.0f}" y="{h - fs * 3.2:.0f}" width="{bw:.0f}" '
                     f'height="{fs * 1.8:.0f}" rx="{fs * 0.9:.0f}" class="ov-badge"/>'
                     f'<text x="{w / 2:.0f}" y="{h - fs * 1.95:.0f}" font-size="{fs}" '
                     f'text-anchor="middle" class="ov-badge-text">{escape(label)}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="overlay" viewBox="0 0 {w} {h}" '
            f'preserveAspectRatio="none">{"".join(parts)}</svg>')


def _fmt_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.3f}".rstrip("0").rstrip(".") if v == v else "nan"
    if isinstance(v, dict):
        return ", ".join(f"{k}={_fmt_value(x)}" for k, x in v.items() if x not in (None, ""))
    if isinstance(v, list):
        return ", ".join(_fmt_value(x) for x in v)
    return str(v)


def _step_entries(ep: Episode, images: _Images, cfg: ReportConfig,
                  problems: list[str]) -> list[dict[str, Any]]:
    if ep.trace is None:
        return []
    cp_steps = ep.verdict.checkpoint_steps if ep.verdict is not None else []
    satisfied: dict[int, list[int]] = defaultdict(list)
    for ci, s in enumerate(cp_steps):
        if isinstance(s, int):
            satisfied[s].append(ci)  # 0-based, as in the evaluator's reasons
    steps: list[TraceStep] = list(ep.trace.steps)
    if cfg.max_steps and len(steps) > cfg.max_steps:
        keep = set(range(cfg.max_steps - 1)) | {len(steps) - 1} | set(satisfied)
        steps = [s for s in steps if s.index in keep]
    out = []
    for step in steps:
        view = step_view(step)
        img: str | None = None
        img_error = ""
        try:
            png = step_png(step, step_screen(step))
            if png:
                source = step.folder / "screen.png" if step.record.has_screenshot else ""
                img = images.url(png, f"{_anchor(ep.episode_id)}/{step.index:04d}", source)
        except LlamaTouchError as exc:
            img_error = f"unreadable screenshot: {exc}"
            problems.append(f"{ep.episode_id} step {step.index}: {img_error}")
        out.append({
            "index": step.index,
            "img": img,
            "wire": Markup(_wireframe(view)) if img is None else None,  # noqa: S704
            "overlay": Markup(_overlay(view)),  # noqa: S704 (built from escaped parts)
            "aspect": f"{view['width'] or 9} / {view['height'] or 19}",
            "action": describe_action(action_to_json(step.record.action)),
            "activity": step.record.activity,
            "checkpoints": satisfied.get(step.index, []),
            "error": step.record.error,
            "img_error": img_error,
            "reasoning": step.record.reasoning,
        })
    return out


def _evidence(ep: Episode) -> list[dict[str, Any]]:
    rows = []
    for e in ep.verdict.evidence if ep.verdict is not None else []:
        rows.append({
            "checkpoint": e.checkpoint,
            "primitive": e.primitive,
            "type": e.type,
            "step": e.step,
            "passed": e.passed,
            "mark": "✓" if e.passed is True else ("✗" if e.passed is False else "?"),
            "score": _fmt_value(e.score),
            "threshold": _fmt_value(e.threshold),
            "expected": _fmt_value(e.expected),
            "found": _fmt_value(e.found),
            "detail": e.detail,
        })
    return rows


def _on_device(ep: Episode) -> str:
    """One line on an episode whose model ran on the device (``usage.on_device``): where, the
    device's prefill/decode seconds beside the host's, the server's memory, battery and
    thermal state at the start and end; ``""`` for host-side models."""
    usage = ep.trace.manifest.usage if ep.trace is not None else None
    od = usage.on_device if usage is not None else None
    if usage is None or od is None:
        return ""
    llm = usage.llm
    hop = max(0.0, llm.seconds - llm.prefill_s - llm.decode_s)
    parts = [f"model on the device: {od.model or '?'} at {od.serial}:{od.port}",
             f"device prefill {llm.prefill_s:.2f} s + decode {llm.decode_s:.2f} s of "
             f"{llm.seconds:.2f} s on the host (hop {hop:.2f} s)"]

    def pair(get: Any, fmt: str) -> str | None:
        a = get(od.start) if od.start is not None else None
        b = get(od.end) if od.end is not None else None
        if a is None and b is None:
            return None
        return f"{'?' if a is None else fmt % a} → {'?' if b is None else fmt % b}"

    for label, get, fmt in (
        ("server PSS MB", lambda st: None if st.pss_kb is None else st.pss_kb / 1024, "%.0f"),
        ("battery %", lambda st: st.battery_level, "%d"),
        ("thermal status", lambda st: st.thermal_status, "%d"),
    ):
        text = pair(get, fmt)
        if text is not None:
            parts.append(f"{label} {text}")
    return " · ".join(parts)


def _charts(run: RunData) -> list[Markup]:
    eps = run.episodes
    if not eps:
        return []
    by_app: dict[str, Counter[str]] = defaultdict(Counter)
    by_agent: dict[str, Counter[str]] = defaultdict(Counter)
    for ep in eps:
        by_app[ep.row.app or "?"][ep.status] += 1
        by_agent[ep.row.agent or "?"][ep.status] += 1
    cats = [c for c in VERDICT_ORDER if any(ep.status == c for ep in eps)]
    cats += sorted({ep.status for ep in eps} - set(cats))
    charts = [Markup(stacked_bars(  # noqa: S704 (charts escape every text)
        [StackedRow(app_label(a), dict(c)) for a, c in sorted(by_app.items())],
        cats, title="Success by app"))]
    if len(by_agent) > 1:
        charts.append(Markup(stacked_bars(  # noqa: S704
            [StackedRow(a, dict(c)) for a, c in sorted(by_agent.items())],
            cats, title="Success by agent")))
    charts.append(Markup(column_bars(  # noqa: S704
        [(ep.episode_id, float(ep.row.steps), ep.status) for ep in eps],
        title="Steps per episode", unit=" steps")))
    charts.append(Markup(column_bars(  # noqa: S704
        [(ep.episode_id, ep.row.wall_s, ep.status) for ep in eps],
        title="Time per episode", unit=" s")))
    return charts


def build_report(run_dir: str | Path, cfg: ReportConfig) -> dict[str, Any]:
    """Write the report; returns a small summary (episodes, images, output path)."""
    run = load_run(run_dir)
    images = _Images(cfg)
    n = len(run.episodes)
    anchors = [_anchor(ep.episode_id) for ep in run.episodes]
    by_task: dict[str, list[int]] = defaultdict(list)
    for i, ep in enumerate(run.episodes):
        by_task[ep.row.task_id].append(i)
    episodes = []
    for i, ep in enumerate(run.episodes):
        row = ep.row
        siblings = [
            {"anchor": anchors[j], "label": str(run.episodes[j].episode_id),
             "status": run.episodes[j].status}
            for j in by_task[row.task_id] if j != i
        ]
        episodes.append({
            "anchor": anchors[i],
            "id": ep.episode_id,
            "app_label": app_label(row.app or "?"),
            "row": row,
            "status": ep.status,
            "colour": colour(ep.status),
            "instruction": ep.trace.manifest.task.instruction if ep.trace else "",
            "reason": (ep.verdict.reason if ep.verdict else "") or row.reason,
            "problems": ep.verdict.problems if ep.verdict else [],
            "trace_error": ep.trace_error,
            "checkpoint_steps": ep.verdict.checkpoint_steps if ep.verdict else [],
            "oracle": ep.oracle,
            "on_device": _on_device(ep),
            "evaluator": ep.evaluator,
            "steps": _step_entries(ep, images, cfg, run.problems),
            "evidence": _evidence(ep),
            "prev": anchors[i - 1] if i > 0 else None,
            "next": anchors[i + 1] if i + 1 < n else None,
            "siblings": siblings,
        })
    statuses = Counter(ep.status for ep in run.episodes)
    secs = [ep.row.wall_s for ep in run.episodes]
    steps = [float(ep.row.steps) for ep in run.episodes]
    totals = {
        "episodes": n,
        "success": statuses.get("success", 0),
        "rate": (statuses.get("success", 0) / n) if n else 0.0,
        "mean_steps": sum(steps) / n if n else 0.0,
        "mean_seconds": sum(secs) / n if n else 0.0,
        "llm_calls": sum(ep.row.llm_calls for ep in run.episodes),
        "statuses": dict(statuses),
    }
    env = Environment(loader=FileSystemLoader(str(_HERE / "templates")),
                      autoescape=select_autoescape(["html", "j2"]))
    html = env.get_template("report.html.j2").render(
        run_name=run.root.name,
        run_dir=str(run.root),
        generated=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        totals=totals,
        charts=_charts(run),
        episodes=episodes,
        apps=sorted({ep.row.app or "?" for ep in run.episodes}),
        agents=sorted({ep.row.agent or "?" for ep in run.episodes}),
        oracle=run.oracle,
        verdicts=[v for v in VERDICT_ORDER if v in statuses] + sorted(
            set(statuses) - set(VERDICT_ORDER)),
        problems=run.problems,
        embedded=cfg.embed_images,
        colours={v: colour(v) for v in statuses},
    )
    atomic_write_text(cfg.out, html)
    os.chmod(cfg.out, 0o644)  # a page to share and open in a browser, not a secret
    return {"out": str(cfg.out), "episodes": n, "images": images.count,
            "problems": len(run.problems)}
