"""Drop training prompts that duplicate evaluation prompts (exactly or nearly)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .data.paper import benchmark_prompts
from .data.tables import normalize_prompt
from .embeddings import Embedder, get_embedder
from .records import PreferenceRecord

__all__ = ["DecontaminationReport", "benchmark_prompts", "decontaminate", "normalize_prompt"]


@dataclass(frozen=True)
class DecontaminationReport:
    kept: int
    dropped_exact: int
    dropped_near: int

    @property
    def dropped(self) -> int:
        return self.dropped_exact + self.dropped_near

    def __str__(self) -> str:
        return (f"decontamination: dropped {self.dropped} training records "
                f"({self.dropped_exact} exact, {self.dropped_near} near-duplicate), kept {self.kept}")


def decontaminate(records: Sequence[PreferenceRecord], eval_prompts: Sequence[str], embedder: str | Embedder | None = "minilm",
                  threshold: float = 0.95, batch: int = 2048) -> tuple[list[PreferenceRecord], DecontaminationReport]:
    """Remove records whose prompt equals (normalised) or has cosine >= ``threshold`` to any eval prompt.

    ``embedder=None`` skips the near-duplicate pass.
    """
    eval_norm = {normalize_prompt(p) for p in eval_prompts}
    train_prompts = list(dict.fromkeys(r.prompt for r in records))
    exact = {p for p in train_prompts if normalize_prompt(p) in eval_norm}
    near: set[str] = set()
    rest = [p for p in train_prompts if p not in exact]
    if embedder is not None and rest and eval_prompts:
        emb = get_embedder(embedder)
        ev = emb.embed(list(dict.fromkeys(eval_prompts)), show_progress=True)
        tr = emb.embed(rest, show_progress=True)
        for start in range(0, len(rest), batch):
            top = (tr[start : start + batch] @ ev.T).max(axis=1)
            near.update(p for p, s in zip(rest[start : start + batch], top) if s >= threshold)
    kept = [r for r in records if r.prompt not in exact and r.prompt not in near]
    n_exact = sum(r.prompt in exact for r in records)
    return kept, DecontaminationReport(len(kept), n_exact, len(records) - len(kept) - n_exact)
