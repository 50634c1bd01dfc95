"""Similarity-weighted (SW) Bradley-Terry ranking, as in the RouteLLM paper (section 4.1).

For a query q every training battle gets weight ``gamma ** (1 + S(q, q_i))`` where S is the
cosine similarity to the battle's prompt divided by the query's largest similarity; a weighted
Bradley-Terry model (ties count half a win for each side) is fitted per query and
P(strong beats weak) = p_strong / (p_strong + p_weak).

Vectorised: battles are first summed into per-prompt pairwise win counts ``(prompts, pairs)``, so
a batch of queries needs one matrix product for the weights and a few dozen batched
minorise-maximise (MM) iterations over ``(queries, pairs)`` -- no Python loop over battles.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..embeddings import Embedder
from ..errors import CheckpointError, DataError, InvalidInputError
from ..models import STRONG_MODEL, WEAK_MODEL
from ..records import PreferenceRecord
from .base import StrongWeakPair
from .checkpoint import read_config, read_tensors, require_keys, write_checkpoint
from .embedding_router import EmbeddingRouter


class SWRankingRouter(StrongWeakPair, EmbeddingRouter):
    name = "sw_ranking"
    unsaved_params = ("show_progress", "query_batch")
    param_attributes = {"embedder": "embedder_spec"}

    def __init__(self, embedder: str | Embedder = "minilm", strong_model: str = STRONG_MODEL,
                 weak_model: str = WEAK_MODEL, gamma: float = 10.0, n_iter: int = 100, prior: float = 0.5,
                 query_batch: int = 256, embedding_dtype: str = "float32", show_progress: bool = True) -> None:
        super().__init__(embedder, strong_model, weak_model, show_progress)
        if embedding_dtype not in {"float32", "float16"}:
            raise InvalidInputError(f"embedding_dtype must be float32 or float16, not {embedding_dtype!r}")
        self.embedding_dtype = embedding_dtype  # float16 halves the checkpoint (the shipped default uses it)
        self.gamma = float(gamma)
        self.n_iter = int(n_iter)
        self.prior = float(prior)
        self.query_batch = int(query_batch)


    def fit(self, records: Sequence[PreferenceRecord]) -> SWRankingRouter:
        prompts, models, rows = self._index_records(records)
        p_idx, a, b, outcome, weight = rows[:, 0].astype(int), rows[:, 1].astype(int), rows[:, 2].astype(int), rows[:, 3], rows[:, 4]
        swap = a > b  # one column per unordered pair (lo, hi)
        lo, hi = np.where(swap, b, a), np.where(swap, a, b)
        win_lo = np.where(swap, 1.0 - outcome, outcome) * weight
        pair_keys = lo * len(models) + hi
        uniq, pair_idx = np.unique(pair_keys, return_inverse=True)
        wins = np.zeros((len(prompts), len(uniq), 2), dtype=np.float32)
        np.add.at(wins, (p_idx, pair_idx, np.zeros_like(p_idx)), win_lo)
        np.add.at(wins, (p_idx, pair_idx, np.ones_like(p_idx)), weight - win_lo)
        self.models_ = models
        self.pairs_ = np.stack([uniq // len(models), uniq % len(models)], axis=1).astype(np.int64)
        self.wins_ = wins
        embeddings = self._embed(prompts, progress=self.show_progress)
        # rounded to the stored precision now, so a trained router and its reloaded copy agree exactly
        self.prompt_embeddings_ = embeddings.astype(self.embedding_dtype).astype(np.float32)
        self._check_pair()
        return self

    def _check_pair(self) -> None:
        self._model_index(self.strong_model, self.models_)
        self._model_index(self.weak_model, self.models_)

    def _predict(self, prompts: list[str]) -> np.ndarray:
        if not hasattr(self, "wins_"):
            raise DataError("sw_ranking router is not trained: call fit() or load a checkpoint")
        queries = self._embed(prompts)
        out = np.empty(len(prompts))
        for start in range(0, len(prompts), self.query_batch):
            out[start : start + self.query_batch] = self._win_rates(queries[start : start + self.query_batch])
        return out

    def scores(self, prompts: Sequence[str]) -> np.ndarray:
        """log Bradley-Terry strength of every model (columns, ``models_`` order) per prompt (rows):
        P(a beats b | q) = sigmoid(score_a - score_b), as for MF's scores."""
        if not hasattr(self, "wins_"):
            raise DataError("sw_ranking router is not trained: call fit() or load a checkpoint")
        queries = self._embed(prompts)
        out = np.empty((len(prompts), len(self.models_)))
        for start in range(0, len(prompts), self.query_batch):
            out[start : start + self.query_batch] = np.log(np.maximum(
                self._strengths(queries[start : start + self.query_batch]), 1e-300))
        return out

    def _win_rates(self, queries: np.ndarray) -> np.ndarray:
        strength = self._strengths(queries)
        s = self._model_index(self.strong_model, self.models_)
        w = self._model_index(self.weak_model, self.models_)
        return strength[:, s] / (strength[:, s] + strength[:, w])

    def _strengths(self, queries: np.ndarray) -> np.ndarray:
        sims = queries @ self.prompt_embeddings_.T  # (Q, P)
        top = np.maximum(sims.max(axis=1, keepdims=True), 1e-6)
        weights = self.gamma ** (1.0 + sims / top)  # (Q, P)
        weights /= weights.sum(axis=1, keepdims=True)
        # one BLAS product over (P, 2K): slicing wins_[:, :, k] first gives strided views BLAS cannot take
        both = (weights @ self.wins_.reshape(len(self.wins_), -1)).reshape(len(queries), -1, 2)
        return self._bradley_terry(both[:, :, 0], both[:, :, 1])

    def _bradley_terry(self, w_lo: np.ndarray, w_hi: np.ndarray) -> np.ndarray:
        """Batched MM updates (Hunter 2004): the BT strength of every model per query, shape (Q, M)."""
        n_models = len(self.models_)
        lo, hi = self.pairs_[:, 0], self.pairs_[:, 1]
        inc_lo = np.zeros((len(lo), n_models)); inc_lo[np.arange(len(lo)), lo] = 1.0
        inc_hi = np.zeros((len(hi), n_models)); inc_hi[np.arange(len(hi)), hi] = 1.0
        scale = (w_lo + w_hi).sum(axis=1, keepdims=True) / max(len(lo), 1)
        # A weak prior (a virtual tie of every pair) keeps the fit finite on sparse comparisons.
        prior = self.prior * np.maximum(scale, 1e-9)
        w_lo, w_hi = w_lo + prior / 2, w_hi + prior / 2
        games = w_lo + w_hi
        wins_of = w_lo @ inc_lo + w_hi @ inc_hi  # (Q, M)
        strength = np.ones((w_lo.shape[0], n_models))
        for _ in range(self.n_iter):
            denom = games / (strength[:, lo] + strength[:, hi])
            strength = wins_of / np.maximum(denom @ inc_lo + denom @ inc_hi, 1e-12)
            strength /= np.exp(np.log(np.maximum(strength, 1e-300)).mean(axis=1, keepdims=True))
        return strength

    def save(self, path: str | Path) -> Path:
        config = {"router": self.name, **self.get_params(), "models": self.models_}
        flat = self.wins_.reshape(-1, 2)
        index = np.flatnonzero(flat.any(axis=1))  # most (prompt, pair) cells are empty: store the others only
        values: np.ndarray = flat[index].astype(np.float16)  # lossless for counts in halves below 2048
        if not np.array_equal(values.astype(np.float32), flat[index]):
            values = flat[index]
        tensors = {"prompt_embeddings": self.prompt_embeddings_.astype(self.embedding_dtype),
                   "wins_index": index.astype(np.int64), "wins_values": values, "pairs": self.pairs_}
        return write_checkpoint(path, config, tensors)

    @classmethod
    def load(cls, path: str | Path, embedder: str | Embedder | None = None, **overrides) -> SWRankingRouter:
        config = read_config(path)
        require_keys(config, ["models", "embedder"], path)
        tensors = read_tensors(path, ["prompt_embeddings", "pairs"])
        params: dict[str, Any] = {k: config[k] for k in ("strong_model", "weak_model", "gamma", "n_iter", "prior",
                                                          "embedding_dtype") if k in config}
        params.update(overrides)
        router = cls(embedder=embedder or config["embedder"], **params)
        router.models_ = list(config["models"])
        router.prompt_embeddings_ = tensors["prompt_embeddings"].astype(np.float32)
        router.pairs_ = tensors["pairs"].astype(np.int64)
        if "wins" in tensors:  # the dense layout of older checkpoints
            router.wins_ = np.ascontiguousarray(tensors["wins"], dtype=np.float32)
        else:
            if "wins_index" not in tensors or "wins_values" not in tensors:
                raise CheckpointError(f"checkpoint {path}: model.safetensors lacks tensor(s) wins_index, wins_values")
            shape = (len(router.prompt_embeddings_), len(router.pairs_))
            index = tensors["wins_index"].astype(np.int64)
            if index.size and (index.min() < 0 or index.max() >= shape[0] * shape[1]):
                raise CheckpointError(f"checkpoint {path}: wins_index lies outside {shape[0]} prompts x {shape[1]} pairs")
            flat = np.zeros((shape[0] * shape[1], 2), dtype=np.float32)
            flat[index] = tensors["wins_values"].astype(np.float32)
            router.wins_ = flat.reshape(shape[0], shape[1], 2)
        router._check_pair()
        return router
