"""Run an eval on a Ray cluster: one actor per device, placed on the node that holds it.

The cluster's nodes advertise their devices as custom resources (:mod:`llamatouch.runner.ray_pool`;
``docs/scale-out.md`` gives the ``ray start`` commands). :class:`RayExecutor` creates one actor
per device that some episode fits, each pinned to its node and holding one unit of its
device's resource, and each wrapping an :class:`~llamatouch.runner.worker.EpisodeWorker` (the
agent and its LLM backend are built once per actor, on its first episode). An episode goes to a
free device that fits it (its world, or its app on a phone); one episode per device at a time.

Traces (``trace_store``):

- ``"driver"`` (default): the actor writes the episode into a node-local temporary folder and
  sends it back packed with the outcome; the driver installs it atomically into
  ``<run>/traces/`` (:mod:`llamatouch.runner.trace_pack`). No shared file system needed.
- ``"shared"``: the actors write straight into ``<run>/traces/``: the run folder must be on a
  file system every node mounts at the same path.

Failures: an actor that dies with an episode in hand (its process crashed, its node was lost)
costs that episode one attempt (:func:`~llamatouch.runner.executor.after_worker_death`; Ray's
own actor and task retries are off) and the episode goes to another device when one fits. A
device whose actor died ``max_deaths`` times, and every device of a lost node, is taken out of
the pool for the rest of the run (:attr:`RayExecutor.retired`; logged). Episodes that no live
device fits any more end as infrastructure failures (re-run by ``--resume``).

The driver owns the actors: when it is killed, Ray ends them, and an episode whose trace was
not installed yet has no finished trace on disk, so ``--resume`` (with either executor) runs it
again; installed traces are complete, so nothing is done twice.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
import traceback
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from llamatouch.runner.executor import Executor, WorkerError, after_worker_death
from llamatouch.runner.ray_pool import (
    PoolDevice,
    choose,
    devices_of_nodes,
    node_resources,
    virtual_kind,
)
from llamatouch.runner.recorder import record_unrun
from llamatouch.runner.trace_pack import clear_incoming, install, pack
from llamatouch.runner.work import EpisodeOutcome, EpisodeStatus, EpisodeWork
from llamatouch.runner.worker import EpisodeWorker, WorkerContext

log = logging.getLogger(__name__)

#: Where traces are written: shipped back to the driver, or straight into a shared run folder.
TRACE_STORES = ("driver", "shared")
#: Deaths of one device's actor after which the device leaves the pool for the run.
MAX_DEATHS = 2
#: Seconds the cluster gets to notice that a dead actor's node is gone (before the death is put
#: on the device's account).
NODE_CHECK_S = 3.0
#: Seconds idle actors get to close their devices when the run ends before they are killed.
CLOSE_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class RetiredDevice:
    """A device taken out of the pool during a run.

    Attributes:
        device: which device (node and serial / world slot).
        reason: why (``"actor died 2 times: ..."``, ``"node lost"``).
    """

    device: str
    reason: str


class RayExecutor(Executor):
    """Runs episodes on the devices of a Ray cluster (see the module docstring).

    Args:
        address: the cluster: ``None`` starts a private single-node Ray instance on this
            machine holding the run's ``--device`` specs; ``"auto"`` joins the cluster this
            machine is part of (``ray start`` was run here); ``"ray://HOST:PORT"`` connects
            through Ray Client. Ignored when Ray is already initialised in this process.
        trace_store: ``"driver"`` (traces shipped back and written by the driver) or
            ``"shared"`` (actors write into the run folder on a shared file system).
        max_workers: at most this many device actors (``None``: one per fitting device).
        max_deaths: deaths of a device's actor after which the device is retired.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        trace_store: str = "driver",
        max_workers: int | None = None,
        max_deaths: int = MAX_DEATHS,
    ) -> None:
        if trace_store not in TRACE_STORES:
            raise ValueError(f"trace_store must be one of {TRACE_STORES}, not {trace_store!r}")
        self.address = address
        self.trace_store = trace_store
        self.max_workers = max_workers
        self.max_deaths = max(1, max_deaths)
        #: devices taken out of the pool during the last run
        self.retired: list[RetiredDevice] = []
        #: the device that gave each episode's final outcome in the last run (by episode id)
        self.placements: dict[str, PoolDevice] = {}

    def run(
        self, work: Sequence[EpisodeWork], context: WorkerContext
    ) -> Iterator[EpisodeOutcome]:
        self.retired = []
        self.placements = {}
        if not work:
            return
        import ray

        if self.trace_store == "driver":
            clear_incoming(Path(context.trace_root).parent)  # a killed driver's leftovers
        started = _connect(self.address, context)
        slots: list[_Slot] = []
        try:
            devices = choose(
                devices_of_nodes(ray.nodes()), [w.spec for w in work], self.max_workers
            )
            kind = virtual_kind(context.device_specs)
            ctx = replace(context, device_specs=tuple(d.device_spec(kind) for d in devices))
            slots = [_Slot(i, d) for i, d in enumerate(devices)]
            log.info("ray: %d device actor(s) on %d node(s)", len(slots),
                     len({d.node_id for d in devices}))
            yield from self._loop(deque(work), slots, ctx)
        finally:
            _stop_all(slots)
            if started:
                ray.shutdown()
        if self.trace_store == "driver":
            clear_incoming(Path(context.trace_root).parent)

    def _loop(
        self, pending: deque[EpisodeWork], slots: list[_Slot], ctx: WorkerContext
    ) -> Iterator[EpisodeOutcome]:
        import ray

        ship = self.trace_store == "driver"
        avoid: dict[str, set[int]] = {}
        while pending or any(s.ref is not None for s in slots):
            self._hand_out(pending, slots, ctx, ship, avoid)
            busy = {s.ref: s for s in slots if s.ref is not None}
            if not busy:  # what is left fits no live device
                while pending:
                    yield _no_device(pending.popleft(), ctx, self.retired)
                return
            ready, _ = ray.wait(list(busy), num_returns=1)
            done = [self._collect(busy[ref], slots, ctx, pending, avoid) for ref in ready]
            # the freed devices start their next episode while the driver installs the traces
            self._hand_out(pending, slots, ctx, ship, avoid)
            for got in done:
                if got is None:
                    continue
                outcome, data = got
                if data:
                    install(data, Path(ctx.trace_root), outcome.episode_id)
                yield outcome

    @staticmethod
    def _hand_out(pending: deque[EpisodeWork], slots: list[_Slot], ctx: WorkerContext,
                  ship: bool, avoid: dict[str, set[int]]) -> None:
        for item in list(pending):
            slot = _free_slot(slots, item, avoid.get(item.spec.episode_id, set()))
            if slot is not None:
                pending.remove(item)
                slot.give(item, ctx, ship)

    def _collect(
        self,
        slot: _Slot,
        slots: list[_Slot],
        ctx: WorkerContext,
        pending: deque[EpisodeWork],
        avoid: dict[str, set[int]],
    ) -> tuple[EpisodeOutcome, bytes] | None:
        """The finished item's outcome and packed trace, or ``None`` (its actor died and the
        item was queued again; a final crash outcome comes with no trace to install)."""
        import ray
        from ray.exceptions import RayError, RayTaskError

        item, ref = slot.item, slot.ref
        assert item is not None and ref is not None
        slot.item, slot.ref = None, None
        try:
            kind, payload, data = ray.get(ref)
        except RayTaskError as exc:  # the actor method itself failed: a bug
            raise WorkerError(f"worker {slot.index}: {exc}") from exc
        except RayError as exc:  # the actor (or its node, or its result) is gone
            follow = self._death(slot, slots, ctx, item, exc, pending, avoid)
            return None if follow is None else (follow, b"")
        if kind == "error":
            raise WorkerError(f"worker {slot.index} ({slot.device.label}): {payload}")
        assert isinstance(payload, EpisodeOutcome)
        self.placements[payload.episode_id] = slot.device
        return payload, data

    def _death(
        self,
        slot: _Slot,
        slots: list[_Slot],
        ctx: WorkerContext,
        item: EpisodeWork,
        exc: Exception,
        pending: deque[EpisodeWork],
        avoid: dict[str, set[int]],
    ) -> EpisodeOutcome | None:

        death = _describe_death(exc)
        slot.drop_actor()
        if _node_lost(slot.device.node_id):
            for s in slots:
                if s.device.node_id == slot.device.node_id and not s.retired:
                    self._retire(s, "node lost")
        else:
            slot.deaths += 1
            if slot.deaths >= self.max_deaths:
                self._retire(slot, f"its actor died {slot.deaths} times (last: {death})")
        log.warning("ray: %s %s while running %s", slot.device.label, death,
                    item.spec.episode_id)
        avoid.setdefault(item.spec.episode_id, set()).add(slot.index)
        follow = after_worker_death(item, ctx, death)
        if isinstance(follow, EpisodeWork):
            pending.appendleft(follow)
            return None
        return follow

    def _retire(self, slot: _Slot, reason: str) -> None:
        slot.retired = reason
        self.retired.append(RetiredDevice(slot.device.label, reason))
        log.warning("ray: device %s taken out of the pool: %s", slot.device.label, reason)


