"""Find agents by name.

An agent spec is one of:

- a built-in name (``autodroid``, ``random``, ``replay``; see :data:`BUILTIN_AGENTS`);
- a name registered by an installed package under the entry-point group ``llamatouch.agents``
  (``[project.entry-points."llamatouch.agents"] myagent = "my_pkg.agent:MyAgent"``);
- ``path/to/file.py:ClassName``: a class in a researcher's local file. The file is imported
  with :mod:`importlib` from that path, which **runs that file's code**, exactly as installing
  and using any plugin would: only name files you trust.

Built-in names win over entry points of the same name (a package cannot shadow ``replay``).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import sys
from pathlib import Path

from llamatouch.agent import Agent, AgentOptions
from llamatouch.errors import LlamaTouchError

#: Entry-point group other packages register agents under.
ENTRY_POINT_GROUP = "llamatouch.agents"

#: Agents shipped with llamatouch: name → ``module:Class`` (imported only when used).
BUILTIN_AGENTS: dict[str, str] = {
    "autodroid": "llamatouch_agents.autodroid.agent:AutoDroidAgent",
    "random": "llamatouch_agents.random_agent:RandomAgent",
    "replay": "llamatouch_agents.replay:ReplayAgent",
}


class AgentNotFoundError(LlamaTouchError):
    """The agent spec names nothing loadable (the message lists what is available)."""


def _import_target(target: str, spec: str) -> type[Agent]:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AgentNotFoundError(f"agent {spec!r}: cannot import {module_name!r}: {exc}") from exc
    return _check_class(getattr(module, attr, None), spec, f"{module_name}:{attr}")


def _check_class(obj: object, spec: str, where: str) -> type[Agent]:
    if obj is None:
        raise AgentNotFoundError(f"agent {spec!r}: {where} does not exist")
    if not (isinstance(obj, type) and issubclass(obj, Agent)):
        raise AgentNotFoundError(
            f"agent {spec!r}: {where} is not a subclass of llamatouch.agent.Agent"
        )
    return obj


def entry_point_agents() -> dict[str, importlib.metadata.EntryPoint]:
    """Agents registered by installed packages under :data:`ENTRY_POINT_GROUP`."""
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def available_agents() -> list[str]:
    """Every agent name that can be loaded without a file path, sorted."""
    return sorted(set(BUILTIN_AGENTS) | set(entry_point_agents()))


def load_agent_file(path: str | Path, class_name: str) -> type[Agent]:
    """Import ``class_name`` from the Python file at ``path`` (this runs the file's code)."""
    file = Path(path).expanduser().resolve()
    spec_text = f"{path}:{class_name}"
    if not file.is_file():
        raise AgentNotFoundError(f"agent {spec_text!r}: file {file} not found")
    digest = hashlib.sha1(str(file).encode(), usedforsecurity=False).hexdigest()[:12]
    module_name = f"llamatouch_user_agent_{digest}"
    mspec = importlib.util.spec_from_file_location(module_name, file)
    if mspec is None or mspec.loader is None:
        raise AgentNotFoundError(f"agent {spec_text!r}: cannot load {file} as a Python module")
    module = importlib.util.module_from_spec(mspec)
    sys.modules[module_name] = module  # dataclasses and pickling look modules up by name
    try:
        mspec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise AgentNotFoundError(f"agent {spec_text!r}: importing {file} failed: {exc}") from exc
    return _check_class(getattr(module, class_name, None), spec_text, f"{file}:{class_name}")


def resolve_agent_class(spec: str) -> type[Agent]:
    """The agent class named by ``spec`` (see the module docstring for the forms)."""
    if spec in BUILTIN_AGENTS:
        return _import_target(BUILTIN_AGENTS[spec], spec)
    head, sep, tail = spec.rpartition(":")
    if sep and head.endswith(".py"):
        return load_agent_file(head, tail)
    eps = entry_point_agents()
    if spec in eps:
        try:
            obj = eps[spec].load()
        except Exception as exc:
            raise AgentNotFoundError(
                f"agent {spec!r}: loading entry point {eps[spec].value!r} failed: {exc}"
            ) from exc
        return _check_class(obj, spec, eps[spec].value)
    raise AgentNotFoundError(
        f"unknown agent {spec!r}; available: {', '.join(available_agents())}, "
        "or path/to/file.py:ClassName"
    )


def create_agent(spec: str, options: AgentOptions | None = None) -> Agent:
    """Build the agent named by ``spec`` with ``options``."""
    cls = resolve_agent_class(spec)
    return cls(options or AgentOptions())
