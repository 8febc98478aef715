"""The installed llama.cpp is the portable build, and long prompts prefill without crashing.

Issue 9: built for the host CPU, llama.cpp enables its AMX kernels on Sapphire Rapids and later
Xeons, and ``ggml_backend_amx_mul_mat`` segfaults as soon as a prompt is longer than a few
hundred tokens. The long-prefill test below is what crashes on such a build (the test process
dies with SIGSEGV); the setup check names the cause before anything runs.
"""

from __future__ import annotations

import llama_cpp
import pytest

from llamatouch.llm import ChatMessage
from llamatouch.llm.llamacpp import LlamaCppBackend
from llamatouch.setup_check import llama_build_problems, llama_cpu_features

PORTABLE = (
    "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | "
    "LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | "
)
NATIVE_SAPPHIRE_RAPIDS = (
    "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX_VNNI = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | "
    "BMI2 = 1 | AVX512 = 1 | AVX512_VBMI = 1 | AVX512_VNNI = 1 | AVX512_BF16 = 1 | "
    "AMX_INT8 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | "
)


def test_features_are_parsed() -> None:
    f = llama_cpu_features(NATIVE_SAPPHIRE_RAPIDS)
    assert f["AMX_INT8"] and f["AVX512"] and f["AVX2"]
    assert llama_cpu_features("AMX_INT8 = 0 |") == {"AMX_INT8": False}


def test_amx_build_is_reported_with_its_cause_and_fix() -> None:
    assert llama_build_problems(PORTABLE) == []
    assert llama_build_problems("CPU : AVX2 = 1 | AMX_INT8 = 0 |") == []
    (problem,) = llama_build_problems(NATIVE_SAPPHIRE_RAPIDS)
    assert "AMX_INT8" in problem and "#20824" in problem and "scripts/llama_build.sh" in problem


def test_installed_llama_cpp_is_the_portable_build() -> None:
    info = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
    assert llama_build_problems(info) == [], info
    features = llama_cpu_features(info)
    assert not any(name.startswith("AMX") and on for name, on in features.items()), info


def long_screen(n_elements: int) -> str:
    rows = [f"<button id={i}>Setting number {i}: {'on' if i % 3 else 'off'}</button>"
            for i in range(n_elements)]
    return "<html>\n" + "\n".join(rows) + "\n</html>"


@pytest.mark.slow
def test_prefill_of_more_than_1000_tokens(embedded_llm: LlamaCppBackend) -> None:
    """A >= 1,000-token prompt, all of it prefilled (no cached prefix), in full 512-token
    batches: the shape that crashes a build with llama.cpp's faulty AMX kernels."""
    msgs = [ChatMessage("system", "You operate an Android phone. Answer briefly."),
            ChatMessage("user", f"Screen:\n{long_screen(90)}\nWhich element turns on Wi-Fi?")]
    embedded_llm.reset_cache()
    result = embedded_llm.complete(msgs, max_tokens=8)
    u = result.usage
    assert u.prompt_tokens >= 1000
    assert u.cached_prompt_tokens == 0 and u.prefilled_tokens == u.prompt_tokens
    assert embedded_llm.config.n_batch <= 512 < u.prompt_tokens  # several full batches
    assert u.completion_tokens > 0 and result.text.strip()
    assert result.finish_reason in ("stop", "length")
