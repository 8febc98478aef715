"""Finding agents: built-ins, entry points (a real dist-info on sys.path), file:Class."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from llamatouch.agent import Agent, AgentOptions
from llamatouch.agent_registry import (
    AgentNotFoundError,
    available_agents,
    create_agent,
    resolve_agent_class,
)


def test_builtins_resolve() -> None:
    for name in ("autodroid", "random", "replay"):
        cls = resolve_agent_class(name)
        assert issubclass(cls, Agent) and cls.name == name
    assert {"autodroid", "random", "replay"} <= set(available_agents())


def test_unknown_agent_lists_what_exists() -> None:
    with pytest.raises(AgentNotFoundError, match=r"available: .*replay"):
        resolve_agent_class("no-such-agent")


def test_file_class_errors_are_typed(tmp_path: Path) -> None:
    with pytest.raises(AgentNotFoundError, match="not found"):
        resolve_agent_class(f"{tmp_path}/missing.py:X")
    bad = tmp_path / "bad.py"
    bad.write_text("class NotAnAgent:\n    pass\n")
    with pytest.raises(AgentNotFoundError, match="not a subclass"):
        resolve_agent_class(f"{bad}:NotAnAgent")
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(AgentNotFoundError, match="boom"):
        resolve_agent_class(f"{broken}:X")


def test_entry_point_discovery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed package (a real .dist-info with entry_points.txt) registers an agent."""
    pkg = tmp_path / "ep_agent_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "from llamatouch.actions import Finish\n"
        "from llamatouch.agent import Agent, AgentStep\n\n"
        "class EpAgent(Agent):\n"
        "    name = 'ep-agent'\n"
        "    def reset(self, task, capabilities):\n"
        "        pass\n"
        "    def step(self, observation, history):\n"
        "        return AgentStep(Finish(), 'done')\n"
    )
    dist = tmp_path / "ep_agent_pkg-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-agent-pkg\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[llamatouch.agents]\nep-agent = ep_agent_pkg:EpAgent\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "ep_agent_pkg", raising=False)
    assert "ep-agent" in available_agents()
    agent = create_agent("ep-agent", AgentOptions(seed=3))
    assert type(agent).__name__ == "EpAgent" and agent.options.seed == 3


def test_builtin_names_cannot_be_shadowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dist = tmp_path / "evil-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[llamatouch.agents]\nreplay = os:system\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert resolve_agent_class("replay").__module__ == "llamatouch_agents.replay"
