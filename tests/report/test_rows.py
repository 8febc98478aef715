"""One result row type: the report and the notebooks build rows with ``result_from_manifest``
(the runner's builder), read ``results.json`` / ``results.csv`` rows field by field, and show
the run's oracle flag. Fast: synthetic traces, no ../shared."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import asdict
from pathlib import Path

import pytest
from PIL import Image

from llamatouch.actions import Finish, Tap
from llamatouch.agent import LLMUsageSummary
from llamatouch.errors import InputFormatError
from llamatouch.report.build import ReportConfig, build_report
from llamatouch.report.data import load_results, load_run, results_frame
from llamatouch.runner.results import COLUMNS, EpisodeResult, collect_results
from llamatouch.trace.format import StepRecord, TraceManifest, TraceWriter
from llamatouch.trace.records import EpisodeUsage, TaskRef, VerdictRecord, VerdictStatus


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (20, 40), "teal").save(buf, "PNG")
    return buf.getvalue()


def _episode(run: Path, eid: str, calls: int, verdict: str | None = "success",
             oracle: bool = False) -> None:
    w = TraceWriter(run / "traces" / eid, TraceManifest(
        episode_id=eid, task=TaskRef(id=eid.split("__")[0], suite="demo", app="com.app",
                                     instruction="do it", trial=0),
        agent={"name": "replay" if oracle else "llm", "oracle": oracle}))
    w.write_step(StepRecord(index=0, action=Tap(1, 2), width=20, height=40,
                            llm=LLMUsageSummary(calls=calls)), _png(), b"<hierarchy/>")
    w.write_step(StepRecord(index=1, action=Finish(), width=20, height=40), _png(),
                 b"<hierarchy/>")
    w.update(usage=EpisodeUsage(llm=LLMUsageSummary(calls=calls, prompt_tokens=10 * calls),
                                wall_s=1.5, actions=2),
             verdict=None if verdict is None else VerdictRecord(
                 status=VerdictStatus(verdict), reason="because", checkpoint_steps=[1]))
    w.finish("finished")


@pytest.fixture
def traces_only(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    _episode(run, "a__llm__t0", 3)
    _episode(run, "b__llm__t0", 2, verdict="fail")
    return run


def test_report_rebuilt_from_traces_shows_the_llm_calls(traces_only: Path, tmp_path: Path) -> None:
    """The seam bug: rows rebuilt from manifests read usage["llm_calls"] (0) where the runner
    writes usage["calls"] (3)."""
    run = load_run(traces_only)
    by_id = {ep.episode_id: ep.row for ep in run.episodes}
    assert isinstance(by_id["a__llm__t0"], EpisodeResult)
    assert by_id["a__llm__t0"].llm_calls == 3 and by_id["b__llm__t0"].llm_calls == 2
    assert by_id["a__llm__t0"].prompt_tokens == 30 and by_id["a__llm__t0"].steps == 2
    build_report(traces_only, ReportConfig(out=tmp_path / "r.html"))
    html = (tmp_path / "r.html").read_text()
    card = re.search(r'LLM calls</div><div class="v">(\d+)<', html)
    assert card is not None and card.group(1) == "5"


def test_rows_from_traces_equal_the_runners_rows(traces_only: Path) -> None:
    """The report and ``eval`` build the very same rows (one builder)."""
    runner_rows = collect_results(traces_only)
    report_rows = sorted(load_results(traces_only), key=lambda r: r.episode_id)
    assert [asdict(r) for r in report_rows] == [asdict(r) for r in runner_rows]


def test_results_json_and_csv_rows_are_read_typed(traces_only: Path) -> None:
    rows = collect_results(traces_only)
    (traces_only / "results.json").write_text(json.dumps([asdict(r) for r in rows]))
    assert load_results(traces_only) == rows
    (traces_only / "results.json").unlink()
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(COLUMNS))
    w.writeheader()
    for r in rows:
        w.writerow(asdict(r))
    (traces_only / "results.csv").write_text(buf.getvalue())
    assert load_results(traces_only) == rows
    frame = results_frame(traces_only)
    assert list(frame["llm_calls"]) == [3, 2] and frame["success"].sum() == 1


@pytest.mark.parametrize(("field", "value"), [
    ("steps", "4"), ("llm_calls", -1), ("success", "yes"), ("verdict", "great"),
    ("failure_kind", "bad luck"), ("wall_s", "slow"), ("trial", 1.5), ("episode_id", 7),
])
def test_a_bad_row_field_is_listed_with_file_and_field(traces_only: Path, field: str,
                                                      value: object, tmp_path: Path) -> None:
    rows = [asdict(r) for r in collect_results(traces_only)]
    rows[0][field] = value
    (traces_only / "results.json").write_text(json.dumps(rows))
    run = load_run(traces_only)
    assert any("results.json" in p and f"[0].{field}" in p for p in run.problems), run.problems
    # the episode is still shown, its row rebuilt from its trace
    assert {ep.episode_id for ep in run.episodes} == {"a__llm__t0", "b__llm__t0"}
    assert build_report(traces_only, ReportConfig(out=tmp_path / "r.html"))["episodes"] == 2


@pytest.mark.parametrize("text", ["{", "[1, 2]", '{"results": 5}', "[" * 50_000])
def test_unreadable_results_json_is_a_listed_problem(traces_only: Path, text: str) -> None:
    (traces_only / "results.json").write_text(text)
    run = load_run(traces_only)
    assert any("results.json" in p for p in run.problems)
    assert len(run.episodes) == 2


def test_oracle_run_is_flagged(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _episode(run, "a__replay__t0", 0, oracle=True)
    data = load_run(run)
    assert data.oracle and data.episodes[0].oracle
    build_report(run, ReportConfig(out=tmp_path / "r.html"))
    html = (tmp_path / "r.html").read_text()
    assert 'id="oracle-run"' in html and "(oracle)" in html
    plain = tmp_path / "plain"
    _episode(plain, "a__llm__t0", 1)
    build_report(plain, ReportConfig(out=tmp_path / "p.html"))
    assert 'id="oracle-run"' not in (tmp_path / "p.html").read_text()


def test_oracle_flag_of_run_json(traces_only: Path) -> None:
    (traces_only / "run.json").write_text(json.dumps({"config": {"oracle": True}}))
    assert load_run(traces_only).oracle
    (traces_only / "run.json").write_text(json.dumps({"config": {"oracle": "yes"}}))
    run = load_run(traces_only)
    assert not run.oracle and any("config.oracle" in p for p in run.problems)


def test_score_rows_use_the_manifest_builder(traces_only: Path) -> None:
    """A ``score --format json`` run: verdicts from the score rows, the rest (agent, LLM calls)
    from the trace manifests."""
    score = {"evaluator": "essential", "results": [
        {"episode": "a__llm__t0", "task": "a", "app": "com.app", "evaluator": "essential",
         "status": "fail", "reason": "checkpoint 0 not satisfied", "steps": 2,
         "path": str(traces_only / "traces" / "a__llm__t0"),
         "verdict": {"status": "fail", "reason": "checkpoint 0 not satisfied",
                     "checkpoint_steps": [None], "evidence": []}}]}
    (traces_only / "results.json").write_text(json.dumps(score))
    run = load_run(traces_only)
    ep = next(e for e in run.episodes if e.episode_id == "a__llm__t0")
    assert ep.evaluator == "essential" and ep.status == "fail" and ep.row.llm_calls == 3
    assert ep.row.agent == "llm" and ep.verdict is not None and ep.verdict.status == "fail"
    assert not run.problems


def test_not_a_run_folder_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputFormatError, match="not a run folder"):
        load_run(tmp_path)
    with pytest.raises(InputFormatError, match="not a folder"):
        load_run(tmp_path / "missing")
