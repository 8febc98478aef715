"""Credentials in ``base_url`` and the API key: used for the requests, shown nowhere.

Real HTTP servers on 127.0.0.1 echo what they received (path with query, Authorization header,
its base64, a prefix of the key) in their error messages; the backend's errors, log lines,
``repr``/``describe`` and answers must hold none of it in any form.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from llamatouch.errors import LLMError, LLMUnavailableError
from llamatouch.llm import ChatMessage, LLMConfig, load_backend
from llamatouch.llm.openai_backend import OpenAIBackend, split_base_url
from llamatouch.redact import MIN_FRAGMENT

KEY_ENV = "LLAMATOUCH_TEST_REDACT_KEY"
KEY = "sk-redact-Q1w2E3r4T5y6U7i8-DO-NOT-LEAK"
PASSWORD = "pa55-w0rd-Zx9"
QUERY_KEY = "QueryKey1234567890abcdEF"
MESSAGES = [ChatMessage("user", "hi")]


def leaks(text: str, *secrets: str) -> list[str]:
    """Fragments (>= MIN_FRAGMENT characters) of any secret found in ``text``."""
    found = []
    for s in secrets:
        for i in range(max(1, len(s) - MIN_FRAGMENT + 1)):
            frag = s[i : i + MIN_FRAGMENT]
            if frag in text:
                found.append(frag)
    return found


def make(base_url: str, **kw: Any) -> OpenAIBackend:
    b = load_backend(LLMConfig(model="openai:fake", base_url=base_url, api_key_env=KEY_ENV,
                               retry_backoff_s=0.0, **kw))
    assert isinstance(b, OpenAIBackend)
    return b


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)


def test_config_repr_hides_url_credentials() -> None:
    config = LLMConfig(model="openai:x", base_url=f"http://bob:{PASSWORD}@h:1/v1?key={QUERY_KEY}")
    assert repr(config).count("base_url='http://***@h:1/v1?key=***'") == 1
    assert not leaks(repr(config) + str(config), PASSWORD, QUERY_KEY)
    assert config.base_url and PASSWORD in config.base_url  # the value itself is intact


def test_split_base_url() -> None:
    assert split_base_url("http://u:p@h:1/v1?key=a&x=") == ("http://u:p@h:1/v1", {"key": "a",
                                                                                "x": ""})
    with pytest.raises(LLMError, match="expected http"):
        split_base_url("ftp://u:secret@h/v1")
    with pytest.raises(LLMError) as e:
        split_base_url("http://u:secretpw@[::1/v1")
    assert "secretpw" not in str(e.value)


def test_url_credentials_are_used_but_never_shown(
    fake_endpoint: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ep = fake_endpoint("echo_all_500")
    url = f"http://alice:{PASSWORD}@127.0.0.1:{ep.port}/v1?key={QUERY_KEY}&model=m"
    b = make(url, retries=1)
    with pytest.raises(LLMUnavailableError) as info:
        b.complete(MESSAGES, max_tokens=4)
    # the credentials did reach the server: query on the right path, user-info as Basic auth
    basic = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    assert ep.paths[0] == f"/v1/chat/completions?key={QUERY_KEY}&model=m"
    assert ep.requests[0]["authorization"] == f"Basic {basic}"
    # ... and the server echoed them, so the test is meaningful
    shown = [str(info.value), caplog.text, repr(b), b.describe(), b.public_url]
    for text in shown:
        assert not leaks(text, PASSWORD, QUERY_KEY, basic, KEY), text
    assert f"127.0.0.1:{ep.port}/v1" in str(info.value)  # still says where it went
    assert b.public_url == f"http://***@127.0.0.1:{ep.port}/v1?key=***&model=m"
    b.close()


def test_echoed_key_prefix_and_base64_are_redacted(
    fake_endpoint: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ep = fake_endpoint("echo_all_500")
    b = make(f"{ep.base_url}?api_key={QUERY_KEY}", retries=0)
    with pytest.raises(LLMUnavailableError) as info:
        b.complete(MESSAGES, max_tokens=4)
    assert ep.requests[0]["authorization"] == f"Bearer {KEY}"
    message = str(info.value)
    assert "key starting ***" in message and "b64 ***" in message  # echoed, then scrubbed
    for text in (message, caplog.text):
        assert not leaks(text, KEY, QUERY_KEY, base64.b64encode(KEY.encode()).decode()), text
    b.close()


def test_rejected_request_message_is_redacted(fake_endpoint: Callable[..., Any]) -> None:
    body = json.dumps({"error": {"message": f"Incorrect API key provided: {KEY[:14]}****"}})
    ep = fake_endpoint("script", script=[(401, {}, body.encode())])
    b = make(f"http://bob:{PASSWORD}@127.0.0.1:{ep.port}/v1")
    with pytest.raises(LLMError, match="rejected: HTTP 401") as info:
        b.complete(MESSAGES, max_tokens=4)
    assert not leaks(str(info.value), KEY, PASSWORD)
    b.close()


def test_answer_echoing_the_key_is_redacted(fake_endpoint: Callable[..., Any]) -> None:
    body = {
        "id": "x", "object": "chat.completion", "created": 0, "model": f"echo-{KEY}",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": f"your key is {KEY}"}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    ep = fake_endpoint("script", script=[(200, {"Content-Type": "application/json"},
                                          json.dumps(body).encode())])
    with make(ep.base_url) as b:
        r = b.complete(MESSAGES, max_tokens=4)
    assert r.text == "your key is ***" and r.model == "echo-***"
    assert not leaks(repr(r), KEY)
