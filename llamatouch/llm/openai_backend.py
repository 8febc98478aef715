"""Any OpenAI-compatible chat endpoint (OpenAI, vLLM, a local ``llama_cpp.server``, ...).

- The API key comes only from the environment variable named by ``LLMConfig.api_key_env``. It is
  handed to the ``openai`` client and nowhere else: not stored on this object's public
  attributes, not in ``repr``, not in results; error messages are scrubbed of it.
- Every call has an HTTP timeout (``timeout_s``) and ``retries`` bounded extra attempts on
  transport errors, timeouts, 429 and 5xx answers, and malformed response bodies. The ``openai``
  client's own retries are switched off so the bound is ours.
- JSON: ``json_mode="auto"`` first sends the standard ``response_format={"type": "json_schema"}``;
  if the server rejects it (4xx) it tries ``{"type": "json_object", "schema": ...}`` (the form
  ``llama_cpp.server`` understands), then falls back to describing the schema in the prompt. The
  first mode that works is remembered.
- Usage: tokens from the response's ``usage`` field (``cached_prompt_tokens`` from
  ``prompt_tokens_details.cached_tokens`` when the server reports it). Endpoints do not report
  prefill/decode times: ``prefill_s`` and ``decode_s`` are 0.0 and ``total_s`` is the wall-clock
  time of the whole call, retries included.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import TYPE_CHECKING, Any

from llamatouch.errors import LLMError
from llamatouch.llm.base import ChatMessage, LLMBackend, LLMConfig, LLMResult, LLMUsage

if TYPE_CHECKING:
    from openai import OpenAI

log = logging.getLogger(__name__)

OPENAI_PREFIX = "openai:"
#: Sent as the key when the environment variable is unset (local servers ignore it).
NO_KEY = "no-key"
JSON_MODES = ("json_schema", "json_object", "prompt")


def _schema_instruction(schema: dict[str, Any]) -> str:
    return (
        "Answer with a single JSON object and nothing else. It must follow this JSON schema:\n"
        + json.dumps(schema, sort_keys=True)
    )


class OpenAIBackend(LLMBackend):
    """Chat completions through the ``openai`` package."""

    name = "openai"

    def __init__(self, config: LLMConfig) -> None:
        from openai import OpenAI

        if not config.model.startswith(OPENAI_PREFIX) or len(config.model) <= len(OPENAI_PREFIX):
            raise LLMError(f"model {config.model!r}: expected 'openai:MODEL_ID'")
        self.config = config
        self.model_id = config.model[len(OPENAI_PREFIX):]
        self.base_url = config.base_url or os.environ.get("OPENAI_BASE_URL")
        if not self.base_url:
            raise LLMError(
                f"model {config.model!r}: no endpoint (set LLMConfig.base_url or $OPENAI_BASE_URL)"
            )
        if config.json_mode not in ("auto", "response_format", "prompt"):
            raise LLMError(
                f"json_mode {config.json_mode!r}: expected 'auto', 'response_format' or 'prompt'"
            )
        key = os.environ.get(config.api_key_env) or NO_KEY
        self._secret = key  # kept only to scrub it from error messages
        self._client: OpenAI | None = OpenAI(
            api_key=key, base_url=self.base_url, timeout=config.timeout_s, max_retries=0
        )
        self._json_mode: str | None = {
            "auto": None, "response_format": "json_schema", "prompt": "prompt"
        }[config.json_mode]
        #: Calls made and HTTP attempts spent (for reports and tests).
        self.calls = 0
        self.attempts = 0

    def __repr__(self) -> str:
        return f"OpenAIBackend(model={self.model_id!r}, base_url={self.base_url!r})"

    def _scrub(self, text: str) -> str:
        if self._secret and self._secret != NO_KEY:
            text = text.replace(self._secret, "***")
        return text

    @property
    def client(self) -> OpenAI:
        if self._client is None:
            raise LLMError(f"{self.model_id}: backend is closed")
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- requests -------------------------------------------------------------------------------

    def _request(
        self,
        messages: list[ChatMessage],
        schema: dict[str, Any] | None,
        mode: str | None,
        max_tokens: int,
        temperature: float,
        seed: int,
    ) -> Any:
        msgs = [m.as_dict() for m in messages]
        kwargs: dict[str, Any] = {}
        if schema is not None:
            if mode == "json_schema":
                kwargs["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": "answer", "schema": schema},
                }
            else:
                msgs = [{"role": "system", "content": _schema_instruction(schema)}, *msgs]
                if mode == "json_object":
                    kwargs["response_format"] = {"type": "json_object", "schema": schema}
        if self.config.extra:
            kwargs["extra_body"] = dict(self.config.extra)
        return self.client.chat.completions.create(
            model=self.model_id,
            messages=msgs,  # type: ignore[arg-type]
            max_tokens=max_tokens,
            temperature=temperature,
            seed=seed,
            **kwargs,
        )

    def complete(
        self,
        messages: list[ChatMessage],
        *,
        json_schema: dict[str, Any] | None = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> LLMResult:
        import openai

        if not messages:
            raise LLMError("complete() needs at least one message")
        self.calls += 1
        started = time.perf_counter()
        modes: list[str | None]
        if json_schema is None:
            modes = [None]
        elif self._json_mode is not None:
            modes = [self._json_mode]
        else:
            modes = list(JSON_MODES)
        last: str = "no attempt"
        attempts_left = self.config.retries + 1
        backoff = self.config.retry_backoff_s
        while attempts_left > 0:
            mode = modes[0]
            self.attempts += 1
            attempts_left -= 1
            try:
                resp = self._request(messages, json_schema, mode, max_tokens, temperature, seed)
                text, finish = self._parse(resp)
            except openai.APIStatusError as exc:
                last = f"HTTP {exc.status_code}: {exc.message}"
                if len(modes) > 1 and _rejects_format(exc):
                    modes.pop(0)  # the server does not support this JSON mode: next one
                    attempts_left += 1  # a format fallback is not a failed attempt
                    continue
                if exc.status_code in (400, 401, 403, 404, 422):
                    raise LLMError(
                        self._scrub(f"{self.model_id} at {self.base_url}: rejected: {last}")
                    ) from None
                # 429, 5xx and the like: retried below
            except (openai.APIConnectionError, openai.APIResponseValidationError,
                    _Malformed, ValueError, TypeError) as exc:
                # transport errors and timeouts (APITimeoutError is an APIConnectionError),
                # bodies that are not a chat completion (the openai client raises
                # json.JSONDecodeError, a ValueError, on a body that is not JSON)
                last = f"{type(exc).__name__}: {exc}"
            else:
                if json_schema is not None and self._json_mode is None:
                    self._json_mode = mode
                total = time.perf_counter() - started
                usage = self._usage(resp, total)
                return LLMResult(
                    text=text, usage=usage, model=str(getattr(resp, "model", "") or self.model_id),
                    finish_reason=finish,
                )
            log.warning(
                "%s: attempt failed (%d left): %s", self.model_id, attempts_left, self._scrub(last)
            )
            if attempts_left > 0 and backoff > 0:
                time.sleep(backoff)
                backoff *= 2
        raise LLMError(
            self._scrub(
                f"{self.model_id} at {self.base_url}: no answer after "
                f"{self.config.retries + 1} attempts: {last}"
            )
        )

    # -- responses ------------------------------------------------------------------------------

    @staticmethod
    def _parse(resp: Any) -> tuple[str, str]:
        choices = getattr(resp, "choices", None)
        if not isinstance(choices, list) or not choices:
            raise _Malformed(f"response without choices: {str(resp)[:200]!r}")
        message = getattr(choices[0], "message", None)
        content = getattr(message, "content", None)
        if not isinstance(content, str):
            raise _Malformed("response choice without text content")
        finish = getattr(choices[0], "finish_reason", None) or "stop"
        return content, str(finish)

    @staticmethod
    def _usage(resp: Any, total: float) -> LLMUsage:
        usage = getattr(resp, "usage", None)
        prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion = int(getattr(usage, "completion_tokens", 0) or 0)
        details = getattr(usage, "prompt_tokens_details", None)
        cached = int(getattr(details, "cached_tokens", 0) or 0)
        return LLMUsage(
            prompt_tokens=prompt,
            completion_tokens=completion,
            cached_prompt_tokens=cached,
            prefill_s=0.0,
            decode_s=0.0,
            total_s=total,
        )


def _rejects_format(exc: Any) -> bool:
    """Whether an HTTP error says the request's JSON mode is not supported.

    400/422 are taken as such; ``llama_cpp.server`` answers 500 to an unknown
    ``response_format`` type, so a 5xx naming ``response_format`` counts as well.
    """
    if exc.status_code in (400, 422):
        return True
    return "response_format" in str(getattr(exc, "message", "")) or "response_format" in str(
        getattr(exc, "body", "")
    )


class _Malformed(Exception):
    """Internal: a 200 answer whose body is not a usable chat completion."""
