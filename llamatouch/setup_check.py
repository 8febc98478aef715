"""Checks, at the end of ``make setup``, that everything the project needs is installed."""

from __future__ import annotations

import re
import shutil
import sys

#: llama.cpp CPU features whose kernels crash (llama.cpp issue #20824: ``ggml_backend_amx_mul_mat``
#: segfaults on prompts longer than a few hundred tokens). A portable build has none of them.
FAULTY_FEATURES = ("AMX_INT8", "AMX_BF16", "AMX_TILE", "AMX")


def llama_cpu_features(system_info: str) -> dict[str, bool]:
    """The ``NAME = 0/1`` pairs of ``llama_cpp.llama_print_system_info()``.

    >>> llama_cpu_features("CPU : SSE3 = 1 | AVX2 = 1 | AMX_INT8 = 0 | REPACK = 1 |")
    {'SSE3': True, 'AVX2': True, 'AMX_INT8': False, 'REPACK': True}
    """
    return {m.group(1): m.group(2) != "0"
            for m in re.finditer(r"([A-Za-z0-9_]+)\s*=\s*(\d+)", system_info)}


def llama_build_problems(system_info: str) -> list[str]:
    """Why this llama.cpp build is not the portable one the project needs (empty: it is).

    Args:
        system_info: the text of ``llama_cpp.llama_print_system_info()``.
    """
    features = llama_cpu_features(system_info)
    faulty = [f for f in FAULTY_FEATURES if features.get(f)]
    if not faulty:
        return []
    return [
        f"llama-cpp-python was compiled for this CPU with {', '.join(faulty)} kernels, which "
        "crash (segmentation fault) on prompts longer than a few hundred tokens (llama.cpp "
        "issue #20824). Reinstall the portable build: `bash scripts/llama_build.sh` (part of "
        "`make setup`; docs/llm.md, 'The llama.cpp build')."
    ]


def problems() -> list[str]:
    """What is missing, as human-readable lines (empty when all is there)."""
    out: list[str] = []
    from llamatouch.models import embedded_gguf_path, minilm_dir

    try:
        embedded_gguf_path()
    except FileNotFoundError as exc:
        out.append(str(exc))
    try:
        minilm_dir()
    except FileNotFoundError as exc:
        out.append(str(exc))
    try:
        import llama_cpp
    except ImportError as exc:
        out.append(f"llama-cpp-python is not importable: {exc}")
    else:
        info = llama_cpp.llama_print_system_info()
        out.extend(llama_build_problems(
            info.decode("utf-8", "replace") if isinstance(info, bytes) else str(info)
        ))
    try:
        from adbutils import adb_path

        adb_path()
    except Exception as exc:
        out.append(f"no adb binary from adbutils: {exc}")
    if shutil.which("chromium") is None:
        out.append("Debian's chromium is not installed (browser tests need it)")
    return out


def main() -> int:
    found = problems()
    for line in found:
        print(f"setup: MISSING: {line}", file=sys.stderr)
    if not found:
        print("setup: ok (model, encoder, portable llama.cpp, adb, chromium)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
