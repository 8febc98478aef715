"""``replay``: replays a task's ground-truth actions (an end-to-end check of the testbed).

On the virtual device, replaying a task whose ground-truth trace replays must score
``success``: it exercises devices, traces and the evaluator together.
"""

from __future__ import annotations

from llamatouch.actions import Action, Finish, action_from_json
from llamatouch.agent import (
    Agent,
    AgentFailure,
    AgentOptions,
    AgentStep,
    DeviceCapabilities,
    StepHistory,
)
from llamatouch.device.base import Observation
from llamatouch.errors import ActionError
from llamatouch.tasks import Task


class ReplayAgent(Agent):
    """Returns ``task.gt_actions`` one by one, then ``finish``.

    A task without ground-truth actions, or with an action that does not parse, is an agent
    failure (with the offending action as evidence), never a crash.
    """

    name = "replay"

    def __init__(self, options: AgentOptions | None = None) -> None:
        super().__init__(options)
        self._actions: list[Action] = []
        self._task_id = ""

    def reset(self, task: Task, capabilities: DeviceCapabilities) -> None:
        self._task_id = task.id
        self._actions = []
        if not task.gt_actions:
            raise AgentFailure(f"task {task.id!r} has no ground-truth actions to replay")
        for i, raw in enumerate(task.gt_actions):
            try:
                self._actions.append(action_from_json(raw))
            except ActionError as exc:
                raise AgentFailure(
                    f"task {task.id!r}: gt_actions[{i}] is not a valid action: {exc}",
                    {"gt_action": raw},
                ) from exc

    def step(self, observation: Observation, history: list[StepHistory]) -> AgentStep:
        i = len(history)
        if i >= len(self._actions):
            return AgentStep(Finish(), "ground truth exhausted", description="finish")
        action = self._actions[i]
        return AgentStep(
            action, f"ground-truth action {i} of {self._task_id}", description=action.kind
        )
