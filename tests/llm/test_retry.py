"""The back-off policy and the Retry-After parser (unit and property-based)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import format_datetime

from hypothesis import given
from hypothesis import strategies as st

from llamatouch.llm import LLMConfig
from llamatouch.llm.retry import Backoff, parse_retry_after

NOW = 1_800_000_000.0


def test_retry_after_forms() -> None:
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"retry-after": " 0.25 "}) == 0.25
    assert parse_retry_after({"retry-after-ms": "1500", "Retry-After": "9"}) == 1.5
    date = format_datetime(datetime.fromtimestamp(NOW + 7, UTC), usegmt=True)
    assert parse_retry_after({"Retry-After": date}, now=NOW) == 7.0
    past = format_datetime(datetime.fromtimestamp(NOW - 100, UTC), usegmt=True)
    assert parse_retry_after({"Retry-After": past}, now=NOW) == 0.0
    for bad in ("-1", "nan", "inf", "soon", "", "Mon, 99 Foo 2020"):
        assert parse_retry_after({"Retry-After": bad}, now=NOW) is None, bad
    assert parse_retry_after({"retry-after-ms": "x"}) is None
    assert parse_retry_after({}) is None
    assert parse_retry_after(None) is None


def test_backoff_doubles_up_to_its_cap() -> None:
    b = Backoff(first_s=0.5, max_s=3.0, retry_after_max_s=60.0)
    assert [b.delay(i) for i in range(6)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert b.delay(10_000) == 3.0  # no overflow


def test_sane_retry_after_replaces_backoff_insane_is_ignored() -> None:
    b = Backoff(first_s=0.5, max_s=3.0, retry_after_max_s=60.0)
    assert b.delay(0, retry_after=7.0) == 7.0  # honoured even above max_s
    assert b.delay(0, retry_after=0.0) == 0.0
    assert b.delay(1, retry_after=86_400.0) == 1.0  # a day: ignored, our back-off
    assert b.delay(1, retry_after=-5.0) == 1.0


def test_backoff_from_config_fields() -> None:
    c = LLMConfig(retry_backoff_s=0.1, retry_backoff_max_s=0.3, retry_after_max_s=2.0)
    assert Backoff.from_config(c) == Backoff(0.1, 0.3, 2.0)
    assert Backoff.from_config(LLMConfig(retry_backoff_s=0.0)).delay(3) == 0.0


@given(st.dictionaries(st.sampled_from(["Retry-After", "retry-after-ms", "RETRY-AFTER", "x"]),
                       st.text(max_size=40)))
def test_retry_after_never_raises_and_is_a_sane_number(headers: dict[str, str]) -> None:
    v = parse_retry_after(headers, now=NOW)
    assert v is None or (math.isfinite(v) and v >= 0)


@given(st.floats(min_value=0, max_value=100), st.floats(min_value=0, max_value=100),
       st.floats(min_value=0, max_value=100), st.integers(min_value=0, max_value=10**6),
       st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)))
def test_delay_is_bounded_and_monotone(first: float, cap: float, ra_max: float, n: int,
                                       retry_after: float | None) -> None:
    b = Backoff(first, cap, ra_max)
    d = b.delay(n, retry_after)
    assert 0.0 <= d <= max(cap, ra_max)
    assert b.delay(n) <= b.delay(n + 1)