@dataclass(slots=True)
class _Slot:
    """A device of the run seen from the driver: its actor and the item it runs."""

    index: int
    device: PoolDevice
    actor: Any = None
    item: EpisodeWork | None = None
    ref: Any = None
    deaths: int = 0
    retired: str = ""
    stale: list[Any] = field(default_factory=list)

    def give(self, item: EpisodeWork, ctx: WorkerContext, ship: bool) -> None:
        if self.actor is None:
            self.actor = _start_actor(self.index, self.device, ctx, ship)
        self.item = item
        self.ref = self.actor.run.remote(item)

    def drop_actor(self) -> None:
        if self.actor is not None:
            self.stale.append(self.actor)
        self.actor = None


def _free_slot(slots: list[_Slot], item: EpisodeWork, avoid: set[int]) -> _Slot | None:
    """A free live device that fits ``item``, preferring one it has not died on."""
    fitting = [s for s in slots if not s.retired and s.ref is None and s.device.fits(item.spec)]
    fresh = [s for s in fitting if s.index not in avoid]
    if fresh:
        return fresh[0]
    # a device it died on is used only when no other live device fits it at all
    others = [s for s in slots if not s.retired and s.device.fits(item.spec)
              and s.index not in avoid]
    return fitting[0] if fitting and not others else None


