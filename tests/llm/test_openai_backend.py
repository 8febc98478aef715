"""The OpenAI-compatible backend against a real local llama_cpp.server and fake endpoints."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest

from llamatouch.errors import LLMError
from llamatouch.llm import ChatMessage, LLMConfig, load_backend
from llamatouch.llm.openai_backend import OpenAIBackend

KEY_ENV = "LLAMATOUCH_TEST_API_KEY"
SERVER_MODEL_ALIAS = "smollm2-135m"  # as served by the llama_server fixture
SECRET = "sk-test-9f8e7d6c5b4a-DO-NOT-LEAK"

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "element_id": {"type": "integer"},
        "action": {"type": "string", "enum": ["tap", "type", "finish"]},
    },
    "required": ["element_id", "action"],
}

MESSAGES = [
    ChatMessage("system", "You operate a phone. Answer with JSON."),
    ChatMessage("user", "Screen: <button id=3>Wi-Fi</button>. Task: turn on Wi-Fi."),
]


def backend(base_url: str, **kw: Any) -> OpenAIBackend:
    config = LLMConfig(model=f"openai:{SERVER_MODEL_ALIAS}", base_url=base_url,
                       api_key_env=KEY_ENV, **kw)
    b = load_backend(config)
    assert isinstance(b, OpenAIBackend)
    return b


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, SECRET)
    return SECRET


@pytest.mark.slow
def test_chat_completion_through_local_llama_cpp_server(
    llama_server: str, server_model_alias: str
) -> None:
    assert server_model_alias == SERVER_MODEL_ALIAS
    with backend(llama_server, timeout_s=120) as b:
        r = b.complete([ChatMessage("user", "Say hello.")], max_tokens=16)
    assert r.text.strip()
    assert r.usage.prompt_tokens > 0
    assert 0 < r.usage.completion_tokens <= 16
    assert r.usage.total_s > 0
    assert r.usage.prefill_s == 0.0 and r.usage.decode_s == 0.0  # endpoints do not say
    assert r.finish_reason in ("stop", "length")


@pytest.mark.slow
def test_json_schema_output_through_local_server(llama_server: str) -> None:
    with backend(llama_server, timeout_s=120) as b:
        r = b.complete(MESSAGES, json_schema=SCHEMA, max_tokens=64)
        # llama_cpp.server rejects response_format "json_schema" and takes "json_object" + schema
        assert b._json_mode == "json_object"
        again = b.complete(MESSAGES, json_schema=SCHEMA, max_tokens=64)
    jsonschema.validate(json.loads(r.text), SCHEMA)
    jsonschema.validate(json.loads(again.text), SCHEMA)


@pytest.mark.slow
def test_api_key_never_leaks(llama_server: str, caplog: pytest.LogCaptureFixture,
                             fake_endpoint: Callable[..., Any]) -> None:
    caplog.set_level(logging.DEBUG)
    b = backend(llama_server, timeout_s=120)
    ok = b.complete(MESSAGES, json_schema=SCHEMA, max_tokens=32)
    echo = fake_endpoint("echo_auth_500")
    bad = backend(echo.base_url, retries=1, retry_backoff_s=0.0)
    with pytest.raises(LLMError) as info:
        bad.complete(MESSAGES, max_tokens=8)
    # the key did travel to the server (so the test is meaningful) ...
    assert echo.requests and echo.requests[0]["authorization"] == f"Bearer {SECRET}"
    # ... but it is nowhere we write
    for text in (caplog.text, repr(b), str(b), repr(bad), repr(ok), str(ok.usage.as_dict()),
                 str(info.value), repr(b.config)):
        assert SECRET not in text
    assert "***" in str(info.value)  # the echoed key was scrubbed
    b.close()
    bad.close()


def test_server_errors_are_retried_then_raised(fake_endpoint: Callable[..., Any]) -> None:
    ep = fake_endpoint("500")
    with backend(ep.base_url, retries=2, retry_backoff_s=0.0) as b, \
            pytest.raises(LLMError, match="3 attempts"):
        b.complete(MESSAGES, max_tokens=8)
    assert len(ep.requests) == 3


@pytest.mark.parametrize("behaviour", ["nonsense", "wrong_json"])
def test_malformed_bodies_are_retried_then_raised(
    behaviour: str, fake_endpoint: Callable[..., Any]
) -> None:
    ep = fake_endpoint(behaviour)
    with backend(ep.base_url, retries=1, retry_backoff_s=0.0) as b, \
            pytest.raises(LLMError, match="2 attempts"):
        b.complete(MESSAGES, max_tokens=8)
    assert len(ep.requests) == 2


def test_hanging_endpoint_times_out(fake_endpoint: Callable[..., Any]) -> None:
    ep = fake_endpoint("hang", hang_s=3.0)
    with backend(ep.base_url, timeout_s=0.3, retries=1, retry_backoff_s=0.0) as b, \
            pytest.raises(LLMError, match="2 attempts"):
        b.complete(MESSAGES, max_tokens=8)
    assert len(ep.requests) == 2


def test_garbage_text_is_returned_not_raised(fake_endpoint: Callable[..., Any]) -> None:
    ep = fake_endpoint("garbage_text")
    with backend(ep.base_url) as b:
        r = b.complete(MESSAGES, json_schema=SCHEMA, max_tokens=8)
    assert r.text == "qwfp ]]{{"
    assert r.usage.prompt_tokens == 5 and r.usage.completion_tokens == 3
    assert len(ep.requests) == 1


def test_configuration_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(LLMError, match="no endpoint"):
        load_backend(LLMConfig(model="openai:gpt"))
    with pytest.raises(LLMError, match="expected 'openai:MODEL_ID'"):
        load_backend(LLMConfig(model="openai:", base_url="http://127.0.0.1:1/v1"))
    with pytest.raises(LLMError, match="json_mode"):
        load_backend(LLMConfig(model="openai:x", base_url="http://127.0.0.1:1/v1",
                               json_mode="xml"))


def test_unreachable_endpoint_is_bounded(unused_port: int) -> None:
    url = f"http://127.0.0.1:{unused_port}/v1"  # nothing listens there
    with backend(url, retries=1, retry_backoff_s=0.0, timeout_s=2) as b, \
            pytest.raises(LLMError, match="2 attempts"):
        b.complete(MESSAGES, max_tokens=8)
