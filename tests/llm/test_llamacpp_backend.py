"""Real llama.cpp inference on the embedded SmolLM2-135M-Instruct GGUF."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import jsonschema
import pytest

from llamatouch.errors import LLMError, LLMUnavailableError
from llamatouch.llm import ChatMessage, LLMConfig, load_backend, resolve_gguf
from llamatouch.llm.llamacpp import MIN_SUFFIX, LlamaCppBackend, _chunks
from llamatouch.models import embedded_gguf_path

ACTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "element_id": {"type": "integer", "minimum": 0, "maximum": 99},
        "action": {"type": "string", "enum": ["tap", "type", "scroll_down", "finish"]},
        "text": {"type": "string", "maxLength": 24},
        "done": {"type": "boolean"},
    },
    "required": ["element_id", "action", "text", "done"],
    "additionalProperties": False,
}

SYSTEM = ChatMessage(
    "system",
    "You are an agent operating an Android phone. Each turn you see the current screen as HTML. "
    "Choose exactly one element and one action. Answer only with JSON. " * 3,
)
TASK = "Task: turn on Wi-Fi in the Settings app.\nPrevious actions: tap(3) on 'Settings'.\n"


def screen(step: int) -> str:
    """A screen that changes a little from step to step (the last item)."""
    items = "".join(
        f"<button id={i}>{'Wi-Fi' if i == 4 else f'Item {i}'}</button>" for i in range(11)
    )
    return f"Current screen:\n<html>{items}<p id=11>Page {step}</p></html>\nYour answer:"


def messages(step: int) -> list[ChatMessage]:
    return [SYSTEM, ChatMessage("user", TASK + screen(step))]


@pytest.fixture()
def llm(embedded_llm: LlamaCppBackend) -> Iterator[LlamaCppBackend]:
    """The session model with its config and clock restored after the test."""
    config, clock = embedded_llm.config, embedded_llm.clock
    yield embedded_llm
    embedded_llm.config, embedded_llm.clock = config, clock


def fake_clock(step: float, jumps: dict[int, float] | None = None) -> Callable[[], float]:
    """A clock that advances ``step`` per reading (plus extra ``jumps`` at given readings)."""
    counter = itertools.count()
    now = [0.0]

    def clock() -> float:
        i = next(counter)
        now[0] += step + (jumps or {}).get(i, 0.0)
        return now[0]

    return clock


def test_load_backend_embedded_and_by_path(embedded_llm: LlamaCppBackend) -> None:
    assert isinstance(embedded_llm, LlamaCppBackend)
    assert embedded_llm.model_path == embedded_gguf_path()
    assert resolve_gguf(f"gguf:{embedded_gguf_path()}") == embedded_gguf_path()
    assert resolve_gguf(str(embedded_gguf_path())) == embedded_gguf_path()
    with pytest.raises(LLMError, match="not found"):
        load_backend(LLMConfig(model="/nonexistent/model.gguf"))


def test_chat_template_from_gguf(llm: LlamaCppBackend) -> None:
    prompt = llm.format_prompt(messages(0))
    # SmolLM2's template (ChatML) read from the GGUF metadata
    assert prompt.startswith("<|im_start|>system\n")
    assert prompt.endswith("<|im_start|>assistant\n")
    ids = llm.tokenize_prompt(messages(0))
    assert ids[0] == llm.llama.tokenize(b"<|im_start|>", add_bos=False, special=True)[0]


def test_json_schema_answer_parses_and_validates(llm: LlamaCppBackend) -> None:
    result = llm.complete(messages(0), json_schema=ACTION_SCHEMA, max_tokens=96)
    assert result.finish_reason == "stop"
    answer = json.loads(result.text)
    jsonschema.validate(answer, ACTION_SCHEMA)


def test_usage_is_filled_and_plausible(llm: LlamaCppBackend) -> None:
    llm.reset_cache()
    result = llm.complete(messages(1), max_tokens=12)
    u = result.usage
    assert u.prompt_tokens == len(llm.tokenize_prompt(messages(1)))
    assert u.cached_prompt_tokens == 0
    assert 1 <= u.completion_tokens <= 12
    assert u.prefill_s > 0 and u.decode_s > 0
    assert u.total_s >= u.prefill_s + u.decode_s
    assert result.model == embedded_gguf_path().name
    assert result.finish_reason in ("stop", "length")
    if u.completion_tokens == 12:
        assert result.finish_reason == "length"
    assert result.text.strip()


def test_prefix_cache_reuses_shared_prefix(llm: LlamaCppBackend) -> None:
    llm.reset_cache()
    first = llm.complete(messages(2), json_schema=ACTION_SCHEMA, max_tokens=64)
    second = llm.complete(messages(3), json_schema=ACTION_SCHEMA, max_tokens=64)
    assert first.usage.cached_prompt_tokens == 0
    # the system + task part is identical: its tokens come from the KV cache
    shared = llm.tokenize_prompt([SYSTEM, ChatMessage("user", TASK)])
    assert second.usage.cached_prompt_tokens >= len(shared) - 8
    u = second.usage
    assert u.prefilled_tokens == u.prompt_tokens - u.cached_prompt_tokens
    # only the changed end of the screen is prefilled again
    assert second.usage.prefilled_tokens < first.usage.prefilled_tokens / 4
    # the exact same prompt again: all but the last MIN_SUFFIX tokens are cached
    third = llm.complete(messages(3), json_schema=ACTION_SCHEMA, max_tokens=64)
    assert third.usage.cached_prompt_tokens == third.usage.prompt_tokens - MIN_SUFFIX
    assert third.text == second.text


def test_cache_does_not_change_answers_and_seed_is_deterministic(llm: LlamaCppBackend) -> None:
    llm.complete(messages(4), max_tokens=8)  # leave a related prompt in the cache
    cached = llm.complete(messages(5), max_tokens=24)
    assert cached.usage.cached_prompt_tokens > 0
    llm.reset_cache()
    fresh = llm.complete(messages(5), max_tokens=24)
    assert fresh.usage.cached_prompt_tokens == 0
    assert fresh.text == cached.text
    sampled = [llm.complete(messages(5), max_tokens=16, temperature=0.9, seed=7).text
               for _ in range(2)]
    assert sampled[0] == sampled[1]


def test_prefix_cache_can_be_disabled() -> None:
    with load_backend(LLMConfig(prefix_cache=False, n_ctx=2048, n_threads=1)) as other:
        assert isinstance(other, LlamaCppBackend)
        other.complete(messages(0), max_tokens=4)
        again = other.complete(messages(0), max_tokens=4)
        assert again.usage.cached_prompt_tokens == 0
    with pytest.raises(LLMError, match="closed"):
        other.complete(messages(0), max_tokens=4)


def test_generation_stops_at_timeout_with_partial_text(llm: LlamaCppBackend) -> None:
    poem = [ChatMessage("user", "Write a long poem about a phone that never sleeps.")]
    full = llm.complete(poem, max_tokens=48)
    assert full.usage.completion_tokens > 12
    # 1 s per clock reading: prefill (3 readings) fits in 10 s, decode stops a few tokens later
    llm.config = replace(llm.config, timeout_s=10.0, retries=0)
    llm.clock = fake_clock(1.0)
    partial = llm.complete(poem, max_tokens=48)
    assert partial.finish_reason == "timeout"
    assert 0 < partial.usage.completion_tokens < full.usage.completion_tokens
    assert full.text.startswith(partial.text)


def test_timeout_during_prefill_is_retried_then_raises(llm: LlamaCppBackend) -> None:
    llm.config = replace(llm.config, timeout_s=0.5, retries=2, retry_backoff_s=0.0)
    llm.clock = fake_clock(1.0)  # every reading is past the deadline
    before = llm.attempts
    with pytest.raises(LLMUnavailableError, match="3 attempts"):
        llm.complete(messages(7), max_tokens=8)
    assert llm.attempts - before == 3


def test_retry_recovers_after_a_timed_out_attempt(llm: LlamaCppBackend) -> None:
    llm.config = replace(llm.config, timeout_s=50.0, retries=1, retry_backoff_s=0.0)
    llm.clock = fake_clock(0.001, jumps={2: 100.0})  # the first prefill check is late
    before = llm.attempts
    result = llm.complete(messages(8), max_tokens=8)
    assert llm.attempts - before == 2
    assert result.usage.completion_tokens > 0
    assert result.finish_reason in ("stop", "length")


def test_garbage_answer_is_returned_as_text(llm: LlamaCppBackend) -> None:
    # cut a schema-constrained answer short: the caller gets unparseable JSON, not an exception
    result = llm.complete(messages(9), json_schema=ACTION_SCHEMA, max_tokens=3)
    assert result.finish_reason == "length"
    assert result.usage.completion_tokens == 3
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.text)


def test_caller_errors_are_typed(llm: LlamaCppBackend) -> None:
    with pytest.raises(LLMError, match="at least one message"):
        llm.complete([])
    with pytest.raises(LLMError, match="does not fit"):
        llm.complete([ChatMessage("user", "word " * 5000)], max_tokens=4)
    with pytest.raises(LLMError, match="grammar"):
        llm.complete(messages(0), json_schema={"type": "object", "$ref": "#/nowhere"})
    with pytest.raises(LLMError, match="not a ChatMessage"):
        llm.complete([{"role": "user", "content": "hi"}])  # type: ignore[list-item]


def test_prefill_batches_never_end_with_a_single_token() -> None:
    assert [len(c) for c in _chunks(list(range(513)), 512)] == [511, 2]
    assert [len(c) for c in _chunks(list(range(10)), 4)] == [4, 4, 2]
    assert [len(c) for c in _chunks(list(range(9)), 4)] == [4, 3, 2]
    assert _chunks([], 4) == []
    assert [t for c in _chunks(list(range(1025)), 512) for t in c] == list(range(1025))