def _no_device(
    item: EpisodeWork, ctx: WorkerContext, retired: list[RetiredDevice]
) -> EpisodeOutcome:
    """The infrastructure failure of an item no live device fits any more."""
    why = "; ".join(f"{r.device}: {r.reason}" for r in retired) or "none in the cluster"
    error = f"no live device fits it (retired: {why})"
    attempts = max(1, item.attempts_before)
    steps = record_unrun(
        Path(ctx.trace_root) / item.spec.episode_id,
        item.spec,
        ctx.driver_agent_info(),
        EpisodeStatus.INFRA_ERROR,
        error,
        attempts,
        keep_steps=True,
    )
    return EpisodeOutcome(item.spec.episode_id, EpisodeStatus.INFRA_ERROR, steps, attempts, error)


def _node_lost(node_id: str, wait_s: float = NODE_CHECK_S) -> bool:
    """Whether the node is gone (the cluster may take a moment to notice a lost node)."""
    import ray

    deadline = time.monotonic() + wait_s
    while True:
        alive = {str(n.get("NodeID")) for n in ray.nodes() if n.get("Alive")}
        if node_id not in alive:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.25)


def _describe_death(exc: Exception) -> str:
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    return f"died (Ray: {type(exc).__name__}: {first[:200]})"


def _connect(address: str | None, context: WorkerContext) -> bool:
    """Initialise Ray unless it already is; ``True`` when this call started it."""
    import ray

    if ray.is_initialized():
        return False
    if address is None:
        ray.init(
            resources=node_resources(context.device_specs),
            include_dashboard=False,
            configure_logging=False,
        )
    else:
        ray.init(address=address, configure_logging=False)
    return True


