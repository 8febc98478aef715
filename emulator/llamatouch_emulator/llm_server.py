"""A model server "inside" the virtual device: an OpenAI-compatible chat endpoint on the
embedded model that answers like llama.cpp's ``llama-server``, timings included.

On a phone, ``llama-server`` listens on the phone's loopback and the host reaches it only with
``adb forward tcp:X tcp:8080``. The virtual device does the same: :class:`LLMServerProcess`
starts this module as a child process bound to ``127.0.0.1`` on a free port that nothing
publishes, and the ADB device server maps the device port (8080) to it (the ``tcp:PORT`` service
adbd offers for ``adb forward``). ``pidof llama-server`` and ``dumpsys meminfo PID`` on the
virtual device then answer with this process's real pid and memory.

Why not ``python -m llama_cpp.server``: it answers without llama-server's ``timings`` object
(tokens prefilled and reused, prefill and decode milliseconds), which is what the host records
as the on-device cost. This server runs the same :class:`~llamatouch.llm.llamacpp.LlamaCppBackend`
as the in-process path (prefix cache, grammar-constrained JSON), so the two differ only by the
hop, and returns:

- ``GET /v1/models``: ``{"object": "list", "data": [{"id": MODEL_FILE, ...}]}``;
- ``GET /health``: ``{"status": "ok"}``;
- ``POST /v1/chat/completions`` (``messages``, ``max_tokens``, ``temperature``, ``seed``,
  ``response_format`` ``{"type": "json_schema", "json_schema": {"schema": ...}}`` or
  ``{"type": "json_object", "schema": ...}``): a chat completion with ``usage`` and
  ``timings`` = ``{prompt_n, prompt_ms, cache_n, predicted_n, predicted_ms,
  prompt_per_second, predicted_per_second}`` as llama-server sends them.

Requests are served one at a time (one model, one context). Bodies over
:data:`MAX_BODY_BYTES` are refused with 413, malformed ones with 400.

Run: ``python -m llamatouch_emulator.llm_server [--model embedded] [--threads N]`` prints
``listening 127.0.0.1:PORT`` once it accepts requests.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from llamatouch.errors import DeviceError, LLMError
from llamatouch.procutil import die_with_parent

log = logging.getLogger(__name__)

#: The port llama-server uses by default, and the device port the virtual device maps.
DEVICE_PORT = 8080
#: The process name ``pidof`` answers for (llama.cpp's server binary).
PROCESS_NAME = "llama-server"
#: Largest request body accepted.
MAX_BODY_BYTES = 8 * 1024 * 1024
#: Seconds the child may take to load the model and listen.
START_TIMEOUT_S = 120.0


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _schema_of(response_format: object) -> dict[str, Any] | None:
    """The JSON schema a request's ``response_format`` asks for (``None``: free text)."""
    if response_format is None:
        return None
    if not isinstance(response_format, dict):
        raise _BadRequest(400, "response_format must be an object")
    kind = response_format.get("type")
    if kind == "text":
        return None
    if kind == "json_schema":
        inner = response_format.get("json_schema")
        schema = inner.get("schema") if isinstance(inner, dict) else None
    elif kind == "json_object":
        schema = response_format.get("schema") or {"type": "object"}
    else:
        raise _BadRequest(400, f"response_format type {kind!r} is not supported")
    if not isinstance(schema, dict):
        raise _BadRequest(400, "response_format: missing JSON schema")
    return schema


