"""The Ray executor on a real multi-node Ray cluster on this machine (``ray.cluster_utils``).

Nodes advertise virtual devices as custom resources (``llamatouch_world:WORLD``); the replay
agent on the demo tasks gives the same verdicts, step for step, as local worker processes;
tasks only go to nodes that hold their world; a node removed mid-run costs no episode; a
killed driver's run resumes on the other executor (Ray → local, local → Ray through the CLI).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# the test cluster's nodes advertise and bind loopback (read by Ray when it is imported)
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
ray = pytest.importorskip("ray")

from ray.cluster_utils import Cluster  # noqa: E402

from llamatouch.runner import EvalConfig, LocalProcessExecutor, run_eval  # noqa: E402
from llamatouch.runner.ray_executor import RayExecutor  # noqa: E402
from llamatouch.runner.results import load_results_json  # noqa: E402
from llamatouch.trace.format import read_trace  # noqa: E402

pytestmark = pytest.mark.slow

SLOW_AGENT = f"{Path(__file__).with_name('slow_agent.py')}:SlowReplayAgent"
#: small Ray nodes: 1 CPU, 100 MB object store, no dashboard
NODE = {"num_cpus": 1, "object_store_memory": 100 * 1024**2, "include_dashboard": False}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """Head (no devices), node A (2 slots of world demo), node B (1 slot of world demo2)."""
    c = Cluster(initialize_head=True, head_node_args=dict(NODE))
    c.node_a = c.add_node(**NODE, resources={"llamatouch_world:demo": 2})
    c.node_b = c.add_node(**NODE, resources={"llamatouch_world:demo2": 1})
    c.wait_for_nodes()
    assert c.address.startswith("127.0.0.1:"), c.address
    ray.init(address=c.address, include_dashboard=False, configure_logging=False,
             log_to_driver=False)
    try:
        yield c
    finally:
        ray.shutdown()
        c.shutdown()


@pytest.fixture(scope="module")
def two_world_suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo suite with its odd tasks moved to ``demo2`` (a copy of the demo world)."""
    from llamatouch.paths import tasks_dir
    from llamatouch_emulator.worlds import load_named_world

    root = tmp_path_factory.mktemp("two-worlds")
    demo_root = load_named_world("demo").root
    assert demo_root is not None
    shutil.copytree(demo_root, root / "demo2")
    suite = json.loads((tasks_dir() / "demo.json").read_text())
    for i, task in enumerate(suite["tasks"]):
        task["world"] = "demo2" if i % 2 else "demo"
    path = root / "demo.json"
    path.write_text(json.dumps(suite))
    return path


def _steps(folder: Path) -> list[tuple[Any, ...]]:
    """Each step's screen (activity, hierarchy digest) and action."""
    out = []
    for step in read_trace(folder):
        action = step.action()
        out.append((
            step.record.activity,
            hashlib.sha256(step.hierarchy_xml()).hexdigest(),
            json.dumps(action.to_json(), sort_keys=True) if action is not None else None,
        ))
    return out


def _rows(out: Path) -> list[tuple[Any, ...]]:
    keys = ("episode_id", "status", "verdict", "steps", "success")
    return sorted(tuple(r[k] for k in keys) for r in load_results_json(out / "results.json"))


def test_replay_on_ray_equals_local_and_follows_worlds(cluster: Any, two_world_suite: Path,
                                                       tmp_path: Path) -> None:
    def config(name: str) -> EvalConfig:
        return EvalConfig(agent="replay", out=tmp_path / name, tasks=str(two_world_suite),
                          devices=("adb-virtual",), workers=2)

    ex = RayExecutor()
    on_ray = run_eval(config("ray"), executor=ex)
    local = run_eval(config("local"), executor=LocalProcessExecutor())
    assert on_ray.ran == local.ran == 15
    assert _rows(tmp_path / "ray") == _rows(tmp_path / "local")
    assert all(r.success for r in on_ray.rows)  # replay reaches every demo task's goal
    for eid in (r.episode_id for r in local.rows):
        assert _steps(tmp_path / "ray" / "traces" / eid) == _steps(
            tmp_path / "local" / "traces" / eid), eid
    # every task ran on a node that holds its world, and both nodes worked
    suite = json.loads(two_world_suite.read_text())
    world_of = {t["id"]: t["world"] for t in suite["tasks"]}
    nodes = {"demo": cluster.node_a.node_id, "demo2": cluster.node_b.node_id}
    assert len(ex.placements) == 15
    for eid, device in ex.placements.items():
        world = world_of[eid.split("__")[0]]
        assert device.node_id == nodes[world], (eid, device.label)
        assert device.world == world
    assert not ex.retired
    assert not (tmp_path / "ray" / ".incoming").exists()


