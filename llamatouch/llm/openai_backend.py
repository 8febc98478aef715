"""Any OpenAI-compatible chat endpoint (OpenAI, vLLM, a local ``llama_cpp.server``, ...).

- The API key comes only from the environment variable named by ``LLMConfig.api_key_env``. It is
  handed to the ``openai`` client and nowhere else: not stored on this object's public
  attributes, not in ``repr``, not in results; error messages are scrubbed of it.
- Credentials inside ``base_url`` (``http://user:pass@host/v1?key=...``) are used for the
  requests (user-info as HTTP Basic auth, the query as default query parameters of every
  request) but every text this backend exposes (``repr``, :meth:`describe`, error messages, log
  lines, the model name and text of an answer) passes through :mod:`llamatouch.redact`, which
  knows the key and the URL's credentials (also a prefix, percent-encoded or base64 form of them
  echoed back by a server).
- Every call has an HTTP timeout (``timeout_s``) and ``retries`` bounded extra attempts. The
  ``openai`` client's own retries are switched off so the bound is ours. Connection refused,
  timeouts, HTTP 408/409/425/429 and 5xx mean the service is unavailable: they are retried with
  exponential back-off (``retry_backoff_s`` doubling up to ``retry_backoff_max_s``; a server's
  ``Retry-After`` of at most ``retry_after_max_s`` is honoured instead) and, when the attempts
  are spent, raised as :class:`~llamatouch.errors.LLMUnavailableError`, an infrastructure
  failure. Malformed response bodies are retried the same way but end as a plain
  :class:`~llamatouch.errors.LLMError`; other 4xx answers (bad request, bad key, unknown model)
  are raised as ``LLMError`` at once. The failure of the *last* attempt decides the error class.
- JSON: ``json_mode="auto"`` first sends the standard ``response_format={"type": "json_schema"}``;
  if the server rejects it (4xx) it tries ``{"type": "json_object", "schema": ...}`` (the form
  ``llama_cpp.server`` understands), then falls back to describing the schema in the prompt. The
  first mode that works is remembered.
- Usage: tokens from the response's ``usage`` field (``cached_prompt_tokens`` from
  ``prompt_tokens_details.cached_tokens`` when the server reports it). ``total_s`` is the
  wall-clock time of the whole call, retries included. Most endpoints do not report
  prefill/decode times: ``prefill_s`` and ``decode_s`` are then 0.0. A llama.cpp server
  (``llama-server``, on the host or on a phone) sends a ``timings`` object
  (:mod:`llamatouch.llm.server_timings`): then ``prefill_s``/``decode_s`` are *its* prefill and
  decode seconds and ``cached_prompt_tokens`` its ``cache_n``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from llamatouch import redact
from llamatouch.errors import LLMError, LLMUnavailableError
from llamatouch.llm.base import ChatMessage, LLMBackend, LLMConfig, LLMResult, LLMUsage
from llamatouch.llm.retry import Backoff, parse_retry_after
from llamatouch.llm.server_timings import timings_of

if TYPE_CHECKING:
    from openai import OpenAI

log = logging.getLogger(__name__)

OPENAI_PREFIX = "openai:"
#: Sent as the key when the environment variable is unset (local servers ignore it).
NO_KEY = "no-key"
JSON_MODES = ("json_schema", "json_object", "prompt")
#: Loggers of the HTTP stack that write request URLs (with their credentials) into log records.
HTTP_LOGGERS = ("httpx", "httpx2", "httpcore", "httpcore2", "openai", "openai._base_client")
#: HTTP statuses that mean "try again later" (besides every 5xx).
TRANSIENT_STATUSES = frozenset({408, 409, 425, 429})


def split_base_url(url: str) -> tuple[str, dict[str, str]]:
    """``url`` without its query string, and the query as a dict.

    The ``openai`` client appends request paths to ``base_url`` textually, which would put
    ``/chat/completions`` inside a query string; the query is therefore sent as the client's
    ``default_query`` instead (same parameters on every request).

    Raises:
        LLMError: the URL cannot be parsed (the message shows it redacted).
    """
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise LLMError(f"base_url {redact.redact_url(url)!r}: not a URL") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LLMError(
            f"base_url {redact.redact_url(url)!r}: expected http(s)://HOST[:PORT]/PATH"
        )
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")), query


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
        self._base_url = config.base_url or os.environ.get("OPENAI_BASE_URL")
        if not self._base_url:
            raise LLMError(
                f"model {config.model!r}: no endpoint (set LLMConfig.base_url or $OPENAI_BASE_URL)"
            )
        if config.json_mode not in ("auto", "response_format", "prompt"):
            raise LLMError(
                f"json_mode {config.json_mode!r}: expected 'auto', 'response_format' or 'prompt'"
            )
        key = os.environ.get(config.api_key_env) or NO_KEY
        # the process-wide registry redacts them from everything written (run files, logs)
        redact.register_secret(key)
        redact.register_url(self._base_url)
        redact.redact_logger(*HTTP_LOGGERS)
        self._secrets = frozenset(
            ({key} if key != NO_KEY else set()) | redact.url_secrets(self._base_url)
        )
        #: ``base_url`` with its credentials removed: the only form this object shows.
        self.public_url = redact.redact_url(self._base_url)
        url, query = split_base_url(self._base_url)
        self._client: OpenAI | None = OpenAI(
            api_key=key, base_url=url, default_query=query or None, timeout=config.timeout_s,
            max_retries=0,
        )
        self._backoff = Backoff.from_config(config)
        #: How to wait between attempts (tests replace it to record the waits).
        self.sleep: Callable[[float], None] = time.sleep
        self._json_mode: str | None = {
            "auto": None, "response_format": "json_schema", "prompt": "prompt"
        }[config.json_mode]
        #: Calls made and HTTP attempts spent (for reports and tests).
        self.calls = 0
        self.attempts = 0

    def __repr__(self) -> str:
        return f"OpenAIBackend(model={self.model_id!r}, base_url={self.public_url!r})"

    def describe(self) -> str:
        return f"openai:{self.model_id} at {self.public_url}"

    def _scrub(self, text: str) -> str:
        """``text`` without this backend's key and URL credentials (any form), nor any other
        secret known to the process."""
        return redact.redact(redact.redact_text(text, self._secrets))

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
        unavailable = False
        attempts = self.config.retries + 1
        failed = 0
        while True:
            mode = modes[0]
            self.attempts += 1
            retry_after: float | None = None
            try:
                resp = self._request(messages, json_schema, mode, max_tokens, temperature, seed)
                text, finish = self._parse(resp)
            except openai.APIStatusError as exc:
                last = f"HTTP {exc.status_code}: {exc.message}"
                if len(modes) > 1 and _rejects_format(exc):
                    modes.pop(0)  # the server does not support this JSON mode: next one
                    continue  # a format fallback is not a failed attempt
                status = exc.status_code
                if status < 500 and status not in TRANSIENT_STATUSES:
                    # the request itself is wrong (bad key, unknown model...): retrying is futile
                    raise LLMError(
                        self._scrub(f"{self.model_id} at {self.public_url}: rejected: {last}")
                    ) from None
                unavailable = True  # 429, 5xx and the like: the service is (for now) unable
                retry_after = parse_retry_after(getattr(exc.response, "headers", None))
            except openai.APIConnectionError as exc:
                # connection refused, DNS, reset, and timeouts (APITimeoutError is one)
                last = f"{type(exc).__name__}: {_cause(exc)}"
                unavailable = True
            except (openai.APIResponseValidationError, _Malformed, ValueError, TypeError) as exc:
                # a 200 whose body is not a chat completion (the openai client raises
                # json.JSONDecodeError, a ValueError, on a body that is not JSON)
                last = f"{type(exc).__name__}: {exc}"
                unavailable = False
            else:
                if json_schema is not None and self._json_mode is None:
                    self._json_mode = mode
                total = time.perf_counter() - started
                usage = self._usage(resp, total)
                model = str(getattr(resp, "model", "") or self.model_id)
                return LLMResult(
                    text=self._scrub(text), usage=usage, model=self._scrub(model),
                    finish_reason=finish,
                )
            failed += 1
            if failed >= attempts:
                break
            wait = self._backoff.delay(failed - 1, retry_after)
            log.warning(
                "%s: attempt %d/%d failed (%s); retrying in %.2f s",
                self.model_id, failed, attempts, self._scrub(last), wait,
            )
            self.sleep(wait)
        what = "service unavailable" if unavailable else "no usable answer"
        message = self._scrub(
            f"{self.model_id} at {self.public_url}: {what} after {attempts} attempts: {last}"
        )
        if unavailable:
            raise LLMUnavailableError(message)
        raise LLMError(message)

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
        timings = timings_of(resp)
        if timings is not None:  # a llama.cpp server: its own prefill / decode figures
            return LLMUsage(
                prompt_tokens=prompt or timings.prompt_n + timings.cache_n,
                completion_tokens=completion or timings.predicted_n,
                cached_prompt_tokens=timings.cache_n,
                prefill_s=timings.prompt_ms / 1000.0,
                decode_s=timings.predicted_ms / 1000.0,
                total_s=total,
            )
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


def _cause(exc: BaseException) -> str:
    """The message of an exception and of its underlying cause (e.g. "Connection refused")."""
    text = str(exc)
    cause = exc.__cause__ or exc.__context__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text} ({type(cause).__name__}: {cause})"
    return text


class _Malformed(Exception):
    """Internal: a 200 answer whose body is not a usable chat completion."""
