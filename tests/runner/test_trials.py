"""--trials K: pass@k, pass^k and flip rate in the summary; results readable with pandas."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from llamatouch.runner import EvalConfig, run_eval
from llamatouch.runner.results import format_table


def test_trials_summary_and_pandas(tmp_path: Path) -> None:
    out = tmp_path / "run"
    tasks = ("notes-create-buy-milk", "clock-start-5min-timer")
    outcome = run_eval(
        EvalConfig(agent="random", out=out, devices=("virtual",), task_ids=tasks, trials=3,
                   max_steps=3, workers=2)
    )
    assert len(outcome.rows) == 6
    assert sorted({(r.task_id, r.trial) for r in outcome.rows}) == sorted(
        (t, k) for t in tasks for k in range(3)
    )
    s = outcome.summary
    assert s.k == 3 and [t.task_id for t in s.per_task] == sorted(tasks)
    for t in s.per_task:
        assert t.trials + sum(
            1 for r in outcome.rows if r.task_id == t.task_id and r.failure_kind == "infra"
        ) == 3
    csv = pd.read_csv(out / "results.csv")
    js = pd.read_json(out / "results.json")
    assert len(csv) == len(js) == 6
    assert set(csv["episode_id"]) == set(js["episode_id"])
    assert (csv["steps"] <= 3).all()
    table = format_table(s)
    assert "95% CI" in table and "pass@k" in table
    # trials are seeded apart, and a rerun of the same configuration gives the same episodes
    again = run_eval(
        EvalConfig(agent="random", out=tmp_path / "again", devices=("virtual",),
                   task_ids=tasks, trials=3, max_steps=3)
    )
    key = [(r.episode_id, r.status, r.steps, r.error) for r in outcome.rows]
    assert key == [(r.episode_id, r.status, r.steps, r.error) for r in again.rows]
