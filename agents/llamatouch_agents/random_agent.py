"""``random``: a seeded baseline that taps interactive elements or presses back."""

from __future__ import annotations

import hashlib
import random

from llamatouch.actions import Finish, Key, Tap
from llamatouch.agent import (
    Agent,
    AgentOptions,
    AgentStep,
    AgentTask,
    DeviceCapabilities,
    StepHistory,
)
from llamatouch.device.base import Observation

#: Probability of pressing back instead of tapping (override with ``--agent-param back_p=``).
DEFAULT_BACK_P = 0.1


class RandomAgent(Agent):
    """Taps a uniformly chosen visible, enabled, clickable element (or presses back).

    Deterministic for a given ``AgentOptions.seed``, task id and trial (``task.trial``, set by
    the runner): the generator is re-seeded at every :meth:`reset` from them, so an
    episode does not depend on which episodes ran before it on the same worker, and trials
    differ. It never declares completion; the step limit ends its episodes.
    """

    name = "random"

    def __init__(self, options: AgentOptions | None = None) -> None:
        super().__init__(options)
        self.back_p = float(self.options.params.get("back_p", DEFAULT_BACK_P))
        self._rng = random.Random(self.options.seed)

    def reset(self, task: AgentTask, capabilities: DeviceCapabilities) -> None:
        trial = task.trial
        digest = hashlib.sha256(f"{self.options.seed}:{task.id}:{trial}".encode()).digest()
        self._rng = random.Random(int.from_bytes(digest[:8], "big"))

    def step(self, observation: Observation, history: list[StepHistory]) -> AgentStep:
        screen = observation.screen
        targets = [
            n
            for n in screen.nodes
            if n.visible
            and n.enabled
            and (n.clickable or n.checkable or n.long_clickable)
            and n.bounds.area > 0
        ]
        if not targets and not history:
            return AgentStep(Finish(status="infeasible"), "nothing to tap", description="finish")
        if not targets or self._rng.random() < self.back_p:
            return AgentStep(Key("back"), "random: back", description="press back")
        node = self._rng.choice(targets)
        x, y = node.bounds.center
        label = node.label() or node.short_id or node.short_class
        return AgentStep(
            Tap(x=x, y=y, element=screen.key(node)),
            f"random: tap {label!r}",
            description=f"tap {label!r}",
        )
