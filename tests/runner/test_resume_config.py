"""--resume is the same run: it restores run.json's configuration, refuses a conflicting
argument with one clear line (exit 2), and never starts the default agent on someone else's
run. Argument ranges are checked (``--workers -1`` used to run nothing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llamatouch.runner import EvalConfig, ResumeConflict, RunError, resume_config, run_eval
from llamatouch.runner.results import load_results_json


def _eval(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "llamatouch", "eval", "--no-progress", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_resume_restores_the_run_and_refuses_another_agent(tmp_path: Path) -> None:
    out = tmp_path / "R"
    first = _eval("--agent", "random", "--task", "contacts-call-alice", "--device", "virtual",
                  "--max-steps", "2", "--out", str(out))
    assert first.returncode == 0, first.stderr
    rows = load_results_json(out / "results.json")
    run_json = (out / "run.json").read_text()

    # the probe of the issue: another agent and another task on the same folder
    mixed = _eval("--resume", "--agent", "replay", "--task", "clock-new-alarm-0630",
                  "--out", str(out))
    assert mixed.returncode == 2
    lines = mixed.stderr.strip().splitlines()
    assert len(lines) == 1 and "agent='random'" in lines[0] and "Traceback" not in mixed.stderr
    assert load_results_json(out / "results.json") == rows  # nothing mixed in
    assert (out / "run.json").read_text() == run_json  # not overwritten

    # --resume without --agent: the recorded agent, suite, tasks and limit; nothing rerun
    again = _eval("--resume", "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert "0 episode(s) run, 1 already done" in again.stdout
    assert [r["agent"] for r in load_results_json(out / "results.json")] == ["random"]

    # the same value given explicitly is fine; execution settings may change
    same = _eval("--resume", "--out", str(out), "--agent", "random", "--max-steps", "2",
                 "--workers", "2", "--device", "virtual")
    assert same.returncode == 0, same.stderr
    other_limit = _eval("--resume", "--out", str(out), "--max-steps", "5")
    assert other_limit.returncode == 2 and "max_steps=2" in other_limit.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "-1"], "--workers: must be at least 1"),
        (["--workers", "0"], "--workers: must be at least 1"),
        (["--trials", "0"], "--trials: must be at least 1"),
        (["--max-steps", "x"], "--max-steps: expected an integer"),
        (["--infra-retries", "-2"], "--infra-retries: must be at least 0"),
        (["--resume"], "--resume needs --out DIR"),
        (["--agent-param", "novalue"], "--agent-param expects KEY=VALUE"),
    ],
)
def test_bad_arguments_are_one_line_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    argv = ["eval", "--no-progress", *args]
    if "--resume" not in args:
        argv += ["--out", str(tmp_path / "x")]
    assert _main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def _main(argv: list[str]) -> int:
    from llamatouch.cli import main

    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        return int(exc.code or 0)


def test_resume_of_nothing_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(RunError, match="nothing to resume"):
        resume_config(tmp_path / "none", {})
    assert _main(["eval", "--resume", "--out", str(tmp_path / "none")]) == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_resume_config_restores_every_run_defining_setting(tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = EvalConfig(agent="random", out=out, task_ids=("contacts-call-alice",),
                        devices=("virtual",), max_steps=2, seed=7, trials=2,
                        agent_params={"back_p": "0.5"}, infra_retries=1)
    run_eval(config)
    restored = resume_config(out, {})
    for name in ("agent", "tasks", "task_ids", "model", "base_url", "trials", "max_steps",
                 "seed", "annotations", "require_completion", "agent_params", "memory_dir",
                 "devices", "infra_retries"):
        assert getattr(restored, name) == getattr(config, name), name
    assert restored.resume and restored.out == out
    assert resume_config(out, {"workers": 3, "devices": ("virtual:demo",)}).workers == 3
    with pytest.raises(ResumeConflict, match="agent_params"):
        resume_config(out, {"agent_params": {"back_p": "0.1"}})
    with pytest.raises(ResumeConflict, match="seed"):
        resume_config(out, {"seed": 8})
    # and the resumed run really is that run: nothing to do
    again = run_eval(restored)
    assert (again.ran, again.skipped) == (0, 2)


def test_a_redacted_base_url_is_given_again_on_resume(tmp_path: Path) -> None:
    redact = pytest.importorskip("llamatouch.redact")
    out = tmp_path / "run"
    run_eval(EvalConfig(agent="random", out=out, task_ids=("contacts-call-alice",),
                        devices=("virtual",), max_steps=1))
    secret_url = "http://user:s3cretPass@127.0.0.1:8000/v1"
    path = out / "run.json"
    data = json.loads(path.read_text())
    data["config"]["base_url"] = redact.redact_url(secret_url)  # as written with credentials
    path.write_text(json.dumps(data))
    with pytest.raises(RunError, match="pass the same --base-url again"):
        resume_config(out, {})
    assert resume_config(out, {"base_url": secret_url}).base_url == secret_url
    with pytest.raises(ResumeConflict, match="base_url"):
        resume_config(out, {"base_url": "http://other:pw@127.0.0.1:8001/v1"})
