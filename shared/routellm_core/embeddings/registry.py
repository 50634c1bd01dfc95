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
    """``"minilm"`` (default: float32, ONNX Runtime or numpy), ``"minilm-onnx"``, ``"minilm-numpy"``, ``"minilm-static"`` (distilled, opt-in), ``"minilm-torch"`` (the torch reference), ``"minilm-bf16"`` (bulk training), ``"hf:/path/to/encoder"``, ``"openai:text-embedding-3-small"``, or an Embedder.

    Instances are shared per spec so a model is loaded once per process, however many routers use it.
    """
    if isinstance(spec, Embedder):
        return spec
    spec = spec or DEFAULT_EMBEDDER
    with _lock:
        if spec not in _shared:
            _shared[spec] = _build(spec)
        return _shared[spec]


def default_minilm_class() -> type[Embedder]:
    """The class behind ``"minilm"``: ONNX Runtime (fastest float32) when installed, else the numpy pass.

    Both give the same vectors to ~1e-6 and share their cache key, so the choice changes speed only.
    """
    import importlib.util

    from .minilm import NumpyEncoderEmbedder, OnnxEncoderEmbedder

    has_onnx = importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None
    return OnnxEncoderEmbedder if has_onnx else NumpyEncoderEmbedder


def _build(spec: str) -> Embedder:
    from ..datadir import default_cache_dir
    from .minilm import HFEncoderEmbedder, NumpyEncoderEmbedder, OnnxEncoderEmbedder

    if spec in {"minilm", "all-MiniLM-L6-v2", "all-minilm-l6-v2"}:
        # float32, one prompt at a time (batch-invariant), no torch: ONNX Runtime where installed, else numpy
        return default_minilm_class()(disk_cache_dir=default_cache_dir() / "embeddings")
    if spec in {"minilm-onnx", "minilm-numpy"}:
        cls = OnnxEncoderEmbedder if spec == "minilm-onnx" else NumpyEncoderEmbedder
        return cls(disk_cache_dir=default_cache_dir() / "embeddings")
    if spec == "minilm-static":
        # model2vec distillation of MiniLM shipped with the package: a table lookup per token (opt-in fast routers)
        from .static import StaticEmbedder

        return StaticEmbedder()
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
    raise InvalidInputError(f"unknown embedder {spec!r}: use 'minilm', 'minilm-onnx', 'minilm-numpy', 'minilm-static', 'minilm-torch', 'minilm-bf16', 'hf:/path/to/model' or 'openai:<model>'")
