"""llama.cpp in process (``llama-cpp-python``), with prompt-prefix KV caching.

Why not ``Llama.create_chat_completion``: it hides how long the prompt evaluation (prefill) took
and how many prompt tokens were served from the KV cache, and it cannot stop at a deadline during
prefill. This backend does the same steps itself, through llama-cpp-python's public ``Llama``
methods plus its context object:

1. format the chat with the GGUF's own chat template (``tokenizer.chat_template`` metadata,
   rendered by llama-cpp-python's ``Jinja2ChatFormatter``, exactly what ``create_chat_completion``
   does) and tokenise it with special tokens;
2. find the longest common prefix with the tokens already in the KV cache (the previous call's
   prompt + answer), drop the rest of the cache and evaluate only the new suffix (prefill),
   batch by batch so a deadline can stop it;
3. sample token by token (greedy at temperature 0, grammar-constrained when a JSON schema is
   given, the grammar checked lazily: :mod:`llamatouch.llm.sampling`) until an
   end-of-generation token, ``max_tokens`` or the deadline (decode).

llama_cpp is imported lazily so that importing llamatouch never loads the native library.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llamatouch.errors import LLMError, LLMUnavailableError
from llamatouch.llm.base import ChatMessage, LLMBackend, LLMConfig, LLMResult, LLMUsage
from llamatouch.llm.retry import Backoff
from llamatouch.llm.sampling import GrammarDeadEnd, TokenSampler

if TYPE_CHECKING:
    from llama_cpp import Llama, LlamaGrammar

log = logging.getLogger(__name__)

#: Used when a GGUF file has no chat template of its own (ChatML, a common default).
FALLBACK_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


#: Fewest prompt tokens evaluated per call, and per prefill batch (see ``_reuse_prefix``).
MIN_SUFFIX = 2


def _chunks(tokens: list[int], size: int) -> list[list[int]]:
    """Split into batches of at most ``size`` tokens, never leaving a 1-token batch."""
    out = [tokens[i : i + size] for i in range(0, len(tokens), size)]
    if len(out) > 1 and len(out[-1]) < MIN_SUFFIX:
        out[-1] = out[-2][-1:] + out[-1]
        out[-2] = out[-2][:-1]
    return out


class _Timeout(Exception):
    """Internal: the deadline passed during prefill."""


class LlamaCppBackend(LLMBackend):
    """A GGUF model run in this process. One model, one context, one call at a time (a lock)."""

    name = "llamacpp"

    def __init__(self, config: LLMConfig, model_path: str | Path) -> None:
        try:
            import llama_cpp
            from llama_cpp import llama_chat_format
        except ImportError as exc:  # pragma: no cover - dependency is in pyproject
            raise LLMError("llama-cpp-python is not installed") from exc

        self.config = config
        self.model_path = Path(model_path)
        self.model_name = self.model_path.name
        #: Monotonic clock used for timeouts and timings (tests may replace it).
        self.clock: Callable[[], float] = time.perf_counter
        self._lock = threading.Lock()
        self._grammars: dict[str, LlamaGrammar] = {}
        self._llama_cpp = llama_cpp
        try:
            self._llm: Llama | None = llama_cpp.Llama(
                model_path=str(self.model_path),
                n_ctx=config.n_ctx,
                n_threads=config.threads(),
                n_threads_batch=config.threads(),
                n_batch=config.n_batch,
                seed=0,
                verbose=config.verbose,
                **config.extra,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise LLMError(f"cannot load GGUF model {self.model_path}: {exc}") from exc
        llm = self._llm
        meta = llm.metadata
        template = meta.get("tokenizer.chat_template") or FALLBACK_CHAT_TEMPLATE
        eos_id, bos_id = llm.token_eos(), llm.token_bos()
        eos = llm._model.token_get_text(eos_id) if eos_id != -1 else ""
        bos = llm._model.token_get_text(bos_id) if bos_id != -1 else ""
        self._formatter = llama_chat_format.Jinja2ChatFormatter(
            template=template, eos_token=eos, bos_token=bos, add_generation_prompt=True
        )
        self._vocab = llm._model.vocab
        self._sampler = TokenSampler(llama_cpp, self._vocab, llm.n_vocab())
        #: Calls made and attempts spent (for reports and tests).
        self.calls = 0
        self.attempts = 0

    # -- public helpers -------------------------------------------------------------------------

    @property
    def llama(self) -> Llama:
        """The underlying ``llama_cpp.Llama`` (raises after :meth:`close`)."""
        if self._llm is None:
            raise LLMError(f"{self.model_name}: backend is closed")
        return self._llm

    def format_prompt(self, messages: Sequence[ChatMessage]) -> str:
        """The prompt text the model sees (chat template applied, generation prompt added)."""
        for i, m in enumerate(messages):
            if not isinstance(m, ChatMessage):
                raise LLMError(f"message {i} is not a ChatMessage: {type(m).__name__}")
        rendered = self._formatter(messages=[m.as_dict() for m in messages])  # type: ignore[misc]
        return str(rendered.prompt)

    def tokenize_prompt(self, messages: Sequence[ChatMessage]) -> list[int]:
        """Token ids of the formatted prompt (special tokens parsed, BOS as the template says)."""
        text = self.format_prompt(messages)
        return list(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def reset_cache(self) -> None:
        """Forget the KV cache: the next call prefills its whole prompt."""
        with self._lock:
            self.llama.reset()
            self.llama._ctx.kv_cache_seq_rm(-1, 0, -1)

    def grammar_for(self, json_schema: dict[str, Any]) -> LlamaGrammar:
        """The (cached) GBNF grammar accepting JSON that follows ``json_schema``."""
        key = json.dumps(json_schema, sort_keys=True)
        grammar = self._grammars.get(key)
        if grammar is None:
            from llama_cpp import LlamaGrammar

            try:
                grammar = LlamaGrammar.from_json_schema(key, verbose=False)
            except Exception as exc:  # the converter raises plain exceptions on bad schemas
                raise LLMError(f"JSON schema cannot be turned into a grammar: {exc}") from exc
            self._grammars[key] = grammar
        return grammar

    # -- LLMBackend -----------------------------------------------------------------------------

    def complete(
        self,
        messages: list[ChatMessage],
        *,
        json_schema: dict[str, Any] | None = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> LLMResult:
        if not messages:
            raise LLMError("complete() needs at least one message")
        grammar = self.grammar_for(json_schema) if json_schema is not None else None
        with self._lock:
            self.calls += 1
            prompt = self.tokenize_prompt(messages)
            n_ctx = self.llama.n_ctx()
            if len(prompt) >= n_ctx:
                raise LLMError(
                    f"{self.model_name}: prompt of {len(prompt)} tokens does not fit the "
                    f"context of {n_ctx} tokens (raise LLMConfig.n_ctx)"
                )
            max_tokens = max(1, min(max_tokens, n_ctx - len(prompt)))
            started = self.clock()
            last_error: Exception | None = None
            backoff = Backoff.from_config(self.config)
            for attempt in range(self.config.retries + 1):
                self.attempts += 1
                try:
                    result = self._attempt(prompt, grammar, max_tokens, temperature, seed, started)
                except _Timeout as exc:
                    last_error = exc
                except (RuntimeError, ValueError, OSError) as exc:  # llama.cpp decode failures
                    last_error = exc
                    self._drop_cache()
                else:
                    if result.finish_reason != "timeout" or result.usage.completion_tokens > 0:
                        return result
                    last_error = _Timeout("deadline passed before the first token")
                log.warning(
                    "%s: attempt %d/%d failed: %s",
                    self.model_name, attempt + 1, self.config.retries + 1, last_error,
                )
                if attempt < self.config.retries:
                    wait = backoff.delay(attempt)
                    if wait > 0:
                        time.sleep(wait)
            message = (
                f"{self.model_name}: no answer after {self.config.retries + 1} attempts "
                f"(timeout_s={self.config.timeout_s}): {last_error}"
            )
            if isinstance(last_error, _Timeout):
                # the machine could not run the model in time: infrastructure, not the agent
                raise LLMUnavailableError(message) from last_error
            raise LLMError(message) from last_error

    def close(self) -> None:
        with self._lock:
            if self._llm is not None:
                self._sampler.close()
                self._llm.close()
                self._llm = None

    def describe(self) -> str:
        return f"llamacpp:{self.model_name} (n_ctx={self.config.n_ctx})"

    def __repr__(self) -> str:
        return f"LlamaCppBackend(model={self.model_name!r}, n_ctx={self.config.n_ctx})"

    # -- internals ------------------------------------------------------------------------------

    def _drop_cache(self) -> None:
        if self._llm is not None:
            self._llm.reset()

    def _reuse_prefix(self, prompt: list[int]) -> int:
        """Keep the longest cached prefix of ``prompt`` in the KV cache; return its length."""
        llm = self.llama
        if not self.config.prefix_cache or llm.n_tokens == 0:
            llm.reset()
            return 0
        cached = llm.input_ids[: llm.n_tokens]
        common = 0
        for a, b in zip(cached, prompt, strict=False):
            if a != b:
                break
            common += 1
        # Evaluate at least MIN_SUFFIX prompt tokens: fresh logits are needed to sample from,
        # and llama.cpp's CPU kernels for a 1-token batch round differently from larger batches
        # (measured: logits differ by up to ~0.6), which could flip a greedy choice between a
        # cached and an uncached run of the same prompt.
        common = min(common, len(prompt) - MIN_SUFFIX)
        if common <= 0 or not llm._ctx.kv_cache_seq_rm(-1, common, -1):
            llm.reset()
            return 0
        llm.n_tokens = common
        return common

    def _attempt(
        self,
        prompt: list[int],
        grammar: LlamaGrammar | None,
        max_tokens: int,
        temperature: float,
        seed: int,
        started: float,
    ) -> LLMResult:
        llm = self.llama
        t0 = self.clock()
        deadline = t0 + self.config.timeout_s
        cached = self._reuse_prefix(prompt)
        todo = prompt[cached:]
        for chunk in _chunks(todo, max(MIN_SUFFIX, llm.n_batch)):
            if self.clock() > deadline:
                raise _Timeout(
                    f"deadline passed during prefill ({llm.n_tokens}/{len(prompt)} tokens)"
                )
            llm.eval(chunk)
        t1 = self.clock()

        # The prompt is in the KV cache: sample from its logits, evaluate each chosen token.
        sampler = self._sampler
        sampler.start(grammar, temperature, seed, top_k=40, top_p=0.95, min_p=0.05)
        ctx = llm.ctx
        is_eog = self._llama_cpp.llama_vocab_is_eog
        vocab = self._vocab
        out: list[int] = []
        finish = "length"
        while True:
            try:
                token = sampler.next_token(ctx)
            except GrammarDeadEnd:
                finish = "stop"
                break
            if is_eog(vocab, token):
                finish = "stop"
                break
            out.append(token)
            if len(out) >= max_tokens:
                break
            if self.clock() > deadline:
                finish = "timeout"
                break
            llm.eval([token])
        t2 = self.clock()
        text = llm.detokenize(out, prev_tokens=prompt).decode("utf-8", errors="replace")
        usage = LLMUsage(
            prompt_tokens=len(prompt),
            completion_tokens=len(out),
            cached_prompt_tokens=cached,
            prefill_s=t1 - t0,
            decode_s=t2 - t1,
            total_s=t2 - started,
        )
        return LLMResult(text=text, usage=usage, model=self.model_name, finish_reason=finish)