def _start_actor(index: int, device: PoolDevice, ctx: WorkerContext, ship: bool) -> Any:
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    actor_cls = _actor_class()
    try:
        return actor_cls.options(
            num_cpus=0,
            resources={device.resource: 1},
            scheduling_strategy=NodeAffinitySchedulingStrategy(device.node_id, soft=False),
            max_restarts=0,
            max_task_retries=0,
            name=None,
        ).remote(ctx, index, ship, _log_level())
    except (TypeError, AttributeError, ray.exceptions.RaySystemError) as exc:
        raise WorkerError(
            f"worker {index}: the run's agent/device factory cannot be sent to a Ray actor "
            f"({exc}); use a module-level callable"
        ) from exc


def _stop_all(slots: list[_Slot]) -> None:
    """Close idle actors' devices (bounded wait), then end every actor."""
    import ray

    closing = [s.actor.close.remote() for s in slots if s.actor is not None and s.ref is None]
    if closing:
        with contextlib.suppress(Exception):
            ray.wait(closing, num_returns=len(closing), timeout=CLOSE_TIMEOUT_S)
    for s in slots:
        for actor in [*s.stale, *([s.actor] if s.actor is not None else [])]:
            with contextlib.suppress(Exception):
                ray.kill(actor, no_restart=True)
        s.actor, s.stale, s.ref, s.item = None, [], None, None


def _log_level() -> int:
    return logging.getLogger().getEffectiveLevel()


# -- inside the actor ---------------------------------------------------------------------------
class DeviceActor:
    """One device's worker inside a Ray actor (its node-local trace folder when shipping)."""

    def __init__(self, context: WorkerContext, index: int, ship: bool, log_level: int) -> None:
        logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s")
        self.local_root = ""
        if ship:
            self.local_root = tempfile.mkdtemp(prefix=f"llamatouch-ray-{os.getpid()}-",
                                               dir=_scratch_dir())
            context = replace(context, trace_root=self.local_root)
        self.context = context
        self.worker = EpisodeWorker(context, index)

    def run(self, item: EpisodeWork) -> tuple[str, EpisodeOutcome | str, bytes]:
        """``("done", outcome, packed trace or b"")`` or ``("error", message, b"")``."""
        try:
            outcome = self.worker.run(item)
        except Exception as exc:  # a bug outside the episode's accounting: stop the run
            tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            log.error("worker %d: %s", self.worker.index, tb)
            return "error", f"{type(exc).__name__}: {exc}", b""
        data = b""
        if self.local_root:
            folder = Path(self.local_root) / item.spec.episode_id
            if folder.is_dir():
                data = pack(folder)
                shutil.rmtree(folder, ignore_errors=True)
        return "done", outcome, data

    def close(self) -> None:
        """Close the agent and the device; remove the node-local trace folder."""
        try:
            self.worker.close()
        finally:
            if self.local_root:
                shutil.rmtree(self.local_root, ignore_errors=True)


def _scratch_dir() -> str | None:
    """Where an actor writes traces before shipping them: ``$LLAMATOUCH_RAY_SCRATCH``, else
    ``/dev/shm`` when writable (memory: the fsyncs of the trace writer cost nothing there, and
    the driver's install is what makes the trace durable), else the system's temp folder."""
    chosen = os.environ.get("LLAMATOUCH_RAY_SCRATCH", "")
    if chosen:
        return chosen
    shm = Path("/dev/shm")  # noqa: S108 - a private mkdtemp folder (0700) is made inside
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


_ACTOR: Any = None


def _actor_class() -> Any:
    global _ACTOR
    if _ACTOR is None:
        import ray

        _ACTOR = ray.remote(max_restarts=0, max_task_retries=0)(DeviceActor)
    return _ACTOR
