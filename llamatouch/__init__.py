"""llamatouch: a testbed for mobile UI agents.

The agent API is importable from here (``from llamatouch import Agent, AgentStep, AgentTask``);
the names are loaded on first use, so ``import llamatouch`` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from llamatouch import actions
    from llamatouch.agent import (
        Agent,
        AgentFailure,
        AgentOptions,
        AgentStep,
        AgentTask,
        DeviceCapabilities,
        GroundTruth,
        LLMUsageSummary,
        StepHistory,
    )
    from llamatouch.device.base import Observation

#: name → module it comes from (loaded lazily by :func:`__getattr__`).
_EXPORTS: dict[str, str] = {
    "Agent": "llamatouch.agent",
    "AgentFailure": "llamatouch.agent",
    "AgentOptions": "llamatouch.agent",
    "AgentStep": "llamatouch.agent",
    "AgentTask": "llamatouch.agent",
    "DeviceCapabilities": "llamatouch.agent",
    "GroundTruth": "llamatouch.agent",
    "LLMUsageSummary": "llamatouch.agent",
    "StepHistory": "llamatouch.agent",
    "Observation": "llamatouch.device.base",
}

__all__ = [
    "Agent",
    "AgentFailure",
    "AgentOptions",
    "AgentStep",
    "AgentTask",
    "DeviceCapabilities",
    "GroundTruth",
    "LLMUsageSummary",
    "Observation",
    "StepHistory",
    "__version__",
    "actions",
]


def __getattr__(name: str) -> Any:
    if name == "actions":
        return importlib.import_module("llamatouch.actions")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'llamatouch' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
