"""The lazy-grammar token sampler gives llama-cpp-python's own answers, faster.

Reference: ``Llama.create_completion`` on the same prompt tokens, which filters the whole
vocabulary through the grammar at every step. Both prefill the prompt from an empty cache in the
same batches, so their logits are bit-identical and greedy answers must match exactly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from llamatouch.llm import ChatMessage
from llamatouch.llm import sampling as sampling_mod
from llamatouch.llm.llamacpp import LlamaCppBackend

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "element_id": {"type": "integer"},  # (the GBNF converter ignores min/max)
        "action": {"type": "string", "enum": ["tap", "input", "back", "finish"]},
        "input_text": {"type": "string", "maxLength": 16},
    },
    "required": ["element_id", "action", "input_text"],
    "additionalProperties": False,
}

PROMPTS = [
    [ChatMessage("system", "You operate an Android phone. Answer with JSON."),
     ChatMessage("user", "<button id=1>Wi-Fi</button><button id=2>Bluetooth</button>\n"
                         "Task: turn on Bluetooth.")],
    [ChatMessage("user", "<input id=7>Search</input>\nTask: search for 'pizza near me'.")],
    [ChatMessage("user", "Write one sentence about alarms.")],
]


@pytest.fixture()
def llm(embedded_llm: LlamaCppBackend) -> Iterator[LlamaCppBackend]:
    yield embedded_llm
    embedded_llm.reset_cache()


def reference(llm: LlamaCppBackend, msgs: list[ChatMessage], schema: dict[str, Any] | None,
              max_tokens: int) -> tuple[str, int]:
    """llama-cpp-python's own greedy answer (grammar applied to every candidate)."""
    llm.reset_cache()
    grammar = llm.grammar_for(schema) if schema is not None else None
    out: Any = llm.llama.create_completion(
        llm.tokenize_prompt(msgs), max_tokens=max_tokens, temperature=0.0, grammar=grammar
    )
    llm.reset_cache()
    return out["choices"][0]["text"], out["usage"]["completion_tokens"]


@pytest.mark.slow
@pytest.mark.parametrize("use_schema", [True, False])
def test_greedy_answers_equal_llama_cpp_python(llm: LlamaCppBackend, use_schema: bool) -> None:
    schema = SCHEMA if use_schema else None
    rejected = 0
    for msgs in PROMPTS:
        want, n = reference(llm, msgs, schema, 48)
        before = llm._sampler.rejections
        got = llm.complete(msgs, json_schema=schema, max_tokens=48)
        rejected += llm._sampler.rejections - before
        assert got.text == want
        assert got.usage.completion_tokens == n
        if use_schema:
            jsonschema.validate(json.loads(got.text), SCHEMA)
    if use_schema:
        assert rejected > 0  # the grammar did correct the unconstrained choice (path exercised)


@pytest.mark.slow
def test_full_vocabulary_fallback_gives_the_same_answer(
    llm: LlamaCppBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a one-token shortlist every correction goes through the whole vocabulary."""
    monkeypatch.setattr(sampling_mod, "GREEDY_SHORTLIST", 1)
    msgs = PROMPTS[0]
    want, _ = reference(llm, msgs, SCHEMA, 48)
    assert llm.complete(msgs, json_schema=SCHEMA, max_tokens=48).text == want


@pytest.mark.slow
def test_sampling_follows_the_grammar_and_the_seed(llm: LlamaCppBackend) -> None:
    texts = []
    for seed in range(4):
        r = llm.complete(PROMPTS[1], json_schema=SCHEMA, max_tokens=64, temperature=1.2,
                         seed=seed)
        jsonschema.validate(json.loads(r.text), SCHEMA)
        texts.append(r.text)
    again = llm.complete(PROMPTS[1], json_schema=SCHEMA, max_tokens=64, temperature=1.2, seed=2)
    assert again.text == texts[2]
    assert len(set(texts)) > 1  # different seeds, different draws
