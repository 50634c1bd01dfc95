"""Shared plumbing for routers that score prompt embeddings (SW ranking, MF)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..embeddings import Embedder, get_embedder
from ..errors import DataError
from ..models import STRONG_MODEL, WEAK_MODEL, canonical_model_name
from ..records import PreferenceRecord
from .base import Router


class EmbeddingRouter(Router):
    """A router whose input is the prompt's embedding; the embedder is named in config.json.

    ``embedder`` is a spec (``"minilm"``, ``"openai:text-embedding-3-small"``, ``"hf:/path"``) or
    any :class:`Embedder` (e.g. wrapping a LangChain/LlamaIndex embedding model); a custom object is
    saved under its ``model_id`` and must be passed again at load time.
    """

    def __init__(self, embedder: str | Embedder = "minilm", strong_model: str = STRONG_MODEL,
                 weak_model: str = WEAK_MODEL, show_progress: bool = True) -> None:
        self.embedder = embedder
        self.strong_model = canonical_model_name(strong_model)
        self.weak_model = canonical_model_name(weak_model)
        self.show_progress = show_progress

    @property
    def embedder_spec(self) -> str:
        return self.embedder if isinstance(self.embedder, str) else self.embedder.model_id

    def _embed(self, prompts: Sequence[str], progress: bool = False) -> np.ndarray:
        return get_embedder(self.embedder).embed(list(prompts), show_progress=progress)

    @staticmethod
    def _index_records(records: Sequence[PreferenceRecord]) -> tuple[list[str], list[str], np.ndarray]:
        """Unique prompts, unique models, and per record (prompt idx, a idx, b idx, outcome, weight)."""
        if not records:
            raise DataError("no training records")
        prompts: dict[str, int] = {}
        models: dict[str, int] = {}
        rows = np.empty((len(records), 5), dtype=np.float64)
        for i, r in enumerate(records):
            p = prompts.setdefault(r.prompt, len(prompts))
            a = models.setdefault(r.model_a, len(models))
            b = models.setdefault(r.model_b, len(models))
            rows[i] = (p, a, b, r.outcome, r.weight)
        return list(prompts), list(models), rows
