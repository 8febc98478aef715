"""The worker side of an eval: one agent and one device slot, running episodes one at a time.

:class:`EpisodeWorker` is what every executor runs inside its workers (a local process, a Ray
actor...): it builds the agent and the device lazily from a picklable :class:`WorkerContext`,
runs an :class:`~llamatouch.runner.work.EpisodeWork` with its infrastructure retries, scores the
trace, and returns an :class:`~llamatouch.runner.work.EpisodeOutcome`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from llamatouch.agent import Agent, AgentOptions, DeviceCapabilities
from llamatouch.agent_registry import create_agent
from llamatouch.device.base import Device
from llamatouch.errors import DeviceError, LLMUnavailableError
from llamatouch.llm.on_device import device_port
from llamatouch.runner.env import EpisodeEnv, InfraFailure
from llamatouch.runner.episode import agent_info, run_episode
from llamatouch.runner.on_device import OnDeviceLLM
from llamatouch.runner.recorder import note_earlier_failures, note_on_device, record_unrun
from llamatouch.runner.scorer import Scorer, score_into
from llamatouch.runner.work import EpisodeOutcome, EpisodeStatus, EpisodeWork

log = logging.getLogger(__name__)

#: Seconds to wait before re-running an episode whose LLM service was unavailable (doubled at
#: each further attempt, at most :data:`SERVICE_RETRY_MAX_S`): the backend already retried with
#: its own back-off; this gives a short outage time to end before the episode starts over.
SERVICE_RETRY_WAIT_S = 2.0
SERVICE_RETRY_MAX_S = 30.0


class DeviceProvider(Protocol):
    """The device of one worker (:class:`llamatouch.runner.devices.DeviceSlot` is the default)."""

    def acquire(self, task_world: str) -> tuple[Device, DeviceCapabilities]:
        """The device to run a task of ``task_world`` on (connected on first use)."""

    def reset_to(self, task_world: str, start_state: str, package: str) -> None:
        """Put the device at a task's start."""

    def recover(self) -> None:
        """After an infrastructure failure: drop the connections (reopened on next use)."""

    def close(self) -> None:
        """Release everything."""


class DeviceFactory(Protocol):
    """Builds a worker's :class:`DeviceProvider` (must be picklable: it crosses processes).

    Called as ``factory(spec, index, world_base, seed)`` with the worker's ``--device`` spec,
    its index, the folder worlds are resolved against (``None``: shipped worlds only) and the
    run's seed. The class :class:`~llamatouch.runner.devices.DeviceSlot` is the default.
    """

    def __call__(
        self, spec: str, index: int, world_base: Path | None, seed: int
    ) -> DeviceProvider: ...


class AgentFactory(Protocol):
    """Builds a worker's agent from the run's options (must be picklable)."""

    def __call__(self, options: AgentOptions) -> Agent: ...


@dataclass(frozen=True, slots=True)
class RegistryAgentFactory:
    """The default agent factory: the agent named by ``spec`` (see
    :mod:`llamatouch.agent_registry`).

    Attributes:
        spec: a built-in name, an entry-point name, or ``path/file.py:Class``.
    """

    spec: str

    def __call__(self, options: AgentOptions) -> Agent:
        return create_agent(self.spec, options)


@dataclass(frozen=True, slots=True)
class WorkerContext:
    """What every worker of a run needs (picklable; the same for all workers).

    Attributes:
        agent_factory: builds the worker's agent (once, reused across episodes).
        agent_options: the options it is built with.
        agent_label: the agent's name in episode ids (for traces the driver writes).
        oracle: the agent class declares it needs the ground truth.
        device_factory: builds the worker's device slot.
        device_specs: one ``--device`` spec per worker (the executor runs that many workers).
        trace_root: the run's ``traces/`` folder (one sub-folder per episode).
        world_base: folder worlds are resolved against (``""``: shipped worlds only).
        seed: the run's seed (virtual devices).
        record_packages: record installed packages at every step.
        infra_retries: retries of an episode after an infrastructure failure or a worker crash
            (one budget for both: ``infra_retries + 1`` attempts in all).
        annotations: the annotations folder (``""``: every episode is unscored).
        require_completion: the evaluator demands that the agent declared completion.
        allow_shared_screen: the evaluator lets one screen satisfy consecutive checkpoints.
        skip_types: primitive types the evaluator ignores.
    """

    agent_factory: AgentFactory
    agent_options: AgentOptions
    agent_label: str
    oracle: bool
    device_factory: DeviceFactory
    device_specs: tuple[str, ...]
    trace_root: str
    world_base: str = ""
    seed: int = 0
    record_packages: bool = True
    infra_retries: int = 2
    annotations: str = ""
    require_completion: bool = False
    allow_shared_screen: bool = False
    skip_types: tuple[str, ...] = ()

    def driver_agent_info(self) -> dict[str, object]:
        """The manifest's ``agent`` object for traces the driver writes (no agent at hand)."""
        return {"name": self.agent_label, "oracle": self.oracle}