class ChatService:
    """Turns chat-completion requests into calls of one backend (one at a time)."""

    def __init__(self, backend: Any, model_id: str) -> None:
        self.backend = backend
        self.model_id = model_id
        self._lock = threading.Lock()

    def models(self) -> dict[str, Any]:
        return {"object": "list", "data": [
            {"id": self.model_id, "object": "model", "created": 0, "owned_by": "llamatouch"}
        ]}

    def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        from llamatouch.llm.base import ChatMessage

        msgs = body.get("messages")
        if not isinstance(msgs, list) or not msgs:
            raise _BadRequest(400, "messages: expected a non-empty list")
        messages = []
        for m in msgs:
            if not isinstance(m, dict) or not isinstance(m.get("content"), str) or \
                    m.get("role") not in ("system", "user", "assistant"):
                raise _BadRequest(400, "messages: each needs a role and a text content")
            messages.append(ChatMessage(m["role"], m["content"]))
        max_tokens = body.get("max_tokens")
        if max_tokens is None:
            max_tokens = 256
        temperature = body.get("temperature", 0.0)
        seed = body.get("seed", 0)
        if not isinstance(max_tokens, int) or not 0 < max_tokens <= 32768:
            raise _BadRequest(400, "max_tokens: expected 1..32768")
        if not isinstance(temperature, (int, float)) or not 0 <= temperature <= 5:
            raise _BadRequest(400, "temperature: expected 0..5")
        if not isinstance(seed, int):
            raise _BadRequest(400, "seed: expected an integer")
        schema = _schema_of(body.get("response_format"))
        with self._lock:
            try:
                result = self.backend.complete(messages, json_schema=schema,
                                               max_tokens=max_tokens,
                                               temperature=float(temperature), seed=seed)
            except LLMError as exc:
                raise _BadRequest(500, str(exc)) from exc
        u = result.usage
        prompt_ms, predicted_ms = u.prefill_s * 1000.0, u.decode_s * 1000.0
        prefilled = u.prompt_tokens - u.cached_prompt_tokens
        finish = result.finish_reason if result.finish_reason in ("stop", "length") else "length"
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model_id,
            "choices": [{"index": 0, "finish_reason": finish,
                         "message": {"role": "assistant", "content": result.text}}],
            "usage": {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
                      "total_tokens": u.prompt_tokens + u.completion_tokens},
            "timings": {
                "cache_n": u.cached_prompt_tokens,
                "prompt_n": prefilled,
                "prompt_ms": prompt_ms,
                "prompt_per_second": prefilled / u.prefill_s if u.prefill_s > 0 else 0.0,
                "predicted_n": u.completion_tokens,
                "predicted_ms": predicted_ms,
                "predicted_per_second": (u.completion_tokens / u.decode_s
                                         if u.decode_s > 0 else 0.0),
            },
        }


