"""Cost/quality curves and the paper's metrics: CPT(x%), AUC and APGR.

The paper's procedure (RouteLLM ``evals/evaluate.py`` + ``benchmarks.py``): thresholds are the
edges of 10 quantile bins of the router's scores (``pandas.qcut(scores, 10, retbins=True)``); at
each edge the items scoring >= it go to the strong model (> it at the last edge, so the curve
spans 0-100 % strong calls); the points, sorted by % strong calls, give

- CPT(x%): ``np.interp(weak + x (strong - weak), performance, strong_pct)`` (RouteLLM's formula;
  ``cpt_method="first"`` gives the first crossing instead, identical for monotone curves);
- AUC: trapezoid rule over % strong calls in [0, 1];
- APGR = (AUC - AUC_weak) / (AUC_strong - AUC_weak).

Where quantile edges coincide (many tied scores) ``qcut`` would raise; we keep the distinct edges.
:func:`exact_curve` uses every distinct threshold instead, and :func:`optimal_curve` is the
oracle's curve as RouteLLM's ``get_optimal_accuracy`` computes it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..errors import InvalidInputError

CPT_LEVELS: tuple[float, ...] = (0.2, 0.5, 0.8)
CptMethod = Literal["routellm", "first"]


@dataclass(frozen=True, eq=False)
class Curve:
    """Performance against % strong calls, sorted by % strong calls (0-100)."""

    strong_pct: np.ndarray
    performance: np.ndarray
    thresholds: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"strong_pct": self.strong_pct.tolist(), "performance": self.performance.tolist()}
        if self.thresholds is not None:
            out["thresholds"] = self.thresholds.tolist()
        return out


@dataclass(frozen=True)
class CurveMetrics:
    """CPT at 20/50/80 % of the weak-to-strong gap (in % strong calls), AUC and APGR."""

    cpt20: float
    cpt50: float
    cpt80: float
    auc: float
    apgr: float

    def to_dict(self) -> dict[str, float]:
        return {"cpt20": self.cpt20, "cpt50": self.cpt50, "cpt80": self.cpt80, "auc": self.auc, "apgr": self.apgr}

    @staticmethod
    def mean(items: Sequence[CurveMetrics]) -> CurveMetrics:
        """Field-wise mean (the random router's metrics averaged over seeds)."""
        if not items:
            raise InvalidInputError("no metrics to average")
        return CurveMetrics(*(float(np.mean([getattr(m, f) for m in items])) for f in ("cpt20", "cpt50", "cpt80", "auc", "apgr")))


def _arrays(scores, strong, weak) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    a = np.asarray(strong, dtype=np.float64).reshape(-1)
    b = np.asarray(weak, dtype=np.float64).reshape(-1)
    if not (len(s) == len(a) == len(b)) or len(s) == 0:
        raise InvalidInputError(f"need one router score per item: {len(s)} scores for {len(a)} items")
    if not np.isfinite(s).all():
        raise InvalidInputError("router scores contain NaN or infinite values")
    return s, a, b


def quantile_thresholds(scores: Sequence[float] | np.ndarray, num_results: int = 10) -> np.ndarray:
    """Distinct edges of ``num_results`` equal-count quantile bins (pandas.qcut's ``retbins``)."""
    if int(num_results) < 1:
        raise InvalidInputError(f"num_results must be >= 1, got {num_results!r}")
    quantiles = np.linspace(0, 1, int(num_results) + 1)
    return np.unique(np.quantile(np.asarray(scores, dtype=np.float64), quantiles))


def quantile_curve(scores, strong_scores, weak_scores, num_results: int = 10) -> Curve:
    """The paper's curve: one point per quantile-bin edge of the router's scores."""
    s, a, b = _arrays(scores, strong_scores, weak_scores)
    edges = quantile_thresholds(s, num_results)
    # >= at every edge but the last, > at the last; a constant router (one edge) gets both points.
    points = [(t, s >= t) for t in (edges if len(edges) == 1 else edges[:-1])] + [(edges[-1], s > edges[-1])]
    pct = np.array([sel.mean() * 100.0 for _, sel in points])
    perf = np.array([np.where(sel, a, b).mean() for _, sel in points])
    thresholds = np.array([t for t, _ in points])
    order = np.argsort(pct, kind="stable")
    return Curve(pct[order], perf[order], thresholds[order])


def exact_curve(scores, strong_scores, weak_scores) -> Curve:
    """One point per distinct score (strong iff score >= it), plus the all-weak point."""
    s, a, b = _arrays(scores, strong_scores, weak_scores)
    n = len(s)
    order = np.argsort(-s, kind="stable")
    ss, gain = s[order], (a - b)[order]
    ends = np.flatnonzero(np.r_[ss[1:] != ss[:-1], True])  # last item of each run of equal scores
    cum = np.cumsum(gain)
    pct = np.r_[0.0, (ends + 1) / n * 100.0]
    perf = b.mean() + np.r_[0.0, cum[ends]] / n
    thresholds = np.r_[np.nextafter(ss[0], np.inf), ss[ends]]
    return Curve(pct, perf, thresholds)


def optimal_curve(strong_scores, weak_scores, strong_pct: Sequence[float] | np.ndarray | None = None,
                  whole_calls: bool = False) -> Curve:
    """The oracle: for each % of strong calls, send the items that gain most from the strong model.

    As RouteLLM's ``get_optimal_accuracy``: a budget of ``n * pct`` strong calls (floored with
    ``whole_calls``, as for MT-Bench) spent on items where the strong model scores higher.
    """
    a = np.asarray(strong_scores, dtype=np.float64).reshape(-1)
    b = np.asarray(weak_scores, dtype=np.float64).reshape(-1)
    n = len(a)
    pct = np.arange(0, 101, 10, dtype=np.float64) if strong_pct is None else np.asarray(strong_pct, dtype=np.float64)
    gains = np.clip(np.sort(a - b)[::-1], 0.0, None)
    cum = np.r_[0.0, np.cumsum(gains)]
    calls = n * (pct / 100.0)
    if whole_calls:
        calls = np.floor(calls)
    perf = b.mean() + np.interp(calls, np.arange(n + 1), cum) / n
    return Curve(pct, perf)


def auc(curve: Curve) -> float:
    """Area under performance over the strong-call fraction (trapezoid rule)."""
    return float(np.trapezoid(curve.performance, curve.strong_pct / 100.0))


def apgr(curve: Curve, weak: float, strong: float) -> float:
    """Average performance gap recovered: (AUC - AUC_weak) / (AUC_strong - AUC_weak)."""
    span = (curve.strong_pct[-1] - curve.strong_pct[0]) / 100.0
    denom = (strong - weak) * span
    if denom == 0:
        return float("nan")
    return float((auc(curve) - weak * span) / denom)


def cpt(curve: Curve, weak: float, strong: float, level: float, method: CptMethod = "routellm") -> float:
    """% strong calls needed to recover ``level`` of the weak-to-strong performance gap."""
    target = weak + level * (strong - weak)
    x, y = curve.strong_pct, curve.performance
    if method == "routellm":
        return float(np.interp(target, y, x))
    if method != "first":
        raise InvalidInputError(f"unknown CPT method {method!r} (routellm or first)")
    sign = 1.0 if strong >= weak else -1.0
    reached = np.flatnonzero(sign * (y - target) >= 0)
    if reached.size == 0:
        return float("nan")
    i = int(reached[0])
    if i == 0 or y[i] == y[i - 1]:
        return float(x[i])
    return float(x[i - 1] + (target - y[i - 1]) / (y[i] - y[i - 1]) * (x[i] - x[i - 1]))


def curve_metrics(curve: Curve, weak: float, strong: float, cpt_method: CptMethod = "routellm") -> CurveMetrics:
    """CPT(20/50/80 %), AUC and APGR of one curve."""
    c20, c50, c80 = (cpt(curve, weak, strong, level, cpt_method) for level in CPT_LEVELS)
    return CurveMetrics(c20, c50, c80, auc(curve), float(apgr(curve, weak, strong)))


def mean_curve(curves: Sequence[Curve]) -> Curve:
    """Point-wise mean of curves with the same number of points (seeds of the random router)."""
    sizes = {len(c.strong_pct) for c in curves}
    if len(sizes) != 1:
        # Fall back to interpolating every curve on a common grid of % strong calls.
        grid = np.linspace(0, 100, 11)
        return Curve(grid, np.mean([np.interp(grid, c.strong_pct, c.performance) for c in curves], axis=0))
    return Curve(np.mean([c.strong_pct for c in curves], axis=0), np.mean([c.performance for c in curves], axis=0))


def bootstrap_apgr(scores, strong_scores, weak_scores, num_results: int = 10, n_boot: int = 1000, level: float = 0.9,
                   seed: int = 0, seed_scores: Sequence[np.ndarray] | None = None) -> tuple[float, float]:
    """Percentile bootstrap interval of APGR (the paper's quantile curve), resampling items.

    Each replicate draws the items with replacement and recomputes the curve, the weak and strong
    means and APGR. ``seed_scores`` (the random router's seeds) are used in turn, one per replicate,
    so the interval covers both item sampling and the router's own randomness.
    """
    s, a, b = _arrays(scores, strong_scores, weak_scores)
    runs = [np.asarray(x, dtype=np.float64) for x in seed_scores] if seed_scores else [s]

    def value(idx: np.ndarray, i: int) -> float:
        aa, bb = a[idx], b[idx]
        return apgr(quantile_curve(runs[i % len(runs)][idx], aa, bb, num_results), float(bb.mean()), float(aa.mean()))

    return bootstrap_interval(value, len(s), n_boot, level, seed)


def bootstrap_interval(statistic: Callable[[np.ndarray, int], float], n: int, n_boot: int = 1000,
                       level: float = 0.9, seed: int = 0) -> tuple[float, float]:
    """The one percentile bootstrap of this package: ``statistic(idx, replicate)`` over ``n_boot`` resamples.

    Each replicate draws ``n`` item indices with replacement (``numpy.random.default_rng(seed)``);
    replicates whose statistic is not finite (NaN: e.g. no decisive vote drawn) are left out, and the
    interval is the central ``level`` of the rest (NaNs when none is left). ``scipy.stats.bootstrap``
    resamples data arrays; these statistics need the indices (paired items, seed rotation), hence this.
    """
    rng = np.random.default_rng(seed)
    values = [statistic(rng.integers(0, n, n), i) for i in range(int(n_boot))]
    return percentile_interval([v for v in values if np.isfinite(v)], level)


def percentile_interval(values: list[float], level: float) -> tuple[float, float]:
    """The central ``level`` interval of bootstrap values (NaNs when there are none)."""
    if not values:
        return float("nan"), float("nan")
    tail = (1.0 - level) / 2 * 100.0
    lo, hi = np.percentile(values, [tail, 100.0 - tail])
    return float(lo), float(hi)
