"""Agents for llamatouch: AutoDroid and baselines."""
