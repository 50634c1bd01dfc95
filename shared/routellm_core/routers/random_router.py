"""The random baseline: P(strong wins) drawn uniformly, seeded, stable per prompt text."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .base import Router
from .checkpoint import write_checkpoint


class RandomRouter(Router):
    """Scores are uniform in [0, 1]; the same prompt and seed always get the same score."""

    name = "random"
    trainable = False

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)

    def _predict(self, prompts: list[str]) -> np.ndarray:
        out = np.empty(len(prompts))
        for i, prompt in enumerate(prompts):
            digest = hashlib.blake2b(prompt.encode(), digest_size=8, key=str(self.seed).encode()).digest()
            out[i] = int.from_bytes(digest, "big") / 2**64
        return out

    def fit(self, records) -> RandomRouter:
        return self


    def save(self, path: str | Path) -> Path:
        return write_checkpoint(path, {"router": self.name, **self.get_params()}, {"seed": np.array([self.seed])})

    @classmethod
    def load(cls, path: str | Path) -> RandomRouter:
        from .checkpoint import read_config

        return cls(seed=int(read_config(path).get("seed", 0)))
