"""The environment side of an episode: reset the device to a task's start, act, observe.

:class:`EpisodeEnv` owns the device calls of one episode, their timing, and the
classification of what goes wrong on the device side:

- a :class:`~llamatouch.errors.DeviceError` (device lost, timeout, dump failure) is an
  infrastructure failure: raised as :class:`InfraFailure` naming the step, so that the episode
  is retried on a recovered device;
- an :class:`~llamatouch.errors.ActionError` for the agent's action (a tap outside the screen,
  text the device cannot type) is the agent's: :attr:`StepOutcome.invalid` says why;
- an :class:`~llamatouch.errors.ActionError` while resetting (e.g. an unknown start state) means
  the task file is wrong, which is not the agent's fault: an infrastructure failure too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from llamatouch.actions import Action, check_on_screen
from llamatouch.device.base import ActResult, Device, Observation
from llamatouch.errors import ActionError, DeviceError, LlamaTouchError
from llamatouch.tasks import Task


class InfraFailure(LlamaTouchError):
    """An infrastructure failure during an episode (the episode is retried, or reported apart).

    Attributes:
        step: the step index reached when it happened.
        device: the device is at fault (the worker reconnects it before the retry); ``False``
            for a service the agent uses (an unreachable LLM).
    """

    def __init__(self, message: str, step: int, *, device: bool = True) -> None:
        super().__init__(message)
        self.step = step
        self.device = device


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What acting on one observation gave.

    Attributes:
        result: the device's answer (``None`` when the action was invalid).
        observation: the next observation (``None`` when the action was invalid).
        invalid: why the action could not be executed (``""``: it was).
        timings: seconds of this step's device calls (``act``).
        acted_at: wall-clock time the action finished (0 when invalid).
    """

    result: ActResult | None
    observation: Observation | None
    invalid: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    acted_at: float = 0.0


class EpisodeEnv:
    """One episode's device: :meth:`reset` then :meth:`step` until the agent is done.

    Args:
        device: the device (already connected).
        reset_fn: puts the device at a task's start (default: ``device.reset(task.app)``).
        record_packages: record the installed packages at every observation.

    Attributes:
        device_s: seconds spent in device calls so far (reset, observe, act).
        index: the index of the current observation (0 after :meth:`reset`).
        observation: the current observation (``None`` before :meth:`reset`).
    """

    def __init__(
        self,
        device: Device,
        reset_fn: Callable[[Task], None] | None = None,
        *,
        record_packages: bool = True,
    ) -> None:
        self.device = device
        self._reset_fn = reset_fn or (lambda task: device.reset(task.app))
        self.record_packages = record_packages
        self.device_s = 0.0
        self.index = 0
        self.observation: Observation | None = None

    def reset(self, task: Task) -> Observation:
        """Reset the device to ``task``'s start and return the first observation."""
        self.index = 0
        t0 = time.perf_counter()
        try:
            self._reset_fn(task)
        except DeviceError as exc:
            raise InfraFailure(f"reset before step 0: {exc}", 0) from exc
        except ActionError as exc:
            raise InfraFailure(f"reset to the task's start failed: {exc}", 0) from exc
        finally:
            self.device_s += time.perf_counter() - t0
        return self.observe()

    def observe(self) -> Observation:
        """The current screen (an infrastructure failure if the device cannot give it)."""
        t0 = time.perf_counter()
        try:
            self.observation = self.device.observe(with_packages=self.record_packages)
            return self.observation
        except DeviceError as exc:
            msg = f"device failed observing step {self.index}: {exc}"
            raise InfraFailure(msg, self.index) from exc
        finally:
            self.device_s += time.perf_counter() - t0

    def step(self, action: Action) -> StepOutcome:
        """Execute ``action`` (checked against the current screen's size) and observe the next
        screen."""
        if self.observation is None:
            raise RuntimeError("EpisodeEnv.step() before reset()")
        screen = self.observation.screen
        t0 = time.perf_counter()
        try:
            check_on_screen(action, screen.width, screen.height)
            result = self.device.act(action)
        except ActionError as exc:
            return StepOutcome(None, None, str(exc), {"act": time.perf_counter() - t0})
        except DeviceError as exc:
            raise InfraFailure(
                f"device failed acting at step {self.index}: {exc}", self.index
            ) from exc
        finally:
            self.device_s += time.perf_counter() - t0
        act_s = time.perf_counter() - t0
        acted_at = time.time()
        self.index += 1
        return StepOutcome(result, self.observe(), "", {"act": act_s}, acted_at)
