"""An unavailable endpoint (refused, silent, 5xx, 429) is retried with back-off and then raised
as LLMUnavailableError; an unusable answer or a rejected request is a plain LLMError.

Every test talks to a real socket on 127.0.0.1: a closed port, a listener that never answers,
or a tiny http.server answering as scripted. Waits are recorded by replacing ``backend.sleep``
(nothing asserts wall-clock time).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from llamatouch.errors import LLMError, LLMUnavailableError
from llamatouch.llm import ChatMessage, LLMConfig, load_backend
from llamatouch.llm.openai_backend import OpenAIBackend

MESSAGES = [ChatMessage("user", "Which element? Answer with JSON.")]
JSON = {"Content-Type": "application/json"}


def backend(base_url: str, **kw: Any) -> tuple[OpenAIBackend, list[float]]:
    kw.setdefault("retry_backoff_s", 0.5)
    b = load_backend(LLMConfig(model="openai:fake", base_url=base_url,
                               api_key_env="LLAMATOUCH_TEST_NO_SUCH_KEY", **kw))
    assert isinstance(b, OpenAIBackend)
    waits: list[float] = []
    b.sleep = waits.append
    return b, waits


def test_connection_refused_is_unavailable_after_backoff(unused_port: int) -> None:
    b, waits = backend(f"http://127.0.0.1:{unused_port}/v1", retries=3, timeout_s=5)
    with b, pytest.raises(LLMUnavailableError, match="service unavailable after 4 attempts") as e:
        b.complete(MESSAGES, max_tokens=4)
    assert "APIConnectionError" in str(e.value) and "refused" in str(e.value).lower()
    assert b.attempts == 4
    assert waits == [0.5, 1.0, 2.0]  # exponential


def test_backoff_is_capped(unused_port: int) -> None:
    b, waits = backend(f"http://127.0.0.1:{unused_port}/v1", retries=5,
                       retry_backoff_s=1.0, retry_backoff_max_s=2.5)
    with b, pytest.raises(LLMUnavailableError):
        b.complete(MESSAGES, max_tokens=4)
    assert waits == [1.0, 2.0, 2.5, 2.5, 2.5]


def test_silent_server_times_out_as_unavailable(silent_port: int) -> None:
    b, waits = backend(f"http://127.0.0.1:{silent_port}/v1", retries=1, timeout_s=0.5)
    with b, pytest.raises(LLMUnavailableError, match="2 attempts") as e:
        b.complete(MESSAGES, max_tokens=4)
    assert "Timeout" in str(e.value)
    assert waits == [0.5]


def test_503_then_429_then_200_recovers_and_honours_retry_after(
    fake_endpoint: Callable[..., Any], ok_body: bytes
) -> None:
    ep = fake_endpoint("script", script=[
        (503, {}, b'{"error": {"message": "overloaded"}}'),
        (429, {"Retry-After": "0.2"}, b'{"error": {"message": "slow down"}}'),
        (200, JSON, ok_body),
    ])
    b, waits = backend(ep.base_url, retries=2)
    with b:
        r = b.complete(MESSAGES, max_tokens=4)
    assert r.text == "hello"
    assert len(ep.paths) == 3 and b.attempts == 3
    assert waits == [0.5, 0.2]  # back-off after the 503, the server's Retry-After after the 429


def test_retry_after_ms_and_http_date_are_honoured(
    fake_endpoint: Callable[..., Any], ok_body: bytes
) -> None:
    ep = fake_endpoint("script", script=[
        (429, {"retry-after-ms": "150"}, b"{}"),
        (503, {"Retry-After": "Thu, 01 Jan 1970 00:00:00 GMT"}, b"{}"),  # in the past: now
        (200, JSON, ok_body),
    ])
    b, waits = backend(ep.base_url, retries=2)
    with b:
        assert b.complete(MESSAGES, max_tokens=4).text == "hello"
    assert waits == [0.15, 0.0]


def test_absurd_retry_after_is_ignored(fake_endpoint: Callable[..., Any]) -> None:
    ep = fake_endpoint("script", script=[(429, {"Retry-After": "86400"}, b"{}")])
    b, waits = backend(ep.base_url, retries=2, retry_after_max_s=60)
    with b, pytest.raises(LLMUnavailableError, match="HTTP 429"):
        b.complete(MESSAGES, max_tokens=4)
    assert waits == [0.5, 1.0]
    assert len(ep.paths) == 3


def test_always_500_is_unavailable(fake_endpoint: Callable[..., Any]) -> None:
    ep = fake_endpoint("500")
    b, waits = backend(ep.base_url, retries=2)
    with b, pytest.raises(LLMUnavailableError, match="HTTP 500"):
        b.complete(MESSAGES, max_tokens=4)
    assert len(ep.requests) == 3 and waits == [0.5, 1.0]


@pytest.mark.parametrize("behaviour", ["nonsense", "wrong_json"])
def test_malformed_body_is_an_llm_error_not_unavailable(
    behaviour: str, fake_endpoint: Callable[..., Any]
) -> None:
    ep = fake_endpoint(behaviour)
    b, _ = backend(ep.base_url, retries=1)
    with b, pytest.raises(LLMError, match="no usable answer after 2 attempts") as e:
        b.complete(MESSAGES, max_tokens=4)
    assert not isinstance(e.value, LLMUnavailableError)
    assert len(ep.requests) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
def test_rejected_request_fails_at_once(status: int, fake_endpoint: Callable[..., Any]) -> None:
    ep = fake_endpoint("script", script=[(status, {}, b'{"error": {"message": "no"}}')])
    b, waits = backend(ep.base_url, retries=3)
    with b, pytest.raises(LLMError, match=f"rejected: HTTP {status}") as e:
        b.complete(MESSAGES, max_tokens=4)
    assert not isinstance(e.value, LLMUnavailableError)
    assert len(ep.paths) == 1 and waits == []


def test_last_failure_decides_the_class(fake_endpoint: Callable[..., Any]) -> None:
    ep = fake_endpoint("script", script=[(200, JSON, b"not json"), (503, {}, b"{}")])
    b, _ = backend(ep.base_url, retries=1)
    with b, pytest.raises(LLMUnavailableError):
        b.complete(MESSAGES, max_tokens=4)
    ep2 = fake_endpoint("script", script=[(503, {}, b"{}"), (200, JSON, b"not json")])
    b2, _ = backend(ep2.base_url, retries=1)
    with b2, pytest.raises(LLMError) as e:
        b2.complete(MESSAGES, max_tokens=4)
    assert not isinstance(e.value, LLMUnavailableError)
