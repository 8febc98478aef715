"""Bounded exponential back-off for LLM calls, and the ``Retry-After`` header.

One job: decide how long to wait before the next attempt. The backends decide *whether* to
retry (which failures are transient); this module only computes the waits:

- attempt ``n`` (0-based, the wait before the ``n + 1``-th retry) waits
  ``retry_backoff_s * 2**n``, capped at ``retry_backoff_max_s``;
- when the server said how long to wait (``Retry-After: 3``, ``Retry-After: <HTTP date>``, or
  OpenAI's ``retry-after-ms``) and that is *sane* -- a finite number between 0 and
  ``retry_after_max_s`` -- we wait that long instead. A missing, unreadable, negative or
  absurdly long value (``Retry-After: 86400``) is ignored and our own back-off is used, so a
  server can never make a run hang.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from llamatouch.llm.base import LLMConfig


def parse_retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds the server asks us to wait, or ``None`` when it did not say (or said nonsense).

    Reads ``retry-after-ms`` (milliseconds, OpenAI) first, then ``Retry-After`` as a number of
    seconds or an HTTP date (RFC 9110). Header names are case-insensitive. Negative, NaN and
    infinite values are ``None``; a date in the past is ``0.0``.

    Args:
        headers: the response headers (any mapping; ``httpx.Headers`` works).
        now: the current Unix time (for HTTP dates); ``time.time()`` by default.
    """
    if not headers:
        return None
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    ms = lower.get("retry-after-ms")
    if ms is not None:
        value = _number(ms)
        if value is not None:
            return value / 1000.0
    raw = lower.get("retry-after")
    if raw is None:
        return None
    value = _number(raw)
    if value is not None:
        return value
    try:
        when = parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    delta = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, delta)


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return value


@dataclass(frozen=True)
class Backoff:
    """The waiting policy of one backend, taken from :class:`LLMConfig`.

    Attributes:
        first_s: wait before the first retry (``LLMConfig.retry_backoff_s``).
        max_s: upper bound on one computed wait (``LLMConfig.retry_backoff_max_s``).
        retry_after_max_s: the longest server-requested wait we honour
            (``LLMConfig.retry_after_max_s``); longer requests are ignored.
    """

    first_s: float
    max_s: float
    retry_after_max_s: float

    @classmethod
    def from_config(cls, config: LLMConfig) -> Backoff:
        return cls(
            first_s=max(0.0, config.retry_backoff_s),
            max_s=max(0.0, config.retry_backoff_max_s),
            retry_after_max_s=max(0.0, config.retry_after_max_s),
        )

    def delay(self, retry_index: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry_index`` (0 = the first retry).

        Args:
            retry_index: how many retries were already made.
            retry_after: what the server asked for (see :func:`parse_retry_after`), if anything.
        """
        if retry_after is not None and 0.0 <= retry_after <= self.retry_after_max_s:
            return retry_after
        if self.first_s <= 0:
            return 0.0
        # 2**n grows past any cap quickly; avoid float overflow for huge indexes
        exponent = min(max(0, retry_index), 64)
        return min(self.first_s * (2.0**exponent), self.max_s)
