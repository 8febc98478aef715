"""The example agent of docs/agents.md, loaded through ``path/file.py:Class`` and run for a
whole episode by the real runner on the virtual device."""

from __future__ import annotations

import re
from pathlib import Path

from llamatouch.actions import Finish
from llamatouch.agent import Agent
from llamatouch.agent_registry import resolve_agent_class
from llamatouch.runner import EvalConfig, run_eval
from llamatouch.trace.format import read_trace

REPO_DIR = Path(__file__).resolve().parents[2]


def _example_source() -> str:
    doc = (REPO_DIR / "docs" / "agents.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", doc, re.S)
    example = [b for b in blocks if "class KeywordAgent(Agent)" in b]
    assert len(example) == 1, "docs/agents.md must hold exactly one KeywordAgent example"
    return example[0]


def test_example_agent_loads_by_file_and_class(tmp_path: Path) -> None:
    path = tmp_path / "my_agent.py"
    path.write_text(_example_source(), encoding="utf-8")
    cls = resolve_agent_class(f"{path}:KeywordAgent")
    assert issubclass(cls, Agent) and cls.name == "keyword"

    out = tmp_path / "run"
    outcome = run_eval(
        EvalConfig(
            agent=f"{path}:KeywordAgent",
            out=out,
            task_ids=("notes-create-buy-milk",),
            devices=("virtual",),
        )
    )
    assert len(outcome.rows) == 1
    row = outcome.rows[0]
    assert row.agent == "keyword"
    assert row.status == "finished", row.error
    assert row.steps >= 1
    trace = read_trace(out / row.trace_dir)
    # the agent's taps reached the device and were recorded with its reasoning
    first = trace.steps[0].record
    assert first.action is not None
    assert first.reasoning
    assert trace.steps[-1].record.action == Finish("success")
