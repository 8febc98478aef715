"""The executor contract's shared pieces (no device, no model): how a worker's death is
described and accounted, and that work items and outcomes cross process boundaries."""

from __future__ import annotations

import pickle
import signal
from pathlib import Path

from llamatouch.agent import AgentOptions
from llamatouch.procutil import describe_exit
from llamatouch.runner import (
    EpisodeOutcome,
    EpisodeSpec,
    EpisodeWork,
    RegistryAgentFactory,
    WorkerContext,
)
from llamatouch.runner.devices import DeviceSlot
from llamatouch.runner.executor import after_worker_death
from llamatouch.tasks import load_suite
from llamatouch.trace.format import read_trace
from llamatouch.trace.records import EpisodeStatus


def _context(tmp_path: Path, retries: int) -> WorkerContext:
    return WorkerContext(
        agent_factory=RegistryAgentFactory("random"),
        agent_options=AgentOptions(seed=3),
        agent_label="random",
        oracle=False,
        device_factory=DeviceSlot,
        device_specs=("virtual", "virtual"),
        trace_root=str(tmp_path / "traces"),
        infra_retries=retries,
    )


def _work() -> EpisodeWork:
    task = load_suite("demo").get("contacts-call-alice")
    return EpisodeWork(EpisodeSpec("contacts-call-alice__random__t0", task, "demo", 0, 8, "demo"))


def test_describe_exit_names_the_signal() -> None:
    assert describe_exit(-signal.SIGSEGV) == "killed by signal SIGSEGV (11)"
    assert describe_exit(-signal.SIGKILL) == "killed by signal SIGKILL (9)"
    assert describe_exit(3) == "exited with code 3"
    assert "unknown" in describe_exit(None)


def test_a_worker_death_costs_one_attempt_then_is_a_final_crash(tmp_path: Path) -> None:
    context = _context(tmp_path, retries=1)
    first = after_worker_death(_work(), context, describe_exit(-signal.SIGSEGV))
    assert isinstance(first, EpisodeWork)
    assert first.attempts_before == 1
    assert first.failures_before == ("worker killed by signal SIGSEGV (11) at step 0",)
    final = after_worker_death(first, context, describe_exit(-signal.SIGABRT))
    assert isinstance(final, EpisodeOutcome)
    assert final.status == EpisodeStatus.CRASH and final.attempts == 2
    assert "SIGABRT" in final.error and "SIGSEGV" in final.error
    # no trace had been written: a manifest naming the crash is
    manifest = read_trace(tmp_path / "traces" / final.episode_id).manifest
    assert manifest.status == EpisodeStatus.CRASH and manifest.error == final.error
    assert manifest.agent == {"name": "random", "oracle": False}
    assert manifest.usage.infra_attempts == 2


def test_no_retry_budget_means_the_first_death_is_final(tmp_path: Path) -> None:
    out = after_worker_death(_work(), _context(tmp_path, retries=0), "exited with code 0")
    assert isinstance(out, EpisodeOutcome) and out.status == "crash"


def test_work_context_and_outcomes_pickle(tmp_path: Path) -> None:
    context = _context(tmp_path, retries=2)
    work = _work().retried("worker killed by signal SIGSEGV (11) at step 1")
    outcome = EpisodeOutcome(work.spec.episode_id, EpisodeStatus.FINISHED, 3, 2, "", 1)
    for obj in (context, work, outcome):
        assert pickle.loads(pickle.dumps(obj)) == obj


def test_an_unpicklable_factory_is_a_clear_error(tmp_path: Path) -> None:
    import pytest

    from llamatouch.runner import EvalConfig, LocalProcessExecutor, WorkerError, run_eval
    from llamatouch_agents.random_agent import RandomAgent

    with pytest.raises(WorkerError, match="InProcessExecutor"):
        run_eval(
            EvalConfig(agent="random", out=tmp_path / "run", devices=("virtual",),
                       task_ids=("contacts-call-alice",)),
            agent_factory=lambda options: RandomAgent(options),
            executor=LocalProcessExecutor(),
        )
