"""The ``timings`` object llama.cpp's server adds to its answers.

``llama-server`` (and the virtual device's model server) put a top-level ``timings`` object in
every ``/completion`` and OpenAI-compatible ``/v1/chat/completions`` answer::

    "timings": {"cache_n": 236, "prompt_n": 41, "prompt_ms": 512.3, "prompt_per_second": 80.0,
                "predicted_n": 12, "predicted_ms": 401.9, "predicted_per_second": 29.9}

``prompt_n`` counts the prompt tokens the server evaluated (prefill), ``cache_n`` those it
reused from its cache (older servers leave it out: 0), ``prompt_ms`` / ``predicted_ms`` the
milliseconds of prefill and decode *on the server* (on the phone, when the server runs there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ServerTimings:
    """What the server says one answer cost it.

    Attributes:
        prompt_n: prompt tokens evaluated (prefilled).
        cache_n: prompt tokens reused from the server's cache.
        prompt_ms: milliseconds of prompt evaluation.
        predicted_n: tokens generated.
        predicted_ms: milliseconds of generation.
    """

    prompt_n: int
    cache_n: int
    prompt_ms: float
    predicted_n: int
    predicted_ms: float


def _count(obj: dict[str, Any], key: str) -> int | None:
    v = obj.get(key, 0)
    if isinstance(v, bool):
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return v if isinstance(v, int) and v >= 0 else None


def _millis(obj: dict[str, Any], key: str) -> float | None:
    v = obj.get(key, 0.0)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    f = float(v)
    return f if math.isfinite(f) and f >= 0 else None


def parse_timings(obj: object) -> ServerTimings | None:
    """The timings of an answer's ``timings`` object; ``None`` when it is absent or not
    usable (not an object, a negative / non-finite / non-numeric value, nothing reported)."""
    if not isinstance(obj, dict) or not any(
        k in obj for k in ("prompt_n", "prompt_ms", "predicted_n", "predicted_ms")
    ):
        return None
    prompt_n, cache_n = _count(obj, "prompt_n"), _count(obj, "cache_n")
    predicted_n = _count(obj, "predicted_n")
    prompt_ms, predicted_ms = _millis(obj, "prompt_ms"), _millis(obj, "predicted_ms")
    if prompt_n is None or cache_n is None or predicted_n is None or prompt_ms is None \
            or predicted_ms is None:
        return None
    return ServerTimings(prompt_n, cache_n, prompt_ms, predicted_n, predicted_ms)


def timings_of(resp: Any) -> ServerTimings | None:
    """The timings of a response object of the ``openai`` client (its unknown top-level
    fields are kept as attributes / ``model_extra``), or of a plain dict."""
    if isinstance(resp, dict):
        return parse_timings(resp.get("timings"))
    raw = getattr(resp, "timings", None)
    if raw is None:
        extra = getattr(resp, "model_extra", None)
        raw = extra.get("timings") if isinstance(extra, dict) else None
    return parse_timings(raw)
