"""Build embedders from a short spec and share one instance per spec within a process."""

from __future__ import annotations

import os
import threading

from ..errors import InvalidInputError
from .base import Embedder

DEFAULT_EMBEDDER = "minilm"
_shared: dict[str, Embedder] = {}
_lock = threading.Lock()


def get_embedder(spec: str | Embedder | None = None) -> Embedder:
    """``"minilm"`` (default, numpy float32), ``"minilm-torch"`` (the torch reference), ``"minilm-bf16"`` (bulk training), ``"hf:/path/to/encoder"``, ``"openai:text-embedding-3-small"``, or an Embedder.

    Instances are shared per spec so a model is loaded once per process, however many routers use it.
    """
    if isinstance(spec, Embedder):
        return spec
    spec = spec or DEFAULT_EMBEDDER
    with _lock:
        if spec not in _shared:
            _shared[spec] = _build(spec)
        return _shared[spec]


def _build(spec: str) -> Embedder:
    from ..datadir import default_cache_dir
    from .minilm import HFEncoderEmbedder, NumpyEncoderEmbedder

    if spec in {"minilm", "all-MiniLM-L6-v2", "all-minilm-l6-v2"}:
        # float32 numpy, one prompt at a time: no torch import, batch-invariant vectors
        return NumpyEncoderEmbedder(disk_cache_dir=default_cache_dir() / "embeddings")
    if spec == "minilm-bf16":
        # torch bfloat16 batches: the fastest bulk path where the CPU multiplies bf16 natively (training)
        return HFEncoderEmbedder(dtype="bfloat16", disk_cache_dir=default_cache_dir() / "embeddings")
    if spec == "minilm-torch":
        # the reference path (torch float32, padded batches; $ROUTELLM_EMBEDDING_DTYPE may pick bfloat16)
        return HFEncoderEmbedder(dtype=os.environ.get("ROUTELLM_EMBEDDING_DTYPE", "float32"),
                                 disk_cache_dir=default_cache_dir() / "embeddings")
    if spec.startswith("hf:"):
        return HFEncoderEmbedder(spec[3:])
    if spec.startswith("openai:"):
        from .openai_embedder import OpenAIEmbedder

        return OpenAIEmbedder(model=spec.split(":", 1)[1])
    raise InvalidInputError(f"unknown embedder {spec!r}: use 'minilm', 'minilm-torch', 'minilm-bf16', 'hf:/path/to/model' or 'openai:<model>'")
