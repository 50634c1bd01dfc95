"""Embedding backends behind one interface; ``get_embedder`` builds one from a spec string."""

from __future__ import annotations

from .base import CallableEmbedder, Embedder
from .registry import get_embedder

__all__ = ["Embedder", "CallableEmbedder", "get_embedder", "HFEncoderEmbedder", "MiniLMEmbedder", "NumpyEncoderEmbedder",
           "OnnxEncoderEmbedder", "OpenAIEmbedder"]


def __getattr__(name: str):
    if name in {"HFEncoderEmbedder", "MiniLMEmbedder", "NumpyEncoderEmbedder", "OnnxEncoderEmbedder"}:
        from . import minilm

        return getattr(minilm, name)
    if name == "OpenAIEmbedder":
        from .openai_embedder import OpenAIEmbedder

        return OpenAIEmbedder
    raise AttributeError(name)
