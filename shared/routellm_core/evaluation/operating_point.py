"""One operating point on a benchmark: a share of strong calls -> threshold, quality and cost.

The quality-vs-% strong calls curve shows every operating point; a demo or a report picks one
(e.g. "send 30 % to the strong model") and needs the threshold that gives it, the benchmark
quality there, and what it costs against sending everything to the strong model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..calibration import threshold_for_fraction
from ..errors import InvalidInputError
from .benchmarks import Benchmark
from .cost import ItemCosts


@dataclass(frozen=True)
class OperatingPoint:
    """Where a router lands on a benchmark when ``strong_fraction`` of its prompts go to the strong model."""

    strong_fraction: float  # the share asked for
    threshold: float
    strong_pct: float  # the share reached (ties can push it up), in %
    performance: float
    gap_recovered: float  # (performance - weak) / (strong - weak)
    cost: float | None
    all_strong_cost: float | None

    @property
    def saving(self) -> float | None:
        """Fraction of the all-strong cost saved (0.6 = 60 % cheaper), if costs are known."""
        if self.cost is None or not self.all_strong_cost:
            return None
        return 1.0 - self.cost / self.all_strong_cost


def operating_point(scores: np.ndarray, benchmark: Benchmark, strong_fraction: float,
                    costs: ItemCosts | None = None) -> OperatingPoint:
    """The point reached by calibrating a threshold on ``scores`` for ``strong_fraction``.

    Items scoring >= the threshold go to the strong model, as the routers and the curves do.
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(s) != benchmark.n:
        raise InvalidInputError(f"need one score per benchmark item: {len(s)} scores for {benchmark.n} items")
    threshold = threshold_for_fraction(s, strong_fraction)
    strong = s >= threshold
    performance = benchmark.performance(strong)
    gap = benchmark.strong_performance - benchmark.weak_performance
    recovered = (performance - benchmark.weak_performance) / gap if gap else float("nan")
    return OperatingPoint(float(strong_fraction), threshold, float(strong.mean() * 100.0), performance, float(recovered),
                          costs.routed(strong) if costs is not None else None,
                          costs.all_strong if costs is not None else None)
