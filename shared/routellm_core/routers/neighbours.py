"""Labelled prompts kept beside a router: its P(strong wins) blended with the outcomes of the nearest ones.

On the user's own traffic a k-nearest-neighbour average of the labelled outcomes (cosine on the router's
prompt embeddings) finds local structure that a single linear direction misses: cross-fitted on MMLU STEM
questions as new traffic at 300 labels, the blend reached APGR 0.618 where the warm-started direction
alone reached 0.548 (docs/own-router.md). The blend ``(1 - beta) * p + beta * knn(q)`` is chosen by cross-validation
on the user's labels (:func:`routellm_core.own_router.warm_start.choose_blend`); beta = 0 is the router
unchanged. Each prompt's score depends only on that prompt and the memory, never on its batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import CheckpointError, InvalidInputError

DEFAULT_K = 25
# Rows of queries scored against the memory at a time: bounds the (rows x memory) similarity block.
_CHUNK = 256


def unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def knn_mean(queries: np.ndarray, vectors: np.ndarray, targets: np.ndarray, weights: np.ndarray,
             k: int = DEFAULT_K) -> np.ndarray:
    """Weighted mean target of each query's ``k`` most cosine-similar rows of ``vectors`` (unit rows)."""
    n = len(targets)
    if n == 0:
        raise InvalidInputError("a neighbour memory needs at least one labelled prompt")
    k = max(1, min(int(k), n))
    q = unit_rows(queries)
    out = np.empty(len(q), dtype=np.float64)
    for start in range(0, len(q), _CHUNK):
        sims = q[start:start + _CHUNK] @ vectors.T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k < n else np.broadcast_to(np.arange(n), (len(sims), n))
        w = weights[top]
        out[start:start + _CHUNK] = (w * targets[top]).sum(axis=1) / np.maximum(w.sum(axis=1), 1e-12)
    return out


class NeighbourMemory:
    """Unit prompt vectors with their outcome (P(strong better)) and weight; ``mix`` blends a router's P."""

    def __init__(self, vectors: np.ndarray, targets: np.ndarray, weights: np.ndarray | None = None,
                 k: int = DEFAULT_K, blend: float = 0.0, strong: str = "", weak: str = "") -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        targets = np.asarray(targets, dtype=np.float64).reshape(-1)
        weights = np.ones_like(targets) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
        if vectors.ndim != 2 or len(vectors) != len(targets) or len(weights) != len(targets):
            raise InvalidInputError(f"neighbour memory shapes do not match: vectors {vectors.shape}, targets "
                                    f"{targets.shape}, weights {weights.shape}")
        if not (np.all(np.isfinite(targets)) and np.all((targets >= 0) & (targets <= 1))):
            raise InvalidInputError("neighbour memory targets must be probabilities in [0, 1]")
        if not (np.all(np.isfinite(weights)) and np.all(weights >= 0)):
            raise InvalidInputError("neighbour memory weights must be finite and >= 0")
        if not 0.0 <= float(blend) <= 1.0 or int(k) < 1:
            raise InvalidInputError(f"neighbour blend must be in [0, 1] and k >= 1, got blend {blend!r}, k {k!r}")
        self.vectors, self.targets, self.weights = unit_rows(vectors), targets, weights
        self.k, self.blend, self.strong, self.weak = int(k), float(blend), strong, weak

    def __len__(self) -> int:
        return len(self.targets)

    def mean(self, embeddings: np.ndarray) -> np.ndarray:
        return knn_mean(embeddings, self.vectors, self.targets, self.weights, self.k)

    def mix(self, p: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
        """``(1 - blend) * p + blend * knn``: P(strong beats weak) for each prompt embedding."""
        if self.blend == 0.0:
            return np.asarray(p, dtype=np.float64)
        return (1.0 - self.blend) * np.asarray(p, dtype=np.float64) + self.blend * self.mean(embeddings)

    # --- checkpoints: tensors + config keys (no pickle) -------------------------------------------
    def tensors(self) -> dict[str, np.ndarray]:
        return {"neighbour_vectors": self.vectors, "neighbour_targets": self.targets.astype(np.float32),
                "neighbour_weights": self.weights.astype(np.float32)}

    def config(self) -> dict[str, Any]:
        return {"neighbour_k": self.k, "neighbour_blend": self.blend, "neighbour_pair": [self.strong, self.weak]}

    @classmethod
    def from_checkpoint(cls, config: dict[str, Any], tensors: dict[str, np.ndarray], dim: int,
                        path: object) -> NeighbourMemory:
        vectors = tensors["neighbour_vectors"]
        if vectors.ndim != 2 or vectors.shape[1] != dim:
            raise CheckpointError(f"checkpoint {path}: neighbour_vectors has shape {vectors.shape}, expected (n, {dim})")
        pair = config.get("neighbour_pair")
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(m, str) for m in pair)):
            raise CheckpointError(f"checkpoint {path}: neighbour_pair must name the [strong, weak] models, got {pair!r}")
        try:
            return cls(vectors, tensors["neighbour_targets"], tensors["neighbour_weights"],
                       k=config.get("neighbour_k", DEFAULT_K), blend=config.get("neighbour_blend", 0.0),
                       strong=pair[0], weak=pair[1])
        except (InvalidInputError, TypeError, ValueError) as exc:
            raise CheckpointError(f"checkpoint {path}: {exc}") from None
