"""Checks, at the end of ``make setup``, that everything the project needs is installed."""

from __future__ import annotations

import shutil
import sys


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
        import llama_cpp  # noqa: F401
    except ImportError as exc:
        out.append(f"llama-cpp-python is not importable: {exc}")
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
        print("setup: ok (model, encoder, llama.cpp, adb, chromium)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
