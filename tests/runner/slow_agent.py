"""A replay agent that takes its time (loaded by file:Class in the resume test)."""

from __future__ import annotations

import time

from llamatouch.agent import AgentStep, StepHistory
from llamatouch.device.base import Observation
from llamatouch_agents.replay import ReplayAgent


class SlowReplayAgent(ReplayAgent):
    name = "slow-replay"

    def step(self, observation: Observation, history: list[StepHistory]) -> AgentStep:
        time.sleep(0.3)
        return super().step(observation, history)
