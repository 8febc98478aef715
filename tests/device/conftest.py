"""Fixtures for the device tests: the demo world served over the real adb binary."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llamatouch_emulator.harness import AdbSession, SessionConfig


@pytest.fixture(scope="module")
def demo_session() -> Iterator[AdbSession]:
    """A private adb server (ADB_MDNS=0, free port) ↔ our ADB server serving the demo world;
    ``session.device`` is an AdbDevice on the plain adb path (uiautomator2 tests opt in)."""
    config = SessionConfig(adb_config={"use_u2": "off"})
    with AdbSession.for_world("demo", config=config) as session:
        yield session


@pytest.fixture()
def fresh(demo_session: AdbSession) -> AdbSession:
    """The module's session with the virtual device reset to its home screen."""
    demo_session.virtual.reset()
    demo_session.virtual.faults.dump_failures = 0
    demo_session.virtual.faults.corrupt_dump = False
    return demo_session
