"""The oracle router: knows each benchmark item's outcome; the upper bound a router can reach."""

from __future__ import annotations

import hashlib
from collections import defaultdict

import numpy as np

from ..errors import InvalidInputError
from ..routers.base import Router
from .benchmarks import Benchmark

_JITTER = 1e-3


class OracleRouter(Router):
    """P(strong wins) grows with how much the strong model beats the weak one on the item.

    Ties (e.g. both models right) are broken by a seeded hash of the prompt, so the quantile bins
    of the paper's procedure stay distinct. Only prompts of the given benchmark can be scored.
    """

    name = "oracle"
    trainable = False

    def __init__(self, benchmark: Benchmark, seed: int = 0) -> None:
        self.benchmark_name = benchmark.name
        self.seed = int(seed)
        gains: dict[str, list[float]] = defaultdict(list)
        for prompt, s, w in zip(benchmark.prompts, benchmark.strong_scores, benchmark.weak_scores):
            gains[prompt].append(float(s - w))
        scale = max((abs(v) for g in gains.values() for v in g), default=0.0) or 1.0
        self._gain = {p: float(np.mean(g)) / scale for p, g in gains.items()}

    def _predict(self, prompts: list[str]) -> np.ndarray:
        out = np.empty(len(prompts))
        for i, prompt in enumerate(prompts):
            if prompt not in self._gain:
                raise InvalidInputError(f"the oracle router only knows prompts of benchmark {self.benchmark_name!r}")
            digest = hashlib.blake2b(prompt.encode(), digest_size=8, key=f"oracle{self.seed}".encode()).digest()
            u = int.from_bytes(digest, "big") / 2**64
            out[i] = 0.5 + (0.5 - _JITTER) * self._gain[prompt] + _JITTER * (u - 0.5)
        return out

    def get_params(self) -> dict:
        return {"benchmark": self.benchmark_name, "seed": self.seed}
