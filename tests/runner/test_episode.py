"""One episode, in process, on the virtual device (no worker processes): the environment side
classifies device problems, the loop records agent failures, and an unavailable LLM is an
infrastructure failure even when the agent wrapped it."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from llamatouch.actions import Finish, Tap
from llamatouch.agent import Agent, AgentFailure, AgentStep, AgentTask, DeviceCapabilities
from llamatouch.errors import LLMError, LLMUnavailableError
from llamatouch.runner.env import EpisodeEnv, InfraFailure
from llamatouch.runner.episode import llm_unavailable, run_episode
from llamatouch.runner.work import EpisodeSpec
from llamatouch.tasks import load_suite
from llamatouch.trace.format import read_trace
from llamatouch_emulator.virtual import FaultConfig, VirtualDevice
from llamatouch_emulator.worlds import load_named_world

TASK = load_suite("demo").get("contacts-call-alice")


def _device(**faults: int) -> VirtualDevice:
    return VirtualDevice(load_named_world("demo"), faults=FaultConfig(**faults))  # type: ignore[arg-type]


def _caps(dev: VirtualDevice) -> DeviceCapabilities:
    w, h = dev.screen_size()
    return DeviceCapabilities(dev.serial, "virtual", w, h, True, "demo")


def _spec(max_steps: int = 8) -> EpisodeSpec:
    return EpisodeSpec(f"{TASK.id}__t__t0", TASK, "demo", 0, max_steps, "demo")


class Scripted(Agent):
    """Answers with ``steps`` in order (an exception in the list is raised)."""

    name = "scripted"

    def __init__(self, steps: list[object]) -> None:
        super().__init__()
        self.steps = steps
        self.seen: AgentTask | None = None

    def reset(self, task: AgentTask, capabilities: DeviceCapabilities) -> None:
        self.seen = task

    def step(self, observation: object, history: list[object]) -> AgentStep:  # type: ignore[override]
        item = self.steps[len(history)]
        if isinstance(item, BaseException):
            raise item
        assert isinstance(item, AgentStep)
        return item


def test_env_classifies_device_and_action_problems() -> None:
    dev = _device()
    env = EpisodeEnv(dev, lambda t: dev.reset(t.app))
    obs = env.reset(TASK)
    assert env.observation is obs and env.index == 0
    outside = env.step(Tap(x=obs.screen.width + 5, y=10))
    assert outside.observation is None and "outside" in outside.invalid
    assert env.index == 0  # an invalid action does not move the episode on
    dev.faults = FaultConfig(drop_after_calls=dev.calls)  # the device vanishes now
    with pytest.raises(InfraFailure) as info:
        env.step(Tap(x=10, y=10))
    assert info.value.device and info.value.step == 0 and "vanished" in str(info.value)


def test_env_step_before_reset_is_a_bug() -> None:
    with pytest.raises(RuntimeError, match="before reset"):
        EpisodeEnv(_device()).step(Finish())


def test_agent_failures_end_the_episode_with_evidence(tmp_path: Path) -> None:
    dev = _device()
    agent = Scripted([AgentStep(Tap(x=1, y=1), "ok"), AgentFailure("no idea", {"answers": ["?"]})])
    env = EpisodeEnv(dev, lambda t: dev.reset(t.app))
    end = run_episode(_spec(), agent, env, _caps(dev), tmp_path / "ep")
    assert end.status == "agent_error" and end.steps == 2 and end.actions == 1
    assert end.error == "agent failed at step 1: no idea"
    trace = read_trace(tmp_path / "ep")
    assert trace.steps[-1].record.extra["agent_evidence"] == {"answers": ["?"]}
    assert trace.manifest.usage.actions == 1 and trace.manifest.usage.device_s > 0
    assert agent.seen is not None and agent.seen.max_steps == 8 and agent.seen.ground_truth is None


def test_an_unavailable_llm_is_an_infrastructure_failure(tmp_path: Path) -> None:
    dev = _device()
    try:
        raise LLMUnavailableError("endpoint down after 3 attempts")
    except LLMUnavailableError as cause:
        try:
            raise AgentFailure("autodroid: the model failed") from cause
        except AgentFailure as wrapped:
            failure = wrapped
    agent = Scripted([AgentStep(Tap(x=1, y=1)), failure])
    env = EpisodeEnv(dev, lambda t: dev.reset(t.app))
    with pytest.raises(InfraFailure) as info:
        run_episode(_spec(), agent, env, _caps(dev), tmp_path / "ep")
    assert not info.value.device and info.value.step == 1
    assert "LLM unavailable at step 1: endpoint down" in str(info.value)


def test_llm_unavailable_finds_the_cause_in_the_chain() -> None:
    def chain(*excs: BaseException) -> BaseException:
        for inner, outer in itertools.pairwise(excs):
            outer.__cause__ = inner
        return excs[-1]

    refused = chain(ConnectionRefusedError(111, "refused"), LLMError("transport"),
                    AgentFailure("step failed"))
    assert isinstance(llm_unavailable(refused), LLMError)
    assert llm_unavailable(chain(LLMUnavailableError("down"), AgentFailure("x"))) is not None
    assert llm_unavailable(AgentFailure("garbage answers")) is None
    assert llm_unavailable(chain(ConnectionRefusedError(), RuntimeError("not an LLM"))) is None
    loop = AgentFailure("loop")
    loop.__cause__ = loop
    assert llm_unavailable(loop) is None
