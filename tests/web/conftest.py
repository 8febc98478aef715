"""Fixtures of the annotation app tests: a real DroidTask ground-truth trace and the app
served in-process on a free loopback port."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.serving import BaseWSGIServer

from llamatouch.datasets.droidtask import import_droidtask
from llamatouch.datasets.gt_trace import write_gt_traces
from llamatouch.web.app import create_app, make_server
from llamatouch.web.guard import new_token
from llamatouch.web.session import AnnotationSession, SessionConfig

#: The DroidTask task the tests annotate: "create a new event, the task is 'laundry', save it"
#: (4 steps: tap New Event, type, tap Save, finish).
TASK_ID = "calendar-task1"


@pytest.fixture(scope="session")
def gt_trace(droidtask_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ground-truth trace of :data:`TASK_ID`, imported from the real DroidTask data."""
    out = tmp_path_factory.mktemp("droidtask")
    result = import_droidtask(droidtask_dir, out)
    tasks = [t for t in result.suite.tasks if t.id == TASK_ID]
    assert tasks, f"{TASK_ID} missing from the DroidTask import"
    (path,) = write_gt_traces(result.suite, out, out / "traces", tasks=tasks)
    return path


@dataclass
class Served:
    """A running annotation app."""

    server: BaseWSGIServer
    token: str
    session: AnnotationSession
    annotations: Path
    trace_dir: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"


@pytest.fixture
def served(gt_trace: Path, tmp_path: Path) -> Iterator[Served]:
    """The app on ``gt_trace`` with a fresh annotation store, on a free loopback port."""
    store = tmp_path / "annotations"
    session = AnnotationSession(SessionConfig(trace_dir=gt_trace, annotations_dir=store))
    token = new_token()
    server = make_server(create_app(session, token), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(server, token, session, store, gt_trace)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
