"""The numpy all-MiniLM-L6-v2 encoder against published reference values and a float64 re-run."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from llamatouch.embed import DIM, MiniLMConfig, MiniLMEncoder, cosine, get_encoder
from llamatouch.errors import InputFormatError
from llamatouch.models import minilm_dir

# First six dimensions of sentence-transformers' all-MiniLM-L6-v2 output for these sentences, as
# asserted (to 1e-6, against SentenceTransformers) by the integration test of a public R "sbert"
# package; the first value for "This is an example sentence" (0.0676569) also appears in the
# Deep Java Library's Spark text-embedding example. Token ids are from the same R test.
REFERENCE_SENTENCES = [
    "This is an example sentence",
    "Each sentence is converted.",
    "",
    "Café déjà vu — 東京",
]
REFERENCE_PREFIX = np.array([
    [0.06765693, 0.06349593, 0.04871314, 0.07930495, 0.03744806, 0.00265273],
    [0.07853645, 0.08856265, -0.00209270, -0.00717247, -0.01252624, 0.01881747],
    [-0.11883835, 0.04829856, -0.00254805, -0.01101118, 0.05195070, 0.01029179],
    [0.05083271, 0.00967685, 0.09635572, -0.00997369, -0.01987603, 0.01692343],
])
REFERENCE_IDS = [
    [101, 2023, 2003, 2019, 2742, 6251, 102],
    [101, 2169, 6251, 2003, 4991, 1012, 102],
    [101, 102],
    [101, 7668, 2139, 3900, 24728, 1517, 1879, 1755, 102],
]


@pytest.fixture(scope="module")
def enc() -> MiniLMEncoder:
    return get_encoder()


def test_token_ids_match_reference(enc: MiniLMEncoder) -> None:
    assert [enc.token_ids(s) for s in REFERENCE_SENTENCES] == REFERENCE_IDS


def test_matches_published_reference_values(enc: MiniLMEncoder) -> None:
    emb = enc.encode(REFERENCE_SENTENCES)
    assert emb.shape == (4, DIM)
    assert emb.dtype == np.float32
    np.testing.assert_allclose(emb[:, :6], REFERENCE_PREFIX, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def _reference_float64(text: str, ids: list[int], model_dir: Path) -> np.ndarray:
    """A plain float64 BERT forward pass for one unpadded text (loops, math.erf GELU)."""
    w = {k: v.astype(np.float64) for k, v in load_file(str(model_dir / "model.safetensors")).items()
         if v.dtype != np.int64}

    def ln(x: np.ndarray, p: str) -> np.ndarray:
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + 1e-12) * w[p + ".weight"] + w[p + ".bias"]

    def lin(x: np.ndarray, p: str) -> np.ndarray:
        return x @ w[p + ".weight"].T + w[p + ".bias"]

    n = len(ids)
    x = (w["embeddings.word_embeddings.weight"][ids]
         + w["embeddings.position_embeddings.weight"][:n]
         + w["embeddings.token_type_embeddings.weight"][0])
    x = ln(x, "embeddings.LayerNorm")
    erf = np.vectorize(math.erf)
    for i in range(6):
        p = f"encoder.layer.{i}."
        q = lin(x, p + "attention.self.query")
        k = lin(x, p + "attention.self.key")
        v = lin(x, p + "attention.self.value")
        heads = []
        for h in range(12):
            sl = slice(h * 32, (h + 1) * 32)
            s = q[:, sl] @ k[:, sl].T / math.sqrt(32)
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            heads.append(s @ v[:, sl])
        x = ln(x + lin(np.concatenate(heads, -1), p + "attention.output.dense"),
               p + "attention.output.LayerNorm")
        inter = lin(x, p + "intermediate.dense")
        inter = 0.5 * inter * (1 + erf(inter / math.sqrt(2)))
        x = ln(x + lin(inter, p + "output.dense"), p + "output.LayerNorm")
    pooled = x.mean(0)
    return pooled / np.linalg.norm(pooled)


def test_matches_float64_reimplementation(enc: MiniLMEncoder) -> None:
    texts = ["Open the alarm clock app and set an alarm for 7 am", "hi", "Settings > Wi-Fi"]
    # encoded together: different lengths, so padding and masking are exercised
    got = enc.encode(texts)
    for text, row in zip(texts, got, strict=True):
        ref = _reference_float64(text, enc.token_ids(text), minilm_dir())
        np.testing.assert_allclose(row, ref, atol=2e-5)


def test_semantic_similarity_ordering(enc: MiniLMEncoder) -> None:
    a, b, c = enc.encode([
        "a cat sits on the mat", "a kitten is sitting on a mat",
        "The stock market fell sharply today",
    ])
    assert float(a @ b) > 0.7
    assert float(a @ c) < 0.3
    assert enc.similarity("turn on wifi", "enable the wireless network") > enc.similarity(
        "turn on wifi", "delete the photo album"
    )


def test_batching_and_padding_do_not_change_results(enc: MiniLMEncoder) -> None:
    long = "tap the send button " * 30
    alone = MiniLMEncoder(MiniLMConfig(cache_size=0)).encode(["short text"])
    mixed = MiniLMEncoder(MiniLMConfig(cache_size=0, batch_size=2)).encode(
        [long, "short text", "another somewhat longer sentence here"]
    )
    np.testing.assert_allclose(alone[0], mixed[1], atol=1e-5)


def test_truncation_to_256_tokens(enc: MiniLMEncoder) -> None:
    ids = enc.token_ids("word " * 1000)
    assert len(ids) == 256
    assert ids[0] == 101 and ids[-1] == 102
    e1, e2 = enc.encode(["word " * 1000, "word " * 2000])
    np.testing.assert_allclose(e1, e2, atol=1e-6)  # both truncated to the same 256 tokens


def test_cache_and_duplicates() -> None:
    enc = MiniLMEncoder(MiniLMConfig(cache_size=2))
    first = enc.encode(["alpha", "beta", "alpha"])
    assert enc.encoded_count == 2  # duplicates encoded once
    np.testing.assert_array_equal(first[0], first[2])
    again = enc.encode(["beta", "alpha"])
    assert enc.encoded_count == 2  # served from the cache
    np.testing.assert_array_equal(again[0], first[1])
    enc.encode(["gamma"])  # evicts the least recently used ("beta")
    enc.encode(["beta"])
    assert enc.encoded_count == 4
    assert enc.encode([]).shape == (0, DIM)


def test_singleton_and_bad_input() -> None:
    assert get_encoder() is get_encoder()
    with pytest.raises(TypeError):
        get_encoder().encode("not a list")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        get_encoder().encode(["ok", 3])  # type: ignore[list-item]


def test_missing_model_files_raise_typed_error(tmp_path: Path) -> None:
    with pytest.raises(InputFormatError) as info:
        MiniLMEncoder(MiniLMConfig(model_dir=tmp_path))
    assert str(tmp_path) in str(info.value)


def test_cosine_matrix() -> None:
    a = np.array([[1.0, 0.0], [0.0, 2.0]], dtype=np.float32)
    np.testing.assert_allclose(cosine(a, a), np.eye(2), atol=1e-6)


def test_blas_thread_limit_does_not_change_results(enc: MiniLMEncoder) -> None:
    texts = ["open the camera", "set a timer for ten minutes"]
    free = MiniLMEncoder(MiniLMConfig(cache_size=0, blas_threads=None)).encode(texts)
    np.testing.assert_allclose(enc.encode(texts), free, atol=1e-5)
