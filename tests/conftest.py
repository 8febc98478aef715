"""Shared fixtures. Real data comes from ../shared (or $LLAMATOUCH_SHARED)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from llamatouch.paths import shared_data_dir

# The adb server must never try mDNS discovery on this closed network.
os.environ.setdefault("ADB_MDNS", "0")

#: Fixtures that need the shared real data (../shared): a test using any of them, directly or
#: through another fixture, is marked ``shared`` and left out of the fast tier.
SHARED_FIXTURES = frozenset(
    {"shared_data", "droidtask_dir", "qqmusic_dir", "llamatouch_data_dir"}
)
#: Fixtures that load the real model: their tests are ``slow``.
SLOW_FIXTURES = frozenset({"embedded_llm"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tier the suite: ``make test-fast`` runs ``-m "not slow and not shared"``."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & SHARED_FIXTURES:
            item.add_marker(pytest.mark.shared)
        if used & SLOW_FIXTURES:
            item.add_marker(pytest.mark.slow)


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
