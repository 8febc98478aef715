"""Sentence embeddings (all-MiniLM-L6-v2 in numpy): :func:`get_encoder`."""

from llamatouch.embed.minilm import DIM, MiniLMConfig, MiniLMEncoder, cosine, get_encoder

__all__ = ["DIM", "MiniLMConfig", "MiniLMEncoder", "cosine", "get_encoder"]
