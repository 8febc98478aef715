"""Infrastructure failures: a virtual device that vanishes mid-episode (real fault injection)
is retried on a fresh device a bounded number of times, and reported apart from agent
failures when the retries run out."""

from __future__ import annotations

from pathlib import Path

from faulty_devices import FaultySlots

from llamatouch.runner import EvalConfig, run_eval
from llamatouch.trace.format import read_trace


def test_device_lost_mid_episode_is_retried(tmp_path: Path) -> None:
    slots = FaultySlots(tmp_path / "opens", fail_opens=1)
    out = tmp_path / "run"
    outcome = run_eval(
        EvalConfig(agent="replay", out=out, devices=("virtual",),
                   task_ids=("notes-create-buy-milk",), infra_retries=2),
        device_factory=slots,
    )
    assert slots.opened() == 2  # the lost device was replaced once
    (row,) = outcome.rows
    assert row.status == "finished" and row.infra_attempts == 1
    assert row.failure_kind in ("", "unscored")
    trace = read_trace(out / row.trace_dir)  # the retried episode restarted clean
    assert trace.manifest.num_steps == len(trace.steps) == row.steps
    (lost,) = trace.manifest.usage.extra["earlier_failures"]  # the evidence of the first try
    assert "vanished" in lost


def test_device_lost_every_time_is_an_infra_failure(tmp_path: Path) -> None:
    slots = FaultySlots(tmp_path / "opens", fail_opens=100)
    outcome = run_eval(
        EvalConfig(agent="replay", out=tmp_path / "run", devices=("virtual",),
                   task_ids=("notes-create-buy-milk", "clock-start-5min-timer"),
                   infra_retries=1),
        device_factory=slots,
    )
    assert slots.opened() == 4  # 2 episodes x (1 try + 1 retry)
    assert [r.status for r in outcome.rows] == ["infra_error", "infra_error"]
    assert all(r.failure_kind == "infra" and r.verdict == "not_run" for r in outcome.rows)
    assert all("vanished" in r.error for r in outcome.rows)
    s = outcome.summary.overall
    assert s.infra_failures == 2 and s.agent_failures == 0 and s.scored == 0
    assert outcome.infra_failures == 2


def test_agent_bug_fails_its_episode_not_the_run(tmp_path: Path) -> None:
    agent_file = tmp_path / "buggy.py"
    agent_file.write_text(
        "from llamatouch.actions import Finish\n"
        "from llamatouch.agent import Agent, AgentStep\n\n"
        "class Buggy(Agent):\n"
        "    name = 'buggy'\n"
        "    def reset(self, task, capabilities):\n"
        "        self.task = task\n"
        "    def step(self, observation, history):\n"
        "        if self.task.id.startswith('notes'):\n"
        "            return 1 / 0\n"
        "        return AgentStep(Finish(), 'done', evidence=object())\n"
        "\n"
    )
    outcome = run_eval(
        EvalConfig(agent=f"{agent_file}:Buggy", out=tmp_path / "run", devices=("virtual",),
                   task_ids=("notes-create-buy-milk", "clock-start-5min-timer"))
    )
    by_task = {r.task_id: r for r in outcome.rows}
    notes = by_task["notes-create-buy-milk"]
    assert notes.status == "agent_error" and "ZeroDivisionError" in notes.error
    trace = read_trace(tmp_path / "run" / notes.trace_dir)
    assert "ZeroDivisionError" in trace.steps[-1].record.extra["agent_evidence"]["traceback"]
    # a wrong keyword to AgentStep is the agent's bug too: its episode fails, with the reason
    clock = by_task["clock-start-5min-timer"]
    assert clock.status == "agent_error" and "TypeError" in clock.error
