"""Fixtures for the LLM tests: a real local ``llama_cpp.server`` and small fake endpoints.

The embedded model itself is loaded once per session by ``embedded_llm`` in tests/conftest.py.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from llamatouch.models import embedded_gguf_path

SERVER_MODEL_ALIAS = "smollm2-135m"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def unused_port() -> int:
    """A loopback TCP port nobody listens on (at the time of the call)."""
    return free_port()


@pytest.fixture(scope="session")
def server_model_alias() -> str:
    return SERVER_MODEL_ALIAS


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``python -m llama_cpp.server`` on loopback serving the embedded model.

    Yields its OpenAI base URL (``http://127.0.0.1:PORT/v1``).
    """
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama_server") / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(embedded_gguf_path()),
             "--model_alias", SERVER_MODEL_ALIAS, "--host", "127.0.0.1", "--port", str(port),
             "--n_ctx", "2048", "--n_threads", "1"],
            stdout=log, stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                pytest.fail(f"llama_cpp.server exited: {tail}")
            try:
                with urllib.request.urlopen(f"{base}/models", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture()
def silent_port() -> Iterator[int]:
    """A loopback port that accepts TCP connections (the kernel's backlog) and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


@dataclass
class FakeEndpoint:
    """A tiny HTTP server on loopback answering ``/v1/chat/completions`` as told.

    ``behaviour``: ``"500"`` (always HTTP 500), ``"nonsense"`` (HTTP 200 with a non-JSON body),
    ``"wrong_json"`` (HTTP 200 JSON that is not a chat completion), ``"hang"`` (answers after
    ``hang_s`` seconds), ``"echo_auth_500"`` (HTTP 500 whose body repeats the Authorization
    header), ``"garbage_text"`` (a valid chat completion whose text is nonsense),
    ``"echo_all_500"`` (HTTP 500 whose body repeats the request path with its query, the
    Authorization header, the base64 of the bearer token and the first 10 characters of the
    token), ``"script"`` (answers ``script`` in order, the last one repeated: each a
    ``(status, headers, body)``; ``OK_BODY`` is a valid chat completion).
    """

    behaviour: str
    hang_s: float = 3.0
    script: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    requests: list[dict[str, str]] = field(default_factory=list)
    #: request paths with their query strings, in order
    paths: list[str] = field(default_factory=list)
    base_url: str = ""
    port: int = 0


def completion_body(text: str = "hello", model: str = "fake") -> bytes:
    """A minimal valid chat-completion JSON body."""
    return json.dumps({
        "id": "x", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }).encode()


OK_BODY = completion_body()


@pytest.fixture()
def ok_body() -> bytes:
    """A valid chat-completion body whose answer is ``"hello"`` (for scripted endpoints)."""
    return OK_BODY


@pytest.fixture()
def fake_endpoint() -> Iterator[Callable[..., FakeEndpoint]]:
    servers: list[ThreadingHTTPServer] = []

    def start(behaviour: str, hang_s: float = 3.0,
              script: list[tuple[int, dict[str, str], bytes]] | None = None) -> FakeEndpoint:
        ep = FakeEndpoint(behaviour, hang_s, list(script or []))

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _send(self, status: int, body: bytes, ctype: str,
                      headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(OSError):  # the client may have given up
                    self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                self.rfile.read(length)
                ep.requests.append({k.lower(): v for k, v in self.headers.items()})
                ep.paths.append(self.path)
                b = ep.behaviour
                if b == "script":
                    status, headers, body = ep.script[min(len(ep.paths), len(ep.script)) - 1]
                    self._send(status, body, "application/json", headers)
                elif b == "echo_all_500":
                    auth = self.headers.get("Authorization", "")
                    token = auth.split(" ", 1)[-1]
                    echo = (f"no route {self.path}; header {auth}; "
                            f"b64 {base64.b64encode(token.encode()).decode()}; "
                            f"key starting {token[:10]}...")
                    self._send(500, json.dumps({"error": {"message": echo}}).encode(),
                               "application/json")
                elif b == "500":
                    self._send(500, b'{"error": {"message": "boom"}}', "application/json")
                elif b == "echo_auth_500":
                    auth = self.headers.get("Authorization", "")
                    self._send(500, json.dumps({"error": {"message": f"bad {auth}"}}).encode(),
                               "application/json")
                elif b == "nonsense":
                    self._send(200, b"<<<garbage %% not json>>>", "application/json")
                elif b == "wrong_json":
                    self._send(200, b'{"hello": "world"}', "application/json")
                elif b == "hang":
                    time.sleep(ep.hang_s)
                    self._send(200, b"{}", "application/json")
                elif b == "garbage_text":
                    body = {
                        "id": "x", "object": "chat.completion", "created": 0, "model": "fake",
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": "qwfp ]]{{"}}],
                        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
                    }
                    self._send(200, json.dumps(body).encode(), "application/json")
                else:
                    self._send(404, b"{}", "application/json")

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        ep.port = int(server.server_address[1])
        ep.base_url = f"http://127.0.0.1:{ep.port}/v1"
        return ep

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()
