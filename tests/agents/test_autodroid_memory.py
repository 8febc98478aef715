"""AutoDroid's memory paths (query optimisation) never leave the task's screen: the demo fault
where 'clock-new-alarm-0630' replayed 'add alarm' then 'navigate up' from memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llamatouch.agent import AgentOptions, AgentTask, DeviceCapabilities
from llamatouch.embed.minilm import get_encoder
from llamatouch.llm.base import ChatMessage, LLMBackend, LLMResult, LLMUsage
from llamatouch.tasks import load_suite
from llamatouch_agents.autodroid import AutoDroidAgent
from llamatouch_agents.autodroid.memory import (
    NAVIGATE_AWAY,
    build_from_world,
    confident_path,
    template_describer,
)
from llamatouch_emulator.virtual import VirtualDevice
from llamatouch_emulator.worlds import load_named_world


class DescribingLLM(LLMBackend):
    """Writes simulated tasks as the embedded model did in the demo run: the element that
    goes back from the new-alarm form is described as setting an alarm (unit tests only);
    answers 'finished' to step questions."""

    name = "describing"

    def complete(self, messages: list[ChatMessage], **kwargs: Any) -> LLMResult:
        user = messages[-1].content
        if "The user taps:" in user:
            tapped = user.split("The user taps:", 1)[1].split("\n", 1)[0].lower()
            text = ("Set a new alarm for 06:30" if "navigate up" in tapped
                    else "Look at this screen")
        else:
            text = '{"finished": true, "element": "go back", "text": ""}'
        return LLMResult(text, LLMUsage(1, 1, 0, 0.0, 0.0, 0.0), "describing", "stop")


def test_memory_has_no_navigate_away_entries_and_paths_never_loop() -> None:
    world = load_named_world("demo")
    for app in ("com.llamatouch.clock", "com.llamatouch.notes"):
        mem = build_from_world(world, app, template_describer, get_encoder().encode)
        assert mem.entries
        assert not any(NAVIGATE_AWAY.match(e.label) for e in mem.entries)
        for e in mem.entries:
            assert e.path[-1].label == e.label  # the path ends at the element itself
            states = [p.state for p in e.path]
            assert len(states) == len(set(states))  # no screen passed twice
            if e.path_ok:
                assert e.target_state not in {world.app(app).start_state, *states}  # type: ignore[union-attr]


def test_demo_fault_add_alarm_then_navigate_up_is_not_replayed(tmp_path: Path) -> None:
    """The LLM describer ranks the 'navigate up' element first for the alarm task, as in the
    demo run; the agent's memory path must still stop at 'add alarm' (then the model asks)."""
    task = load_suite("demo").get("clock-new-alarm-0630")
    world = load_named_world("demo")
    agent = AutoDroidAgent(
        AgentOptions(memory_dir=str(tmp_path / "mem"), params={"describer": "llm"}),
        llm=DescribingLLM(),
    )
    mem = agent.memory_for_world(world, task.app)
    assert mem is not None
    q = get_encoder().encode([task.instruction])[0]
    hits = mem.retrieve(q, 0.0, top_k=5)
    assert all("navigate up" not in h.entry.label for h in hits)
    path = confident_path(hits, 0.0)
    assert path and all(not NAVIGATE_AWAY.match(p.label) for p in path)
    # through the agent on the virtual device: memory steps, then the model; never 'navigate up'
    dev = VirtualDevice(world)
    dev.reset(task.app)
    caps = DeviceCapabilities("virtual:demo", "virtual", 1080, 2280, True, "demo")
    agent.reset(AgentTask.from_task(task, max_steps=6, world="demo"), caps)
    steps = []
    for _ in range(4):
        step = agent.step(dev.observe(), [])
        steps.append(step)
        if step.action.kind == "finish":
            break
        dev.act(step.action)
    memory_steps = [s for s in steps if s.extra.get("memory_path")]
    assert all("navigate up" not in s.description for s in memory_steps)
    assert all("navigate up" not in s.description for s in steps)
