"""llamatouch.testing: the doubles agent authors get with the package."""

from __future__ import annotations

from pathlib import Path

import pytest

from llamatouch.actions import Finish
from llamatouch.agent import Agent, AgentOptions, AgentStep, AgentTask, DeviceCapabilities
from llamatouch.device.base import Observation
from llamatouch.llm.base import ChatMessage
from llamatouch.testing import ScriptedLLM, run_one_episode, virtual_device
from llamatouch_agents.replay import ReplayAgent


class GiveUpAgent(Agent):
    """Declares the task done without doing anything."""

    name = "give-up"

    def reset(self, task: AgentTask, device: DeviceCapabilities) -> None:
        self.task = task

    def step(self, observation: Observation, history: list) -> AgentStep:  # type: ignore[type-arg]
        return AgentStep(Finish(), reasoning="nothing to do")


def test_replay_agent_succeeds_through_run_one_episode(tmp_path: Path) -> None:
    report = run_one_episode(ReplayAgent(AgentOptions()), "clock-new-alarm-0630", out=tmp_path)
    assert report.status == "finished"
    assert report.verdict == "success", report.reason
    assert report.steps == len(report.trace) >= 2
    assert (tmp_path / report.trace.root.name / "manifest.json").is_file()


def test_an_agent_that_gives_up_fails_with_a_reason(tmp_path: Path) -> None:
    report = run_one_episode(GiveUpAgent(AgentOptions()), "contacts-call-alice", out=tmp_path)
    assert report.status == "finished"
    assert report.verdict == "fail"
    assert report.reason


def test_the_agent_is_told_the_enforced_limit_and_never_the_answers(tmp_path: Path) -> None:
    agent = GiveUpAgent(AgentOptions())
    run_one_episode(agent, "contacts-call-alice", out=tmp_path, max_steps=4)
    assert agent.task.max_steps == 4
    assert agent.task.ground_truth is None


def test_scripted_llm_keeps_prompts_and_repeats_its_last_reply() -> None:
    llm = ScriptedLLM(["first", "second"])
    answers = [llm.complete([ChatMessage("user", f"q{i}")]).text for i in range(3)]
    assert answers == ["first", "second", "second"]
    assert [p[0].content for p in llm.prompts] == ["q0", "q1", "q2"]
    with pytest.raises(ValueError):
        ScriptedLLM([])


def test_virtual_device_serves_the_demo_world() -> None:
    device = virtual_device("demo")
    device.reset("com.llamatouch.clock")
    obs = device.observe()
    assert obs.screen.width == 1080 and obs.activity
