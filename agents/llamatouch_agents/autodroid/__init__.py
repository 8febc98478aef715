"""AutoDroid (clean-room): functionality-aware HTML, JSON-constrained answers, exploration
memory with retrieval, query optimisation, and the offline step-wise evaluation."""

from llamatouch_agents.autodroid.agent import AutoDroidAgent, AutoDroidSettings

__all__ = ["AutoDroidAgent", "AutoDroidSettings"]
