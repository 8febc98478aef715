"""Shared fixtures. Real data comes from ../shared (or $LLAMATOUCH_SHARED)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from llamatouch.paths import shared_data_dir

# The adb server must never try mDNS discovery on this closed network.
os.environ.setdefault("ADB_MDNS", "0")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real-data folder; the suite fails loudly when it is missing."""
    path = shared_data_dir()
    if not (path / "data").is_dir():
        pytest.fail(f"shared real data not found at {path} (set LLAMATOUCH_SHARED)")
    return path


@pytest.fixture(scope="session")
def droidtask_dir(shared_data: Path) -> Path:
    return shared_data / "data" / "droidtask"


@pytest.fixture(scope="session")
def qqmusic_dir(shared_data: Path) -> Path:
    return shared_data / "data" / "droidbot-qqmusic"


@pytest.fixture(scope="session")
def llamatouch_data_dir(shared_data: Path) -> Path:
    return shared_data / "data" / "llamatouch"


# --- LLM (owned by the llm area; see docs/llm.md) ---------------------------------------------


@pytest.fixture(scope="session")
def embedded_llm():  # type: ignore[no-untyped-def]
    """The embedded SmolLM2 GGUF through llama.cpp, loaded once per test session.

    Shared by every test that needs real inference. Its KV cache is shared too: a test that
    counts cached tokens calls ``embedded_llm.reset_cache()`` first.
    """
    from llamatouch.llm import LLMConfig, load_backend

    # One thread: test runs share the 2 cores with other work, and llama.cpp's threads stall
    # each other on a busy CPU (docs/llm.md, "Threads").
    backend = load_backend(LLMConfig(n_ctx=4096, n_threads=1, timeout_s=300.0, retries=1))
    yield backend
    backend.close()
