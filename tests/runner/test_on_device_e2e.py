"""End to end through the real adb: two virtual phones each serving the embedded model
(``llamatouch emulator serve --llm-server``), ``llamatouch eval --agent autodroid --model
device:8080`` on two demo tasks; the trace holds the server's timings and the phone's figures,
and no forward is left behind -- after a normal end, after ``kill -9`` of the run's driver, and
after ``kill -9`` of the whole run followed by the next start."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from llamatouch.device.dumpsys import parse_pidof
from llamatouch_emulator.adb_host import AdbHostServer, start_adb_server
from llamatouch_emulator.harness import adb_binary

pytestmark = pytest.mark.slow

TASKS = ("home-open-world-clock", "settings-android-version")
#: short episodes: no exploration memory, two steps at most
SHORT = ("--agent-param", "memory=off", "--max-steps", "2", "--no-progress")


@dataclass
class Phone:
    proc: subprocess.Popen[str]
    serial: str


@dataclass
class Rig:
    adb: AdbHostServer
    phones: list[Phone]
    env: dict[str, str]

    def adb_out(self, *args: str) -> str:
        return subprocess.run([self.adb.adb, "-P", str(self.adb.port), *args], env=self.env,
                              capture_output=True, text=True, timeout=30, check=True).stdout

    def forwards(self) -> list[str]:
        return [line for line in self.adb_out("forward", "--list").splitlines() if line.strip()]


def _serve(llm: bool = True) -> Phone:
    proc = subprocess.Popen(
        [sys.executable, "-m", "llamatouch", "emulator", "serve", "--port", "0",
         *(("--llm-server", "--llm-threads", "1") if llm else ())],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert proc.stdout is not None
    serial = ""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if "adb connect" in line:
            serial = line.split()[-1]
        if "Ctrl-C" in line:
            return Phone(proc, serial)
    proc.kill()
    raise AssertionError("emulator serve --llm-server did not start")


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    phones = [_serve(), _serve()]
    adb = start_adb_server(adb_binary())  # the "user's" adb server: not the run's own
    env = dict(adb.env(), LLAMATOUCH_RUNTIME_DIR=str(tmp_path_factory.mktemp("runtime")))
    rig = Rig(adb, phones, env)
    try:
        for p in phones:
            assert "connected" in rig.adb_out("connect", p.serial)
        for p in phones:
            for _ in range(50):
                if rig.adb_out("-s", p.serial, "get-state").strip() == "device":
                    break
                time.sleep(0.1)
        yield rig
    finally:
        for p in phones:
            p.proc.terminate()
            p.proc.wait(20)
        adb.stop()


def _eval(rig: Rig, out: Path, *extra: str, devices: int = 1) -> list[str]:
    argv = [sys.executable, "-m", "llamatouch", "eval", "--agent", "autodroid",
            "--model", "device:8080", "--out", str(out), *SHORT, *extra]
    for p in rig.phones[:devices]:
        argv += ["--device", p.serial]
    return argv


def _manifests(out: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(m.read_text()) for m in sorted((out / "traces").glob("*/manifest.json"))]


def test_eval_on_two_phones_records_device_timings_and_leaves_no_forward(
    rig: Rig, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    argv = _eval(rig, out, *[a for t in TASKS for a in ("--task", t)], devices=2)
    done = subprocess.run(argv, env=rig.env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    pids = {p.serial: parse_pidof(rig.adb_out("-s", p.serial, "shell", "pidof llama-server"))
            for p in rig.phones}
    manifests = _manifests(out)
    assert len(manifests) == 2
    for m in manifests:
        od = m["usage"]["on_device"]
        assert od["port"] == 8080 and od["model"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
        # the serving process of *that* phone, with its real memory, at the start and the end
        assert od["serial"] in pids and od["start"]["pid"] == pids[od["serial"]]
        for st in (od["start"], od["end"]):
            assert st["pss_kb"] > 50_000 and st["rss_kb"] >= st["pss_kb"]
            assert st["battery_level"] == 100 and st["thermal_status"] == 0
    assert len({m["usage"]["on_device"]["serial"] for m in manifests}) == 2, "one per phone"
    files = sorted((out / "traces").glob("*/steps/*/step.json"))
    steps = [json.loads(s.read_text()) for s in files]
    asked = [s["llm"] for s in steps if s["llm"]["calls"]]
    assert asked, "the agent asked the model"
    for llm in asked:  # the server's prefill / decode seconds, inside the host's wall time
        assert llm["prefill_s"] > 0 and llm["decode_s"] > 0
        assert llm["seconds"] >= llm["prefill_s"] + llm["decode_s"]
    assert any(llm["cached_prompt_tokens"] > 0 for llm in asked), "server cache_n recorded"
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert all(float(r["device_llm_pss_mb"]) > 50 for r in rows)
    assert rig.forwards() == []


def _wait_for(cond: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def _start_mid_run(rig: Rig, out: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(_eval(rig, out, "--task", TASKS[1]), env=rig.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    assert _wait_for(lambda: rig.forwards() and list((out / "traces").glob("*/manifest.json")),
                     120), "the run never made its forward"
    return proc


def test_kill_9_of_the_driver_leaves_no_forward(rig: Rig, tmp_path: Path) -> None:
    proc = _start_mid_run(rig, tmp_path / "run")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    # its worker is told (parent-death signal), closes, and removes the forward
    assert _wait_for(lambda: rig.forwards() == [], 30), rig.forwards()


def test_kill_9_of_the_whole_run_is_cleaned_up_by_the_next_start(rig: Rig,
                                                                  tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _start_mid_run(rig, out)
    os.killpg(proc.pid, signal.SIGKILL)  # driver and workers at once: nobody cleans up
    proc.wait(10)
    time.sleep(1)
    left = rig.forwards()
    assert len(left) == 1  # the adb server still holds it, and the run's record names it
    done = subprocess.run([sys.executable, "-m", "llamatouch", "eval", "--resume", "--out",
                           str(out), "--no-progress"], env=rig.env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert rig.forwards() == []
    assert not list(Path(rig.env["LLAMATOUCH_RUNTIME_DIR"]).glob("forwards-*.json"))


def test_a_phone_without_a_model_server_is_an_infrastructure_failure_naming_it(
    rig: Rig, tmp_path: Path
) -> None:
    bare = _serve(llm=False)
    try:
        assert "connected" in rig.adb_out("connect", bare.serial)
        out = tmp_path / "run"
        argv = [sys.executable, "-m", "llamatouch", "eval", "--agent", "autodroid", "--model",
                "device:8080", "--device", bare.serial, "--task", TASKS[0], "--infra-retries",
                "0", "--out", str(out), "--no-progress"]
        done = subprocess.run(argv, env=rig.env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 1  # infrastructure failure: re-run by --resume
        row = next(csv.DictReader((out / "results.csv").open()))
        assert row["failure_kind"] == "infra" and row["status"] == "infra_error"
        assert f"no LLM server on {bare.serial} port 8080" in row["error"]
        assert "docs/on-device.md" in row["error"]
        assert rig.forwards() == []
    finally:
        rig.adb_out("disconnect", bare.serial)
        bare.proc.terminate()
        bare.proc.wait(20)


def test_devices_cleanup_forwards_removes_what_a_killed_run_left(rig: Rig,
                                                                 tmp_path: Path) -> None:
    proc = _start_mid_run(rig, tmp_path / "run")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)
    time.sleep(1)
    assert len(rig.forwards()) == 1
    done = subprocess.run([sys.executable, "-m", "llamatouch", "devices", "--cleanup-forwards"],
                          env=rig.env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "removed 1 forward(s)" in done.stdout, done.stdout
    assert rig.forwards() == []


CRASH_ONCE = '''
import ctypes
import os
from pathlib import Path

from llamatouch.actions import Finish
from llamatouch.agent import Agent, AgentStep

MARKER = Path(os.environ["CRASH_ONCE_MARKER"])


class CrashOnce(Agent):
    """Kills its worker process (SIGSEGV) at its first step, once; then finishes at once."""

    name = "crash-once"

    def reset(self, task, capabilities):
        pass

    def step(self, observation, history):
        if not MARKER.exists():
            MARKER.touch()
            ctypes.string_at(0)
        return AgentStep(Finish())
'''


def test_a_crashed_workers_forward_is_removed_by_its_replacement(rig: Rig,
                                                                 tmp_path: Path) -> None:
    agent = tmp_path / "crash_once.py"
    agent.write_text(CRASH_ONCE)
    env = dict(rig.env, CRASH_ONCE_MARKER=str(tmp_path / "crashed"))
    argv = [sys.executable, "-m", "llamatouch", "eval", "--agent", f"{agent}:CrashOnce",
            "--model", "device:8080", "--device", rig.phones[0].serial, "--task", TASKS[0],
            "--out", str(tmp_path / "run"), "--no-progress"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert (tmp_path / "crashed").exists(), done.stderr[-2000:]  # the first worker died
    assert done.returncode == 0, done.stderr[-2000:]  # the retry on a fresh worker finished
    manifest = _manifests(tmp_path / "run")[0]
    assert "SIGSEGV" in " ".join(manifest["usage"]["earlier_failures"])
    assert rig.forwards() == []
