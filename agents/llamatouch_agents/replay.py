"""``replay``: replays a task's ground-truth actions (an end-to-end check of the testbed).

On the virtual device, replaying a task whose ground-truth trace replays must score
``success``: it exercises devices, traces and the evaluator together.

It is the one built-in *oracle* agent: its class sets ``oracle = True``, so the runner hands it
the task's ground truth (:attr:`llamatouch.agent.AgentTask.ground_truth`) and marks its runs as
oracle runs in ``run.json``, the results, the summary and the report.
"""

from __future__ import annotations

from llamatouch.actions import Action, Finish, action_from_json
from llamatouch.agent import (
    Agent,
    AgentFailure,
    AgentOptions,
    AgentStep,
    AgentTask,
    DeviceCapabilities,
    StepHistory,
)
from llamatouch.device.base import Observation
from llamatouch.errors import ActionError


class ReplayAgent(Agent):
    """Returns the ground-truth actions one by one, then ``finish``.

    A task without ground-truth actions, or with an action that does not parse, is an agent
    failure (with the offending action as evidence), never a crash.
    """

    name = "replay"
    oracle = True

    def __init__(self, options: AgentOptions | None = None) -> None:
        super().__init__(options)
        self._actions: list[Action] = []
        self._task_id = ""

    def reset(self, task: AgentTask, capabilities: DeviceCapabilities) -> None:
        self._task_id = task.id
        self._actions = []
        truth = task.ground_truth
        if truth is None:
            raise AgentFailure(
                f"task {task.id!r}: no ground truth was handed over (the agent class must set "
                "oracle = True)"
            )
        if not truth.actions:
            raise AgentFailure(f"task {task.id!r} has no ground-truth actions to replay")
        for i, raw in enumerate(truth.actions):
            try:
                self._actions.append(action_from_json(dict(raw)))
            except ActionError as exc:
                raise AgentFailure(
                    f"task {task.id!r}: gt_actions[{i}] is not a valid action: {exc}",
                    {"gt_action": dict(raw)},
                ) from exc

    def step(self, observation: Observation, history: list[StepHistory]) -> AgentStep:
        i = len(history)
        if i >= len(self._actions):
            return AgentStep(Finish(), "ground truth exhausted", description="finish")
        action = self._actions[i]
        return AgentStep(
            action, f"ground-truth action {i} of {self._task_id}", description=action.kind
        )
