"""A screenshot whose header claims 100000x100000 pixels (a decompression bomb) is a problem of
its step: the report shows "unreadable screenshot: <reason>" for that step and goes on, and the
evaluator's image check turns it into an error of that step, never an exception."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from llamatouch.actions import Finish, Tap
from llamatouch.errors import EvaluationError, ImageFormatError
from llamatouch.report.build import ReportConfig, build_report
from llamatouch.trace.format import StepRecord, TraceManifest, TraceWriter, read_trace
from llamatouch.trace.records import EpisodeUsage, TaskRef
from llamatouch.ui.image import decode_image

HIERARCHY = (b'<?xml version="1.0" encoding="UTF-8"?><hierarchy rotation="0">'
             b'<node index="0" text="OK" resource-id="ok" class="android.widget.Button" '
             b'package="com.app" content-desc="" clickable="true" enabled="true" '
             b'bounds="[0,0][40,80]" /></hierarchy>')


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG signature and IHDR (correct CRC) claiming ``width`` x ``height`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def good_png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 80), "navy").save(buf, "PNG")
    return buf.getvalue()


def _run_with_a_bomb(root: Path) -> Path:
    trace = root / "traces" / "ep-bomb"
    w = TraceWriter(trace, TraceManifest(episode_id="ep-bomb",
                                         task=TaskRef(id="t", app="com.app", instruction="do")))
    w.write_step(StepRecord(index=0, action=Tap(5, 5), width=40, height=80), good_png(),
                 HIERARCHY)
    w.write_step(StepRecord(index=1, action=Finish(), width=40, height=80), bomb_png(),
                 HIERARCHY)
    w.update(usage=EpisodeUsage(actions=2))
    w.finish("finished")
    return root


def test_decode_image_refuses_the_bomb_from_its_header() -> None:
    with pytest.raises(ImageFormatError, match=r"too large|pixels"):
        decode_image(bomb_png(), "screen.png")


def test_report_shows_the_bad_step_and_goes_on(tmp_path: Path) -> None:
    run = _run_with_a_bomb(tmp_path / "run")
    info = build_report(run, ReportConfig(out=tmp_path / "r.html"))
    html = (tmp_path / "r.html").read_text()
    assert info["episodes"] == 1 and info["images"] == 1  # the good step's screenshot
    assert "unreadable screenshot:" in html and "screen.png" in html
    # listed at the top: the bad screenshot, and that rows were rebuilt from the manifests
    assert info["problems"] == 2 and "rows rebuilt from the trace manifests" in html


def test_report_cli_on_a_bomb_exits_zero(tmp_path: Path) -> None:
    from llamatouch.cli import main

    run = _run_with_a_bomb(tmp_path / "run")
    assert main(["report", str(run), "--out", str(tmp_path / "r.html")]) == 0


def test_image_check_on_a_bomb_is_an_evaluation_error(tmp_path: Path) -> None:
    from llamatouch.evaluator.stepview import StepView

    trace = read_trace(_run_with_a_bomb(tmp_path / "run") / "traces" / "ep-bomb")
    view = StepView(trace.steps[1], screen=None, record=trace.steps[1].record)
    with pytest.raises(EvaluationError, match="screenshot unusable"):
        view.image()
    assert StepView(trace.steps[0], screen=None, record=trace.steps[0].record).image().size == (
        40, 80)
