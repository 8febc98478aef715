"""An episode whose model ran on the device shows the device's figures in the report and the
results; a host-side episode shows none."""

from __future__ import annotations

import html
import io
from pathlib import Path

from PIL import Image

from llamatouch.actions import Finish
from llamatouch.agent import LLMUsageSummary
from llamatouch.report.build import ReportConfig, build_report
from llamatouch.report.data import load_results
from llamatouch.trace.format import StepRecord, TraceManifest, TraceWriter
from llamatouch.trace.records import DeviceLLMState, EpisodeUsage, OnDeviceUsage, TaskRef


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (20, 40), "teal").save(buf, "PNG")
    return buf.getvalue()


def _episode(run: Path, eid: str, on_device: OnDeviceUsage | None) -> None:
    w = TraceWriter(run / "traces" / eid, TraceManifest(
        episode_id=eid, task=TaskRef(id=eid.split("__")[0], suite="demo", app="com.app",
                                     instruction="do it"), agent={"name": "autodroid"}))
    llm = LLMUsageSummary(calls=1, prompt_tokens=300, cached_prompt_tokens=200,
                          prefill_s=1.5, decode_s=0.5, seconds=2.25)
    w.write_step(StepRecord(index=0, action=Finish(), width=20, height=40, llm=llm), _png(),
                 b"<hierarchy/>")
    w.update(usage=EpisodeUsage(llm=llm, wall_s=3.0, actions=1, on_device=on_device))
    w.finish("finished")


def test_on_device_figures_reach_the_report_and_the_results(tmp_path: Path) -> None:
    run = tmp_path / "run"
    od = OnDeviceUsage(
        serial="R58M12", port=8080, model="m.gguf",
        start=DeviceLLMState(at=1.0, pid=7, pss_kb=200 * 1024, battery_level=90,
                             thermal_status=0),
        end=DeviceLLMState(at=2.0, pid=7, pss_kb=260 * 1024, battery_level=87,
                           thermal_status=2),
    )
    _episode(run, "a__autodroid__t0", od)
    _episode(run, "b__autodroid__t0", None)
    build_report(run, ReportConfig(out=tmp_path / "r.html"))
    page = html.unescape((tmp_path / "r.html").read_text())
    assert "model on the device: m.gguf at R58M12:8080" in page
    assert "device prefill 1.50 s + decode 0.50 s of 2.25 s on the host (hop 0.25 s)" in page
    assert "server PSS MB 200 → 260" in page and "battery % 90 → 87" in page
    assert "thermal status 0 → 2" in page
    assert page.count("model on the device:") == 1  # the host-side episode shows none
    rows = {r.episode_id: r for r in load_results(run)}
    a, b = rows["a__autodroid__t0"], rows["b__autodroid__t0"]
    assert (a.device_llm_pss_mb, a.device_battery_drop) == (260.0, 3.0)
    assert (b.device_llm_pss_mb, b.device_battery_drop) == (0.0, 0.0)
