"""LLM backends: llama.cpp in process (default, embedded SmolLM2) and OpenAI-compatible endpoints.

Usage::

    from llamatouch.llm import ChatMessage, LLMConfig, load_backend

    with load_backend(LLMConfig()) as llm:
        r = llm.complete([ChatMessage("user", "Say hi")], max_tokens=16)
        print(r.text, r.usage.prompt_tokens, r.usage.prefill_s)

See docs/llm.md.
"""

from __future__ import annotations

from pathlib import Path

from llamatouch.errors import LLMError
from llamatouch.llm.base import (
    EMBEDDED,
    ChatMessage,
    LLMBackend,
    LLMConfig,
    LLMResult,
    LLMUsage,
)

__all__ = [
    "EMBEDDED",
    "ChatMessage",
    "LLMBackend",
    "LLMConfig",
    "LLMResult",
    "LLMUsage",
    "load_backend",
    "resolve_gguf",
]

OPENAI_PREFIX = "openai:"
GGUF_PREFIX = "gguf:"


def resolve_gguf(model: str) -> Path:
    """The GGUF file for a model spec (``"embedded"``, a path, or ``"gguf:PATH"``).

    Raises:
        LLMError: the file does not exist.
    """
    from llamatouch.models import embedded_gguf_path

    if model == EMBEDDED:
        try:
            return embedded_gguf_path()
        except FileNotFoundError as exc:
            raise LLMError(str(exc)) from exc
    raw = model[len(GGUF_PREFIX):] if model.startswith(GGUF_PREFIX) else model
    path = Path(raw).expanduser()
    if not path.is_file():
        raise LLMError(f"model {model!r}: GGUF file {path} not found")
    return path


def load_backend(config: LLMConfig | None = None) -> LLMBackend:
    """Build the backend named by ``config.model`` (see :class:`LLMConfig`).

    Raises:
        LLMError: unknown model spec, missing file, missing base URL.
    """
    config = config or LLMConfig()
    if config.model.startswith("recorded:"):
        from llamatouch.llm.recorded import load_recorded_backend

        return load_recorded_backend(config.model)
    if config.model.startswith("device:"):
        from llamatouch.llm.on_device import OnDeviceBackend

        return OnDeviceBackend(config)
    if config.model.startswith(OPENAI_PREFIX):
        from llamatouch.llm.openai_backend import OpenAIBackend

        return OpenAIBackend(config)
    from llamatouch.llm.llamacpp import LlamaCppBackend

    return LlamaCppBackend(config, resolve_gguf(config.model))