def make_handler(service: ChatService) -> type[BaseHTTPRequestHandler]:
    """The request handler class serving ``service``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "llamatouch-llm"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("llm server: " + format, *args)

        def _send(self, status: int, obj: dict[str, Any]) -> None:
            data = json.dumps(obj).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str) -> None:
            self._send(status, {"error": {"code": status, "message": message,
                                          "type": "invalid_request_error"}})

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path in ("/v1/models", "/models"):
                self._send(200, service.models())
            elif path == "/health":
                self._send(200, {"status": "ok"})
            else:
                self._error(404, f"no route {path}")

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            try:
                length = int(self.headers.get("Content-Length") or "0")
            except ValueError:
                self._error(400, "bad Content-Length")
                return
            if length > MAX_BODY_BYTES:
                self.close_connection = True
                self._error(413, f"request body over {MAX_BODY_BYTES} bytes")
                return
            raw = self.rfile.read(length)
            if path not in ("/v1/chat/completions", "/chat/completions"):
                self._error(404, f"no route {path}")
                return
            try:
                body = json.loads(raw)
                if not isinstance(body, dict):
                    raise _BadRequest(400, "expected a JSON object")
                self._send(200, service.chat(body))
            except json.JSONDecodeError:
                self._error(400, "body is not JSON")
            except _BadRequest as exc:
                self._error(exc.status, str(exc))

    return Handler


def serve(backend: Any, model_id: str, port: int = 0,
          on_ready: Any = None) -> None:  # pragma: no cover - run in the child process
    """Serve ``backend`` on 127.0.0.1:``port`` until killed."""
    httpd = ThreadingHTTPServer(("127.0.0.1", port), make_handler(ChatService(backend, model_id)))
    httpd.daemon_threads = True
    if on_ready is not None:
        on_ready(int(httpd.server_address[1]))
    httpd.serve_forever()


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - run as a child process
    parser = argparse.ArgumentParser(prog="python -m llamatouch_emulator.llm_server")
    parser.add_argument("--model", default="embedded", help="embedded or a .gguf path")
    parser.add_argument("--threads", type=int, default=0, help="llama.cpp threads (0: all)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: free)")
    args = parser.parse_args(argv)
    from llamatouch.llm import LLMConfig, resolve_gguf
    from llamatouch.llm.llamacpp import LlamaCppBackend

    path = resolve_gguf(args.model)
    backend = LlamaCppBackend(LLMConfig(model=args.model, n_threads=args.threads or None), path)

    def ready(port: int) -> None:
        print(f"listening 127.0.0.1:{port}", flush=True)

    serve(backend, path.name, args.port, ready)
    return 0


# -- the child process -------------------------------------------------------------------------
def _die_with_parent(parent: int) -> Any:
    if not sys.platform.startswith("linux"):
        return None

    def setup() -> None:
        die_with_parent(signal.SIGKILL, parent)

    return setup


@dataclass(slots=True)
class LLMServerProcess:
    """The model server child process of a virtual device.

    Attributes:
        proc: the child (it dies with this process on Linux: ``PR_SET_PDEATHSIG``).
        port: its hidden port on 127.0.0.1.
        model_id: the model's name as ``/v1/models`` reports it.
    """

    proc: subprocess.Popen[bytes]
    port: int
    model_id: str

    @property
    def pid(self) -> int:
        return int(self.proc.pid)

    @classmethod
    def start(cls, model: str = "embedded", threads: int = 0,
              timeout: float = START_TIMEOUT_S) -> LLMServerProcess:
        """Start the server and wait until it listens.

        Raises:
            DeviceError: it exited or did not listen within ``timeout`` seconds.
        """
        from llamatouch.llm import resolve_gguf

        try:
            model_id = resolve_gguf(model).name
        except LLMError as exc:
            raise DeviceError(f"--llm-server: {exc}") from exc
        argv = [sys.executable, "-m", "llamatouch_emulator.llm_server", "--model", model,
                "--threads", str(threads)]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL,
                                preexec_fn=_die_with_parent(os.getpid()), close_fds=True)
        assert proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = b""
        while time.monotonic() < deadline and proc.poll() is None:
            ready, _, _ = select.select([proc.stdout], [], [], 0.2)
            if ready:
                line = proc.stdout.readline()
                break
        text = line.decode("utf-8", "replace").strip()
        if not text.startswith("listening 127.0.0.1:"):
            with contextlib.suppress(OSError):
                proc.kill()
            proc.wait(5)
            raise DeviceError(f"the virtual device's model server did not start "
                              f"({'exited' if proc.returncode is not None else 'timed out'}"
                              f"{': ' + text if text else ''})")
        return cls(proc, int(text.rsplit(":", 1)[1]), model_id)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def host_on(server: Any, proc: LLMServerProcess, device_port: int = DEVICE_PORT) -> None:
    """Make ``proc`` a process of the device served by ``server`` (an
    :class:`~llamatouch_emulator.adbd.AdbDeviceServer`): its device port ``device_port`` leads
    to the model server (through ``adb forward``), and ``pidof``/``ps``/``dumpsys meminfo``
    know it as :data:`PROCESS_NAME`."""
    server.device_ports[device_port] = ("127.0.0.1", proc.port)
    server.shell.hosted[PROCESS_NAME] = proc.pid


def process_memory(pid: int) -> tuple[int, int] | None:
    """(PSS kB, RSS kB) of a host process from ``/proc`` (PSS from ``smaps_rollup`` when
    readable, else RSS); ``None`` when the process does not exist."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    rss = 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    pss = rss
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
    return pss, rss


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
