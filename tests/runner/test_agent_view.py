"""Agents cannot see the answers: they get an AgentTask without ground truth (and the step
limit the runner really enforces); only an oracle agent class gets the ground truth, and its
runs are marked as oracle runs."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from llamatouch.agent import AgentTask
from llamatouch.runner import EvalConfig, run_eval
from llamatouch.runner.results import format_table, load_results_json
from llamatouch.tasks import Task, load_suite
from llamatouch.trace.format import read_trace

# An agent written from docs/agents.md that tries to replay the answer key: it looks for the
# ground truth everywhere it is handed something, and declares completion when it finds none.
CHEATER = '''
from llamatouch.actions import Finish, action_from_json
from llamatouch.agent import Agent, AgentStep


def _find_answers(*objs):
    for obj in objs:
        for name in ("gt_actions", "ground_truth"):
            found = getattr(obj, name, None)
            if found:
                return getattr(found, "actions", found)
        meta = getattr(obj, "meta", None) or {}
        for key, value in dict(meta).items():
            if key.startswith("gt") and value:
                return value
    return None


class Cheater(Agent):
    name = "cheater"

    def reset(self, task, capabilities):
        found = _find_answers(task, capabilities, self.options)
        self.plan = [action_from_json(dict(a)) for a in found] if found else []
        self.saw = sorted(f for f in dir(task) if not f.startswith("_"))

    def step(self, observation, history):
        if len(history) < len(self.plan):
            return AgentStep(self.plan[len(history)], "replaying the answer key")
        return AgentStep(Finish(), f"no answer key in {self.saw}")
'''


def test_a_ground_truth_reading_agent_scores_zero_on_the_demo(tmp_path: Path) -> None:
    agent = tmp_path / "cheater.py"
    agent.write_text(CHEATER)
    out = tmp_path / "run"
    outcome = run_eval(
        EvalConfig(agent=f"{agent}:Cheater", out=out, devices=("virtual",), workers=2)
    )
    assert len(outcome.rows) == 15
    assert outcome.summary.overall.scored == 15
    assert outcome.summary.overall.successes == 0
    assert not outcome.oracle and not any(r.oracle for r in outcome.rows)
    assert json.loads((out / "run.json").read_text())["oracle"] is False
    for row in outcome.rows:
        # it found nothing: every episode is its single "finish" on the start screen
        trace = read_trace(out / row.trace_dir)
        assert len(trace.steps) == 1, row.task_id
        assert trace.steps[0].record.reasoning.startswith("no answer key in"), row.task_id
    assert "ORACLE" not in format_table(outcome.summary)


def test_replay_is_an_oracle_and_its_runs_are_marked(tmp_path: Path) -> None:
    out = tmp_path / "run"
    outcome = run_eval(
        EvalConfig(agent="replay", out=out, devices=("virtual",),
                   task_ids=("contacts-call-alice", "clock-new-alarm-0630"))
    )
    assert outcome.oracle and all(r.success and r.oracle for r in outcome.rows)
    assert json.loads((out / "run.json").read_text())["oracle"] is True
    assert all(r["oracle"] is True for r in load_results_json(out / "results.json"))
    assert "oracle" in (out / "results.csv").read_text().splitlines()[0].split(",")
    assert json.loads((out / "summary.json").read_text())["overall"]["oracle_episodes"] == 2
    assert "ORACLE RUN" in format_table(outcome.summary)
    manifest = read_trace(out / outcome.rows[0].trace_dir).manifest
    assert manifest.agent["oracle"] is True


STEP_LIMIT_AGENT = '''
from llamatouch.actions import Wait
from llamatouch.agent import Agent, AgentStep


class Patient(Agent):
    name = "patient"

    def reset(self, task, capabilities):
        self.limit = task.max_steps

    def step(self, observation, history):
        return AgentStep(Wait(seconds=0), f"told limit {self.limit}")
'''


@pytest.mark.parametrize("run_limit", [None, 3])
def test_agents_are_told_the_limit_the_runner_enforces(
    tmp_path: Path, run_limit: int | None
) -> None:
    agent = tmp_path / "patient.py"
    agent.write_text(STEP_LIMIT_AGENT)
    task = load_suite("demo").get("contacts-call-alice")
    outcome = run_eval(
        EvalConfig(agent=f"{agent}:Patient", out=tmp_path / "run", devices=("virtual",),
                   task_ids=(task.id,), max_steps=run_limit)
    )
    (row,) = outcome.rows
    enforced = task.max_steps if run_limit is None else run_limit
    assert row.status == "step_limit" and row.steps == enforced
    trace = read_trace(tmp_path / "run" / row.trace_dir)
    assert trace.steps[0].record.reasoning == f"told limit {enforced}"


def _answer_text(task: Task) -> list[str]:
    return [repr(a) for a in task.gt_actions] + [repr(s) for s in task.gt_states]


def test_the_task_view_holds_no_answer() -> None:
    droidtask_like = Task(
        id="t1", app="a.b", instruction="do it", gt_actions=[{"action": "finish"}],
        gt_states=["s0", "s1"],
        meta={"dataset": "droidtask", "source": "/data/a/task1.yaml", "records": 3,
              "resolved_by": ["text"], "gt_path": ["s0"], "fully_resolved": True, "steps": 2},
    )
    for task in [*load_suite("demo").tasks, droidtask_like]:
        view = AgentTask.from_task(task, max_steps=7, trial=2, world="demo")
        assert view.ground_truth is None
        assert not hasattr(view, "gt_actions") and not hasattr(view, "gt_states")
        assert not any(k.startswith("gt") for k in view.meta)
        assert {"steps", "records", "source", "resolved_by"}.isdisjoint(view.meta)
        assert (view.id, view.instruction, view.app, view.max_steps, view.trial) == (
            task.id, task.instruction, task.app, 7, 2
        )
        assert view.meta["trial"] == 2
        text = repr(view) + repr(pickle.loads(pickle.dumps(view)))
        for answer in _answer_text(task):
            if len(answer) > 6:  # skip tiny state ids that could match by accident
                assert answer not in text
        oracle = AgentTask.from_task(task, max_steps=7, oracle=True)
        assert oracle.ground_truth is not None
        assert all(a in repr(oracle) for a in _answer_text(task))  # the check above can fail
        assert [dict(a) for a in oracle.ground_truth.actions] == task.gt_actions
        assert list(oracle.ground_truth.states) == task.gt_states
    assert droidtask_like.meta["dataset"] == "droidtask"  # the task itself is untouched