def test_shared_trace_store_writes_the_same_traces(cluster: Any, tmp_path: Path) -> None:
    ex = RayExecutor(trace_store="shared")
    config = EvalConfig(agent="replay", out=tmp_path / "shared", devices=("virtual",))
    outcome = run_eval(config, executor=ex)
    local = run_eval(EvalConfig(agent="replay", out=tmp_path / "local", devices=("virtual",)),
                     executor=LocalProcessExecutor())
    assert outcome.ran == 15 and _rows(tmp_path / "shared") == _rows(tmp_path / "local")
    for r in local.rows:
        assert _steps(tmp_path / "shared" / "traces" / r.episode_id) == _steps(
            tmp_path / "local" / "traces" / r.episode_id)


def test_node_removed_mid_run_every_episode_ends_once(cluster: Any, tmp_path: Path) -> None:
    node_c = cluster.add_node(**NODE, resources={"llamatouch_world:demo": 2})
    cluster.wait_for_nodes()
    ex = RayExecutor()
    finished: list[int] = []

    def progress(n: int) -> None:
        finished.append(n)
        if len(finished) == 3:  # node C's actors are busy by now: take the node away
            cluster.remove_node(node_c)

    config = EvalConfig(agent=SLOW_AGENT, out=tmp_path / "run", devices=("virtual",))
    outcome = run_eval(config, executor=ex, progress=progress)
    assert len(finished) == 15 == outcome.ran
    ids = [r.episode_id for r in outcome.rows]
    assert len(ids) == len(set(ids)) == 15
    assert all(r.status == "finished" and r.success for r in outcome.rows)
    # node C's two devices left the pool; nothing ran there after it was lost
    lost = [r for r in ex.retired if r.reason == "node lost"]
    assert len(lost) == 2 and all(node_c.node_id[:8] in r.device for r in lost)
    # the episodes caught on node C were re-run elsewhere and say why they took two attempts
    caught = {k: m for k, m in _manifests(tmp_path / "run").items()
              if any("died (Ray" in f for f in m["usage"].get("earlier_failures", []))}
    assert caught, "no episode was running on node C when it was removed"
    for eid in caught:
        assert ex.placements[eid].node_id != node_c.node_id, eid


def _manifests(out: Path) -> dict[str, dict]:
    found = {}
    for m in (out / "traces").glob("*/manifest.json"):
        try:
            found[m.parent.name] = json.loads(m.read_text())
        except (OSError, ValueError):
            continue
    return found


def _kill_when(proc: subprocess.Popen, out: Path, done_at_least: int) -> dict[str, dict]:
    """SIGKILL ``proc`` once ``done_at_least`` episodes finished; the manifests then."""
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            ms = _manifests(out)
            if sum(m["status"] != "running" for m in ms.values()) >= done_at_least:
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None and proc.returncode is None:
            proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
    return _manifests(out)


DRIVER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from llamatouch.runner import EvalConfig, run_eval
    from llamatouch.runner.ray_executor import RayExecutor

    if __name__ == "__main__":
        config = EvalConfig(agent=sys.argv[3], out=Path(sys.argv[2]), devices=("virtual",))
        run_eval(config, executor=RayExecutor(sys.argv[1]))
