"""Real runs for the report tests: the replay agent on the demo world and on DroidTask (scored,
with evidence) and the random agent on DroidTask (mostly failing), all in process."""

from __future__ import annotations

from pathlib import Path

import pytest

from llamatouch.runner import EvalConfig, run_eval

#: a few DroidTask tasks over several apps (some replay to success, some fail)
DT_TASKS = ("applauncher-task1", "calendar-task11", "calendar-task1", "clock-task1",
            "dialer-task1", "clock-task11")


@pytest.fixture(scope="session")
def droidtask_suite(droidtask_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from llamatouch.datasets.droidtask import import_droidtask

    return import_droidtask(droidtask_dir, tmp_path_factory.mktemp("dt-import")).suite_path


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "demo-replay"
    run_eval(EvalConfig(agent="replay", out=out, tasks="demo", devices=("virtual:demo",)))
    return out


@pytest.fixture(scope="session")
def replay_run(droidtask_suite: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "dt-replay"
    run_eval(EvalConfig(agent="replay", out=out, tasks=str(droidtask_suite), task_ids=DT_TASKS,
                        devices=("virtual",)))
    return out


@pytest.fixture(scope="session")
def random_run(droidtask_suite: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "dt-random"
    run_eval(EvalConfig(agent="random", out=out, tasks=str(droidtask_suite), task_ids=DT_TASKS,
                        devices=("virtual",), max_steps=3))
    return out