class EpisodeWorker:
    """Runs episodes for worker ``index`` of ``context`` (agent and device built on first use).

    Call :meth:`run` for each work item, then :meth:`close`.
    """

    def __init__(self, context: WorkerContext, index: int) -> None:
        self.context = context
        self.index = index
        self._agent: Agent | None = None
        self._agent_options = context.agent_options
        self._slot: DeviceProvider | None = None
        self._scorer: Scorer | None = None
        port = device_port(context.agent_options.model)
        #: ``--model device:PORT``: the model server on each episode's device
        self._on_device = OnDeviceLLM(port) if port is not None else None

    def _get_agent(self, options: AgentOptions | None = None) -> Agent:
        """The worker's agent, built with ``options`` (default: the run's); rebuilt when they
        change (an on-device model behind another forward)."""
        options = options or self._agent_options
        if self._agent is not None and options != self._agent_options:
            self._agent.close()
            self._agent = None
        if self._agent is None:
            self._agent = self.context.agent_factory(options)
            self._agent_options = options
        return self._agent

    def _agent_for(self, device: Device) -> Agent:
        """The agent for an episode on ``device`` (with ``--model device:PORT``: talking to
        the model server on that device, through an adb forward)."""
        if self._on_device is None:
            return self._get_agent()
        return self._get_agent(self._on_device.options_for(device, self.context.agent_options))

    def _get_slot(self) -> DeviceProvider:
        if self._slot is None:
            c = self.context
            base = Path(c.world_base) if c.world_base else None
            self._slot = c.device_factory(c.device_specs[self.index], self.index, base, c.seed)
        return self._slot

    def _get_scorer(self) -> Scorer:
        if self._scorer is None:
            c = self.context
            folder = Path(c.annotations) if c.annotations else None
            self._scorer = Scorer(folder, require_completion=c.require_completion,
                                  allow_shared_screen=c.allow_shared_screen,
                                  skip_types=c.skip_types)
        return self._scorer

    def run(self, work: EpisodeWork) -> EpisodeOutcome:
        """Run ``work`` (retrying infrastructure failures on a recovered device), score it."""
        spec, c = work.spec, self.context
        trace_dir = Path(c.trace_root) / spec.episode_id
        slot = self._get_slot()
        failures = list(work.failures_before)
        attempt = work.attempts_before
        while attempt <= c.infra_retries:
            try:
                device, caps = slot.acquire(spec.world)
                agent = self._agent_for(device)
                env = EpisodeEnv(
                    device,
                    lambda t: slot.reset_to(spec.world, t.start_state, t.app),
                    record_packages=c.record_packages,
                )
                link = self._on_device
                before = link.state(device) if link is not None else None
                end = run_episode(spec, agent, env, caps, trace_dir, infra_attempts=attempt)
                if link is not None:
                    on_device = replace(link.usage(device), start=before,
                                        end=link.state(device))
                    note_on_device(trace_dir, on_device)
            except (InfraFailure, DeviceError, LLMUnavailableError) as exc:
                failures.append(str(exc))
                attempt += 1
                log.warning(
                    "episode %s: infrastructure failure (attempt %d of %d): %s",
                    spec.episode_id, attempt, c.infra_retries + 1, exc,
                )
                if isinstance(exc, DeviceError) or (isinstance(exc, InfraFailure) and exc.device):
                    slot.recover()
                elif attempt <= c.infra_retries:
                    retries_so_far = attempt - work.attempts_before - 1
                    time.sleep(min(SERVICE_RETRY_MAX_S, SERVICE_RETRY_WAIT_S * 2**retries_so_far))
                continue
            note_earlier_failures(trace_dir, failures)
            score_into(self._get_scorer(), trace_dir, spec.task.id)
            return EpisodeOutcome(
                spec.episode_id, end.status, end.steps, attempt + 1, end.error, self.index
            )
        error = f"after {attempt} attempt(s): {failures[-1] if failures else 'no attempt'}"
        steps = record_unrun(
            trace_dir, spec, agent_info(self._get_agent()), EpisodeStatus.INFRA_ERROR, error,
            attempt,
        )
        return EpisodeOutcome(
            spec.episode_id, EpisodeStatus.INFRA_ERROR, steps, attempt, error, self.index
        )

    def close(self) -> None:
        """Close the agent and release the devices."""
        try:
            if self._agent is not None:
                self._agent.close()
        finally:
            self._agent = None
            try:
                if self._on_device is not None:
                    self._on_device.close()  # before the devices (and their adb servers) go
            finally:
                if self._slot is not None:
                    self._slot.close()
                self._slot = None
