"""The installed llama.cpp is the portable build (scripts/llama_build.sh): its machine code holds
no AMX tile instructions (llama.cpp's AMX kernels segfault on long prompts, upstream #20824) and
no AVX-512 (which older x86 CPUs lack), whatever CPU this test runs on.

The check reads the shared libraries' disassembly, so it holds on machines without AMX too.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

#: AMX tile instructions (tile config, loads, dot products) and any use of a 512-bit register.
FORBIDDEN = re.compile(r"\b(ldtilecfg|sttilecfg|tileloadd\w*|tilestored|tdpb\w+|tdpfp16ps)\b|%zmm")


def _libraries() -> list[Path]:
    import llama_cpp

    libs = sorted((Path(llama_cpp.__file__).parent / "lib").glob("*.so"))
    assert libs, "llama_cpp ships no shared libraries?"
    return libs


@pytest.mark.skipif(shutil.which("objdump") is None, reason="needs binutils' objdump")
@pytest.mark.parametrize("lib", _libraries(), ids=lambda p: p.name)
def test_no_amx_or_avx512_instructions(lib: Path) -> None:
    asm = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", str(lib)],
        check=True, capture_output=True, text=True, timeout=300,
    ).stdout
    assert len(asm) > 1000, f"objdump printed no code for {lib}"
    hits = sorted({m.group(0) for m in FORBIDDEN.finditer(asm)})
    assert not hits, f"{lib.name} holds host-specific instructions: {hits}"


def test_system_info_reports_the_portable_feature_set() -> None:
    import platform

    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode()
    assert "AMX" not in info and "AVX512" not in info, info
    if platform.machine() in ("x86_64", "AMD64"):
        for feature in ("AVX = 1", "AVX2 = 1", "FMA = 1", "F16C = 1"):
            assert feature in info, (feature, info)
