"""AutoDroid: answer parsing, garbage models (agent failures with evidence, never a crash),
memory files, and real inference with the embedded model on every demo task."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llamatouch.agent import AgentFailure, AgentOptions, DeviceCapabilities
from llamatouch.llm.base import ChatMessage, LLMBackend, LLMResult, LLMUsage
from llamatouch.runner import EvalConfig, run_eval
from llamatouch.tasks import load_suite
from llamatouch.trace.format import read_trace
from llamatouch_agents.autodroid import AutoDroidAgent
from llamatouch_agents.autodroid.memory import AppMemory, build_from_world, template_describer
from llamatouch_agents.autodroid.prompt import AnswerError, parse_answer
from llamatouch_agents.autodroid.screen import build_view


class ScriptedLLM(LLMBackend):
    """A fake backend answering from a script (unit tests only)."""

    name = "scripted"

    def __init__(self, answers: list[str]) -> None:
        self.answers = list(answers)
        self.prompts: list[list[ChatMessage]] = []

    def complete(self, messages: list[ChatMessage], **kwargs: Any) -> LLMResult:
        self.prompts.append(list(messages))
        text = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        usage = LLMUsage(len(str(messages)) // 4, len(text) // 4, 0, 0.01, 0.01, 0.02)
        return LLMResult(text, usage, "scripted", "stop")


def _demo_observation() -> Any:
    from llamatouch_emulator.virtual import VirtualDevice
    from llamatouch_emulator.worlds import load_named_world

    dev = VirtualDevice(load_named_world("demo"))
    task = load_suite("demo").get("notes-create-buy-milk")
    dev.reset(task.app)
    return task, dev.observe()


def test_parse_answer() -> None:
    a = parse_answer('{"finished": false, "id": 3, "action": "type", "text": "milk"}')
    assert (a.finished, a.id, a.action, a.text) == (False, 3, "type", "milk")
    assert parse_answer('noise {"finished": true, "id": 0, "action": "tap", "text": ""}').finished
    for bad in ("", "hello", "{not json}", '{"finished": "yes", "id": 1}', '{"id": "x"}',
                '{"finished": false, "id": 1, "action": "fly"}'):
        with pytest.raises(AnswerError):
            parse_answer(bad)


def test_garbage_model_is_an_agent_failure_with_evidence() -> None:
    task, obs = _demo_observation()
    llm = ScriptedLLM(["I think you should tap the blue thing!!!", '{"id": 999}', "@@@@"])
    agent = AutoDroidAgent(AgentOptions(params={"memory": "off", "max_retries": "2"}), llm=llm)
    agent.reset(task, DeviceCapabilities("virtual-0", "virtual", 1080, 2400))
    with pytest.raises(AgentFailure) as info:
        agent.step(obs, [])
    ev = info.value.evidence
    assert len(ev["answers"]) == 3  # 1 ask + 2 bounded re-asks
    assert ev["answers"][0].startswith("I think")
    assert len(ev["feedback"]) == 3 and "no element with id 999" in ev["feedback"][1]
    assert ev["usage"]["calls"] == 3
    # the re-ask carried the feedback to the model
    assert "cannot be used" in llm.prompts[1][-1].content


def test_invalid_id_then_valid_answer_recovers() -> None:
    task, obs = _demo_observation()
    view = build_view(obs.screen)
    target = next(c for c in view.choices if c.kind == "click")
    llm = ScriptedLLM(
        ['{"finished": false, "id": 500, "action": "tap", "text": ""}',
         json.dumps({"finished": False, "id": target.id, "action": "tap", "text": ""})]
    )
    agent = AutoDroidAgent(AgentOptions(params={"memory": "off"}), llm=llm)
    agent.reset(task, DeviceCapabilities("virtual-0", "virtual", 1080, 2400))
    step = agent.step(obs, [])
    assert step.action.kind == "tap" and step.usage.calls == 2
    assert step.action.to_json()["element"] == target.key
    calls = step.extra["llm_calls"]  # per-call tokens and seconds go into the trace
    assert len(calls) == 2 and all(c["prompt_tokens"] > 0 for c in calls)


def test_garbage_model_in_a_run_is_reported_not_crashed(tmp_path: Path) -> None:
    """Through the runner: the episode ends as agent_error, evidence in the trace, run goes on."""
    from llamatouch.runner import InProcessExecutor

    def garbage_agent(options: AgentOptions) -> AutoDroidAgent:
        return AutoDroidAgent(options, llm=ScriptedLLM(["garbage"]))

    # in process: the factory (a local function) need not be picklable
    outcome = run_eval(
        EvalConfig(agent="autodroid", out=tmp_path / "run", devices=("virtual",),
                   task_ids=("notes-create-buy-milk", "clock-start-5min-timer"),
                   agent_params={"memory": "off"}),
        agent_factory=garbage_agent,
        executor=InProcessExecutor(),
    )
    assert len(outcome.rows) == 2
    for row in outcome.rows:
        assert row.status == "agent_error" and row.failure_kind in ("agent", "unscored")
        assert "no usable answer" in row.error
        trace = read_trace(tmp_path / "run" / row.trace_dir)
        last = trace.steps[-1].record
        assert last.extra["agent_evidence"]["answers"] == ["garbage"] * 3
        assert row.llm_calls == 3


def test_memory_from_demo_world_roundtrips(tmp_path: Path) -> None:
    from llamatouch.embed.minilm import get_encoder
    from llamatouch_emulator.worlds import load_named_world

    world = load_named_world("demo")
    enc = get_encoder()
    mem = build_from_world(world, "com.llamatouch.notes", template_describer, enc.encode)
    assert mem.entries and mem.embeddings.shape == (len(mem.entries), 384)
    assert all(e.path and e.path[-1].label == e.label for e in mem.entries)
    mem.save(tmp_path / "m.json")
    back = AppMemory.load(tmp_path / "m.json")
    assert [e.label for e in back.entries] == [e.label for e in mem.entries]
    assert back.embeddings.tobytes() == mem.embeddings.tobytes()
    hits = back.retrieve(enc.encode(["create a new note"])[0], 0.0, top_k=3)
    assert len(hits) == 3 and hits[0].score >= hits[-1].score


@pytest.mark.slow
def test_autodroid_real_model_every_demo_task(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Real llama.cpp inference (embedded SmolLM2-135M) on every demo task: every episode
    completes without an infrastructure failure or crash; the success rate is reported."""
    suite = load_suite("demo")
    outcome = run_eval(
        EvalConfig(agent="autodroid", out=tmp_path / "run", devices=("virtual",), max_steps=2,
                   memory_dir=str(tmp_path / "mem"),
                   agent_params={"describer": "template", "threads": "1"})
    )
    assert {r.task_id for r in outcome.rows} == {t.id for t in suite.tasks}
    for r in outcome.rows:
        assert r.status in ("finished", "step_limit", "agent_error"), (r.task_id, r.status)
        assert r.failure_kind != "infra"
        assert r.llm_calls + r.saved_llm_calls >= 1
        if r.status == "agent_error":
            assert r.error  # reported with its reason, never silent
    assert any(r.prompt_tokens > 0 for r in outcome.rows)
    assert list((tmp_path / "mem").glob("*.json")), "memory files were written"
    with capsys.disabled():
        s = outcome.summary.overall
        print(f"\nautodroid (SmolLM2-135M, 2 steps) on demo: {s.successes}/{s.scored} success")


def test_explore_live_device_within_budget_builds_memory(tmp_path: Path) -> None:
    """Exploration through the Device interface (the virtual device standing in for a phone)."""
    from llamatouch.embed.minilm import get_encoder
    from llamatouch.world import load_world
    from llamatouch_agents.autodroid.explore import explore_device
    from llamatouch_emulator.virtual import VirtualDevice
    from llamatouch_emulator.worlds import load_named_world

    dev = VirtualDevice(load_named_world("demo"))
    world, stats = explore_device(dev, "com.llamatouch.notes", budget=25)
    assert stats.actions <= 25
    assert stats.states >= 3 and stats.transitions >= 3
    assert all(t.source in world.states and t.target in world.states for t in world.transitions)
    saved = load_world(world.save(tmp_path / "explored"))
    mem = build_from_world(saved, "com.llamatouch.notes", template_describer,
                           get_encoder().encode)
    assert mem.entries
    start = saved.app("com.llamatouch.notes")
    assert start is not None
    assert all(e.path[0].state == start.start_state for e in mem.entries)
