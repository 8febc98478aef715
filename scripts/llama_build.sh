#!/usr/bin/env bash
# Builds llama-cpp-python once with portable CPU flags and installs it into $VENV.
#
# Why: built for the host CPU (llama.cpp's default GGML_NATIVE=ON), llama.cpp turns on its AMX
# kernels on Intel Sapphire Rapids and later, and `ggml_backend_amx_mul_mat` segfaults on any
# prompt longer than a few hundred tokens (upstream llama.cpp issue #20824). A native build also
# fails with "illegal instruction" when the venv or wheel is moved to an older CPU.
# What: GGML_NATIVE=OFF and an explicit instruction set: on x86_64 the AVX/AVX2/FMA/F16C family
# (every x86 server since 2013), no AVX-512 and no AMX; on arm64 llama.cpp's portable defaults.
# How: pip's wheel cache keys a source build by name and version only, not by CMAKE_ARGS, so a
# cached host-specific build could come back. We build with --no-cache-dir into a folder named
# after the version and the flags, and install only from that folder.
# These are the only llama.cpp build flags in the project; docs/llm.md explains them.
set -euo pipefail
VENV=${VENV:-.venv}
LLAMA_CPP_VERSION=${LLAMA_CPP_VERSION:-0.3.36}

case "$(uname -m)" in
    x86_64|amd64)
        FLAGS_NAME="x86_64-avx2-fma-f16c"
        CMAKE_FLAGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
        CMAKE_FLAGS="$CMAKE_FLAGS -DGGML_AVX512=OFF -DGGML_AVX_VNNI=OFF -DGGML_AMX_TILE=OFF"
        CMAKE_FLAGS="$CMAKE_FLAGS -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
        ;;
    aarch64|arm64)
        FLAGS_NAME="arm64-generic"
        CMAKE_FLAGS="-DGGML_NATIVE=OFF"
        ;;
    *)
        FLAGS_NAME="$(uname -m)-generic"
        CMAKE_FLAGS="-DGGML_NATIVE=OFF"
        ;;
esac
CMAKE_FLAGS="$CMAKE_FLAGS -DLLAVA_BUILD=OFF"
WHEEL_ROOT=${LLAMATOUCH_WHEELS:-${XDG_CACHE_HOME:-$HOME/.cache}/llamatouch/wheels}
WHEEL_DIR="$WHEEL_ROOT/llama-cpp-python-$LLAMA_CPP_VERSION-$FLAGS_NAME"

if [ "${1:-}" = "--print-wheel-dir" ]; then
    echo "$WHEEL_DIR"
    exit 0
fi

if ! ls "$WHEEL_DIR"/llama_cpp_python-"$LLAMA_CPP_VERSION"-*.whl >/dev/null 2>&1; then
    echo "setup: compiling llama-cpp-python $LLAMA_CPP_VERSION, portable ($FLAGS_NAME); 8-11 min on 2 cores"
    mkdir -p "$WHEEL_DIR"
    tmp=$(mktemp -d "$WHEEL_ROOT/.build.XXXXXX")
    CMAKE_ARGS="$CMAKE_FLAGS" FORCE_CMAKE=1 "$VENV/bin/python" -m pip wheel -q --no-cache-dir \
        --no-deps --no-binary llama-cpp-python -w "$tmp" "llama-cpp-python==$LLAMA_CPP_VERSION"
    echo "$CMAKE_FLAGS" > "$tmp/CMAKE_ARGS"
    mv "$tmp"/* "$WHEEL_DIR"/ && rmdir "$tmp"
fi

# Installed already from this folder? (the wheel's record names the flags it was built with)
stamp="$VENV/.llama-cpp-python-build"
if [ "$(cat "$stamp" 2>/dev/null)" != "$WHEEL_DIR" ]; then
    "$VENV/bin/python" -m pip install -q --no-deps --force-reinstall --no-index \
        --find-links "$WHEEL_DIR" "llama-cpp-python==$LLAMA_CPP_VERSION"
    # llama-cpp-python's own runtime dependencies, from the index as usual
    "$VENV/bin/python" -m pip install -q "typing-extensions>=4.5" "numpy>=1.20" \
        "diskcache>=5.6.1" "jinja2>=2.11.3"
    echo "$WHEEL_DIR" > "$stamp"
fi
