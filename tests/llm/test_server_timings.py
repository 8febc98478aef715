"""llama-server's ``timings`` become a step's usage: the server's prefill/decode seconds and its
cached tokens, the host's wall time beside them."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llamatouch.errors import LLMError
from llamatouch.llm import LLMConfig, load_backend
from llamatouch.llm.on_device import device_port
from llamatouch.llm.openai_backend import OpenAIBackend
from llamatouch.llm.server_timings import ServerTimings, parse_timings, timings_of

TIMINGS = {"cache_n": 236, "prompt_n": 41, "prompt_ms": 512.5, "prompt_per_second": 80.0,
           "predicted_n": 12, "predicted_ms": 401.0, "predicted_per_second": 29.9}


def test_timings_of_a_llama_server_answer() -> None:
    assert parse_timings(TIMINGS) == ServerTimings(41, 236, 512.5, 12, 401.0)
    older = {k: v for k, v in TIMINGS.items() if k != "cache_n"}  # servers before cache_n
    assert parse_timings(older) == ServerTimings(41, 0, 512.5, 12, 401.0)
    for bad in (None, [], "x", {}, {"prompt_n": -1, "prompt_ms": 1.0},
                {"prompt_n": 1, "prompt_ms": float("nan")}, {"prompt_n": True},
                {"prompt_n": 1, "predicted_ms": "9"}):
        assert parse_timings(bad) is None, bad


def test_usage_takes_the_servers_figures_and_keeps_the_hosts_wall_time() -> None:
    resp = SimpleNamespace(
        usage=SimpleNamespace(prompt_tokens=277, completion_tokens=12,
                              prompt_tokens_details=None),
        model_extra={"timings": TIMINGS},
    )
    assert timings_of(resp) is not None
    u = OpenAIBackend._usage(resp, 1.25)
    assert (u.prompt_tokens, u.completion_tokens, u.cached_prompt_tokens) == (277, 12, 236)
    assert math.isclose(u.prefill_s, 0.5125) and math.isclose(u.decode_s, 0.401)
    assert u.total_s == 1.25
    # an endpoint without timings: no prefill/decode figures, as before
    plain = SimpleNamespace(usage=resp.usage, model_extra={})
    u = OpenAIBackend._usage(plain, 1.25)
    assert (u.prefill_s, u.decode_s, u.cached_prompt_tokens) == (0.0, 0.0, 0)


@given(st.dictionaries(st.sampled_from(sorted(TIMINGS)),
                       st.one_of(st.integers(-5, 10**6), st.floats(allow_nan=True),
                                 st.text(max_size=3), st.none(), st.booleans())))
def test_parse_timings_never_raises_and_never_returns_negative(obj: dict[str, object]) -> None:
    t = parse_timings(obj)
    if t is not None:
        assert min(t.prompt_n, t.cache_n, t.predicted_n) >= 0
        assert t.prompt_ms >= 0 and t.predicted_ms >= 0
        assert math.isfinite(t.prompt_ms) and math.isfinite(t.predicted_ms)


def test_device_model_spec() -> None:
    assert device_port("device:8080") == 8080 and device_port("embedded") is None
    for bad in ("device:", "device:0", "device:70000", "device:x8080", "device:-1", "device:¹"):
        with pytest.raises(LLMError, match="device:PORT"):
            device_port(bad)
    # without the runner's forward the spec cannot be used: one clear message
    with pytest.raises(LLMError, match="--device SERIAL"):
        load_backend(LLMConfig(model="device:8080"))
