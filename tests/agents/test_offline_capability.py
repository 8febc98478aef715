"""``eval --offline-stepwise`` reaches the agent through :meth:`Agent.offline_stepwise` (the
core CLI imports no agent package): any agent may offer it, others get a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llamatouch.cli import main

PLUGIN = '''
import json
from llamatouch.agent import Agent, OfflineRequest


class Offline(Agent):
    name = "offline-plugin"

    def reset(self, task, capabilities):
        pass

    def step(self, observation, history):
        raise NotImplementedError

    @classmethod
    def offline_stepwise(cls, request: OfflineRequest) -> str:
        return "TABLE " + json.dumps({
            "dir": str(request.dataset_dir), "apps": list(request.apps),
            "max": request.max_tasks_per_app, "out": str(request.out),
            "model": request.options.model, "params": request.options.params,
            "progress": request.progress,
        })
'''


def test_an_agent_with_the_capability_gets_a_typed_request(tmp_path: Path, capsys) -> None:
    plugin = tmp_path / "plugin.py"
    plugin.write_text(PLUGIN)
    rc = main(["eval", "--agent", f"{plugin}:Offline", "--offline-stepwise", str(tmp_path),
               "--apps", "a,b", "--offline-max-tasks", "3", "--out", str(tmp_path / "o"),
               "--model", "openai:x", "--agent-param", "k=v", "--no-progress"])
    assert rc == 0
    out = capsys.readouterr().out
    assert out.startswith("TABLE ")
    got = json.loads(out[len("TABLE "):])
    assert got == {"dir": str(tmp_path), "apps": ["a", "b"], "max": 3,
                   "out": str(tmp_path / "o"), "model": "openai:x", "params": {"k": "v"},
                   "progress": False}


def test_an_agent_without_it_is_a_usage_error(tmp_path: Path, capsys) -> None:
    rc = main(["eval", "--agent", "random", "--offline-stepwise", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2
    assert "'random' has no offline step-wise evaluation" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_autodroid_on_a_missing_folder_is_one_clear_line(tmp_path: Path, capsys) -> None:
    rc = main(["eval", "--agent", "autodroid", "--offline-stepwise", str(tmp_path / "nope"),
               "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "not a folder" in err and "Traceback" not in err


@pytest.mark.parametrize("agent", ["no-such-agent"])
def test_an_unknown_agent_is_a_usage_error(agent: str, tmp_path: Path, capsys) -> None:
    assert main(["eval", "--agent", agent, "--offline-stepwise", str(tmp_path)]) == 2
    assert "no-such-agent" in capsys.readouterr().err