""")


def _demo_devices_free(timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ray.available_resources().get("llamatouch_world:demo", 0) >= 2:
            return True
        time.sleep(0.5)
    return False


def test_killed_ray_driver_resumes_locally(cluster: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    proc = subprocess.Popen([sys.executable, str(script), cluster.address, str(out), SLOW_AGENT],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    before = _kill_when(proc, out, 3)
    # Ray ends the killed driver's actors: their devices come back to the pool
    assert _demo_devices_free(60), "the killed driver's actors still hold their devices"
    finished = {k: m for k, m in before.items() if m["status"] != "running"}
    assert all(m["status"] == "finished" for m in finished.values())
    config = EvalConfig(agent=SLOW_AGENT, out=out, devices=("virtual",), resume=True)
    resumed = run_eval(config, executor=LocalProcessExecutor())
    assert resumed.skipped == len(finished) and resumed.ran == 15 - len(finished)
    after = _manifests(out)
    assert len(after) == 15 and all(m["status"] == "finished" for m in after.values())
    for k, m in finished.items():  # finished on Ray, not re-run
        assert after[k]["started_at"] == m["started_at"], k
    assert len({r.episode_id for r in resumed.rows}) == 15
    assert all(r.success for r in resumed.rows)


def test_killed_local_driver_resumes_on_ray_through_the_cli(cluster: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    base = [sys.executable, "-m", "llamatouch", "eval", "--agent", SLOW_AGENT, "--device",
            "virtual", "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(base, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    before = _kill_when(proc, out, 3)
    finished = {k: m for k, m in before.items() if m["status"] != "running"}
    resumed = subprocess.run([*base, "--resume", "--executor", "ray", "--address",
                              cluster.address], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(finished)} already done" in resumed.stdout
    after = _manifests(out)
    assert len(after) == 15 and all(m["status"] == "finished" for m in after.values())
    for k, m in finished.items():
        assert after[k]["started_at"] == m["started_at"], k
    rows = load_results_json(out / "results.json")
    assert len({r["episode_id"] for r in rows}) == 15


def test_devices_cli_lists_every_nodes_devices_with_health(cluster: Any) -> None:
    res = subprocess.run([sys.executable, "-m", "llamatouch", "devices", "--executor", "ray",
                          "--address", cluster.address], capture_output=True, text=True,
                         timeout=180)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split()[:3] == ["NODE", "KIND", "DEVICE"]
    rows = {(line.split()[0][-8:], line.split()[2]): line for line in lines[1:]}
    demo = rows[(cluster.node_a.node_id[:8], "demo")]
    assert demo.split()[3] == "2" and "ok (" in demo  # node A loaded the shipped world
    # node B's world is a folder only the suite knows: its node says it cannot load it by name
    assert "error" in rows[(cluster.node_b.node_id[:8], "demo2")]


CRASH_ON_DEVICE_0 = '''
import ctypes

from llamatouch_agents.replay import ReplayAgent


class CrashOnDevice0(ReplayAgent):
    """Replays the ground truth, but dereferences NULL at step 1 on worker 0's device."""

    name = "crash-on-device-0"

    def reset(self, task, capabilities):
        super().reset(task, capabilities)
        self._crash = capabilities.serial.startswith("virtual-0-")

    def step(self, observation, history):
        if self._crash and len(history) == 1:
            ctypes.string_at(0)  # SIGSEGV in the actor's process
        return super().step(observation, history)
'''


def test_a_device_whose_actor_keeps_dying_leaves_the_pool(cluster: Any, tmp_path: Path) -> None:
    agent = tmp_path / "crashy.py"
    agent.write_text(CRASH_ON_DEVICE_0)
    ex = RayExecutor(max_deaths=2)
    config = EvalConfig(agent=f"{agent}:CrashOnDevice0", out=tmp_path / "run",
                        devices=("virtual",))
    outcome = run_eval(config, executor=ex)
    # device 0 crashed twice (a real SIGSEGV each time) and was retired; its two episodes were
    # re-run on device 1, so every episode still ended once, and well
    assert [r.reason.split(" (")[0] for r in ex.retired] == ["its actor died 2 times"]
    assert ex.retired[0].device.endswith("#0")
    assert outcome.ran == 15 and len({r.episode_id for r in outcome.rows}) == 15
    assert all(r.status == "finished" and r.success for r in outcome.rows)
    caught = {k for k, m in _manifests(tmp_path / "run").items()
              if any("died (Ray" in f for f in m["usage"].get("earlier_failures", []))}
    assert len(caught) == 2
    assert all(ex.placements[eid].slot == 1 for eid in caught)
