"""End to end: credentials in --base-url and the API key never reach a run folder.

``llamatouch eval`` runs AutoDroid against a real HTTP server on 127.0.0.1 that echoes every
credential it receives (the Authorization header, its base64, a prefix of the bearer token, the
request path with its query) into its answers and error messages. Afterwards every file of the
run folder, and the command's stdout and stderr, are searched for every form of the secrets.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from llamatouch.runner.results import load_results_json

pytestmark = pytest.mark.slow

PASSWORD = "secret"
QUERY_KEY = "SECRET"
API_KEY = "sk-e2e-Hq7Zt3Lw9Pd2Xm5Rv8-NEVER-WRITE"


class EchoServer:
    """Answers chat completions; ``mode`` ``"answer"`` (a finishing JSON answer that quotes the
    credentials) or ``"fail"`` (HTTP 503 quoting them)."""

    def __init__(self) -> None:
        self.mode = "answer"
        self.seen: list[tuple[str, str]] = []  # (path, authorization)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                auth = self.headers.get("Authorization", "")
                server.seen.append((self.path, auth))
                token = auth.split(" ", 1)[-1]
                echo = (f"you sent {self.path} with {auth} (b64 "
                        f"{base64.b64encode(token.encode()).decode()}, starts {token[:10]})")
                if server.mode == "answer":
                    answer = json.dumps({"finished": True, "id": -1, "action": "tap",
                                         "note": echo})
                    body = json.dumps({
                        "id": "x", "object": "chat.completion", "created": 0,
                        "model": f"echo {auth}",
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": answer}}],
                        "usage": {"prompt_tokens": 9, "completion_tokens": 9,
                                  "total_tokens": 18},
                    }).encode()
                    status = 200
                else:
                    body = json.dumps({"error": {"message": echo}}).encode()
                    status = 503
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def echo_server() -> Iterator[EchoServer]:
    s = EchoServer()
    yield s
    s.close()


def secret_forms() -> list[str]:
    basic = base64.b64encode(f"user:{PASSWORD}".encode()).decode()
    return [
        PASSWORD, QUERY_KEY, API_KEY, API_KEY[:10], basic,
        base64.b64encode(API_KEY.encode()).decode()[:16],
        base64.b64encode(basic.encode()).decode()[:16],
    ]


def eval_run(out: Path, base_url: str, task: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENAI_API_KEY": API_KEY}
    cmd = [sys.executable, "-m", "llamatouch", "-v", "eval", "--out", str(out), "--no-progress",
           "--agent", "autodroid", "--agent-param", "memory=off", "--model", "openai:echo",
           "--base-url", base_url, "--task", task, "--device", "virtual",
           "--infra-retries", "0"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)


def leaks_in(out: Path, *texts: str) -> list[str]:
    found = []
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        data = path.read_bytes()
        found += [f"{path.relative_to(out)}: {s!r}" for s in secret_forms()
                  if s.encode() in data]
    for i, text in enumerate(texts):
        found += [f"output {i}: {s!r}" for s in secret_forms() if s in text]
    return found


def test_no_credential_reaches_the_run_folder(echo_server: EchoServer, tmp_path: Path) -> None:
    port = echo_server.port
    # 1. credentials in the URL (user-info + ?key=); the server answers and quotes them
    out1 = tmp_path / "answers"
    url1 = f"http://user:{PASSWORD}@127.0.0.1:{port}/v1?key={QUERY_KEY}"
    done1 = eval_run(out1, url1, "contacts-call-alice")
    assert echo_server.seen, done1.stderr
    path, auth = echo_server.seen[0]
    assert path == f"/v1/chat/completions?key={QUERY_KEY}"  # they were used ...
    assert auth == "Basic " + base64.b64encode(f"user:{PASSWORD}".encode()).decode()
    assert (out1 / "run.json").is_file() and (out1 / "results.json").is_file(), done1.stderr
    run = json.loads((out1 / "run.json").read_text())
    assert run["config"]["base_url"] == f"http://***@127.0.0.1:{port}/v1?key=***"

    # 2. the key as a bearer token (?api_key= in the URL too); the server fails, quoting them
    echo_server.mode = "fail"
    echo_server.seen.clear()
    out2 = tmp_path / "failures"
    done2 = eval_run(out2, f"http://127.0.0.1:{port}/v1?api_key={QUERY_KEY}",
                     "clock-new-alarm-0630")
    assert echo_server.seen and echo_server.seen[0][1] == f"Bearer {API_KEY}"
    (row,) = load_results_json(out2 / "results.json")
    assert "503" in row["error"]  # the failure is recorded, with the server's words ...

    # ... and nowhere, in any form, the secrets
    assert leaks_in(out1, done1.stdout, done1.stderr) == []
    assert leaks_in(out2, done2.stdout, done2.stderr) == []
