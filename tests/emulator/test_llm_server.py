"""The virtual device hosts a model server, reachable only through ``adb forward`` (real adb
binary, real embedded model), and reports its real memory; forwards are bookkept so that those
of a dead run are removed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from llamatouch.device.dumpsys import parse_meminfo, parse_pidof
from llamatouch.device.forward import (
    AdbServerAddress,
    ForwardEntry,
    create_forward,
    list_forwards,
    reap_stale_forwards,
    recorded_forwards,
    remove_forward,
    runtime_dir,
)
from llamatouch.errors import LLMUnavailableError
from llamatouch.llm import ChatMessage, LLMConfig, load_backend
from llamatouch.llm.on_device import probe_models
from llamatouch_emulator.harness import AdbSession
from llamatouch_emulator.llm_server import LLMServerProcess, host_on, process_memory

pytestmark = pytest.mark.slow

SCHEMA = {"type": "object", "properties": {"answer": {"type": "string", "maxLength": 12}},
          "required": ["answer"]}


@pytest.fixture(scope="module")
def model_server() -> Iterator[LLMServerProcess]:
    proc = LLMServerProcess.start("embedded", threads=1)
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture()
def phone(model_server: LLMServerProcess, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[AdbSession]:
    monkeypatch.setenv("LLAMATOUCH_RUNTIME_DIR", str(tmp_path / "rt"))
    with AdbSession.for_world("demo") as s:
        assert s.server is not None
        host_on(s.server, model_server)
        yield s


def _server(s: AdbSession) -> AdbServerAddress:
    return AdbServerAddress("127.0.0.1", s.adb_port)


def test_model_on_the_device_answers_through_a_forward_with_llama_server_timings(
    phone: AdbSession, model_server: LLMServerProcess
) -> None:
    fwd = create_forward(_server(phone), phone.serial, 8080)
    try:
        assert fwd.local != model_server.port  # the forward, not the hidden port
        assert probe_models(fwd.base_url) == model_server.model_id
        llm = load_backend(LLMConfig(model="device:8080", base_url=fwd.base_url, retries=0))
        try:
            assert "device:8080" in llm.describe()
            msgs = [ChatMessage("system", "You answer in JSON."),
                    ChatMessage("user", "Name a colour.")]
            first = llm.complete(msgs, json_schema=SCHEMA, max_tokens=24)
            assert json.loads(first.text)["answer"] is not None
            u = first.usage
            assert u.prefill_s > 0 and u.decode_s > 0 and u.completion_tokens > 0
            assert u.total_s >= u.prefill_s + u.decode_s  # the host's wall time holds both
            again = llm.complete(msgs, json_schema=SCHEMA, max_tokens=24)
            # the server's own prefix cache, as it reports it
            assert again.usage.cached_prompt_tokens > 0
            assert again.usage.cached_prompt_tokens < again.usage.prompt_tokens
        finally:
            llm.close()
    finally:
        remove_forward(fwd)
    assert list_forwards(_server(phone)) == [] and recorded_forwards() == []


def test_pidof_and_meminfo_report_the_server_process(
    phone: AdbSession, model_server: LLMServerProcess
) -> None:
    pid = parse_pidof(phone.run_adb("shell", "pidof", "llama-server").stdout.decode())
    assert pid == model_server.pid
    ps = phone.run_adb("shell", "ps").stdout.decode()
    assert any(line.split()[1] == str(pid) and line.endswith("llama-server")
               for line in ps.splitlines()[1:])
    pss, rss = parse_meminfo(phone.run_adb("shell", "dumpsys", "meminfo", str(pid))
                             .stdout.decode())
    real = process_memory(pid)
    assert real is not None and pss is not None and rss is not None
    # the model is loaded: well over 50 MB, and what /proc says (give or take a page or two)
    assert rss > 50_000 and abs(rss - real[1]) < 0.05 * real[1]
    assert 0 < pss <= rss
    unknown = phone.run_adb("shell", "dumpsys", "meminfo", "1").stdout.decode()
    assert "No process found" in unknown


def test_a_port_nothing_listens_on_is_unavailable(phone: AdbSession) -> None:
    fwd = create_forward(_server(phone), phone.serial, 8081)
    try:
        with pytest.raises(LLMUnavailableError):
            probe_models(fwd.base_url, timeout=5)
    finally:
        remove_forward(fwd)


def test_forwards_of_a_dead_process_are_reaped_and_live_ones_kept(phone: AdbSession) -> None:
    server = _server(phone)
    dead_fwd = create_forward(server, phone.serial, 8080)
    # make that record look like a run that was killed: a pid that has exited
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(gone.stdout)
    ours = runtime_dir() / f"forwards-{os.getpid()}.json"
    data = json.loads(ours.read_text())
    data["owner_pid"], data["owner_start"] = dead_pid, "1"
    (runtime_dir() / f"forwards-{dead_pid}.json").write_text(json.dumps(data))
    ours.unlink()
    live_fwd = create_forward(server, phone.serial, 8080)  # reaps the dead run's first
    try:
        listed = list_forwards(server)
        assert ForwardEntry(phone.serial, f"tcp:{dead_fwd.local}", "tcp:8080") not in listed
        assert ForwardEntry(phone.serial, f"tcp:{live_fwd.local}", "tcp:8080") in listed
        assert not (runtime_dir() / f"forwards-{dead_pid}.json").exists()
        assert reap_stale_forwards() == 0  # our own (live) record is left alone
        assert list_forwards(server) == listed
    finally:
        remove_forward(live_fwd)
    assert list_forwards(server) == []
    assert phone.run_adb("forward", "--list").stdout.strip() == b""


def _post(port: int, path: str, body: bytes) -> tuple[int, dict]:  # type: ignore[type-arg]
    import urllib.error
    import urllib.request

    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize(("path", "body", "status", "says"), [
    ("/v1/chat/completions", b"{not json", 400, "not JSON"),
    ("/v1/chat/completions", b"[]", 400, "JSON object"),
    ("/v1/chat/completions", b'{"messages": []}', 400, "messages"),
    ("/v1/chat/completions", b'{"messages": [{"role": "tool", "content": "x"}]}', 400, "role"),
    ("/v1/chat/completions",
     b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}', 400, "max_tokens"),
    ("/v1/chat/completions",
     b'{"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "xml"}}',
     400, "not supported"),
    ("/v1/embeddings", b"{}", 404, "no route"),
])
def test_malformed_requests_get_a_4xx_naming_the_problem(
    model_server: LLMServerProcess, path: str, body: bytes, status: int, says: str
) -> None:
    code, answer = _post(model_server.port, path, body)
    assert code == status and says in answer["error"]["message"], answer
    assert model_server.alive()
