"""Quality vs cost of multi-model routing, with RouterBench's AIQ, cross-fitted.

For each fold (the harness's :func:`~.crossfit.assign_folds`) a fresh MF router trains on the
other folds' items only (held-out prompts removed from its data even when repeated) and scores its
fold. The decision is the engine's rule (:func:`routellm_core.multi_model.choose`) with each
model's *expected* cost = its mean cost on the training folds (the router never sees a held-out
item's real cost); the curve sweeps the threshold and charges each item its real cost.

Compared on the same axes: every single model, the oracle (cheapest best model per item), the
random mix (the convex hull of the single models: what mixing them at random achieves) and the
router. AIQ (RouterBench, Hu et al. 2024): the area under the non-decreasing convex hull of a
method's (cost, quality) points, over the single models' cost range, divided by its width.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data.tables import normalize_prompt
from ..multi_model import choose, threats
from .crossfit import assign_folds
from .metrics import percentile_interval
from .multi_data import MultiBenchmark


def hull_function(costs: np.ndarray, qualities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices of the non-decreasing upper convex hull of (cost, quality) points, cheapest first."""
    order = np.lexsort((-qualities, costs))
    pts = [(float(costs[i]), float(qualities[i])) for i in order]
    hull: list[tuple[float, float]] = []
    for p in pts:
        if hull and p[0] == hull[-1][0]:
            continue  # same cost, lower quality (sorted so)
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1) >= 0:  # hull[-1] lies on/below the chord
                hull.pop()
            else:
                break
        hull.append(p)
    best = int(np.argmax([q for _, q in hull]))
    hull = hull[: best + 1]  # non-decreasing: past the best point, spending more gains nothing
    return np.array([c for c, _ in hull]), np.array([q for _, q in hull])


def hull_at(hull: tuple[np.ndarray, np.ndarray], cost: np.ndarray | float) -> np.ndarray:
    """Quality of a hull at a cost (flat beyond its ends)."""
    return np.interp(cost, hull[0], hull[1])


def aiq(costs: np.ndarray, qualities: np.ndarray, lo: float, hi: float, grid: int = 2001) -> float:
    """Area under the non-decreasing convex hull of the points over [lo, hi], divided by hi - lo."""
    xs = np.linspace(lo, hi, grid)
    return float(np.trapezoid(hull_at(hull_function(costs, qualities), xs), xs) / (hi - lo))


def cross_fit_probabilities(bench: MultiBenchmark, make_router: Callable[[], Any], k: int = 5, seed: int = 0,
                            log: Callable[[str], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold P(model a beats b | item) (items, models, models) and each item's expected cost per model.

    The expected cost of a model is its mean cost on the item's training folds.
    """
    folds = assign_folds(bench.n, k, None, seed)
    m = len(bench.models)
    pairwise = np.full((bench.n, m, m), 0.5)
    expected = np.zeros(bench.cost.shape)
    for f in range(k):
        held = np.flatnonzero(folds == f)
        held_norm = {normalize_prompt(bench.prompts[i]) for i in held}
        train_items = np.array([i for i in np.flatnonzero(folds != f)
                                if normalize_prompt(bench.prompts[i]) not in held_norm])
        mean_cost = bench.cost[train_items].mean(axis=0)
        records = bench.training_records(train_items)
        if log:
            log(f"{bench.name} fold {f + 1}/{k}: training mf on {len(records)} records of {len(train_items)} prompts, "
                f"scoring {len(held)}")
        router = make_router().fit(records)
        ranked = np.argsort(-mean_cost, kind="stable")  # pricier first, as the engine asks
        back = np.argsort(ranked)
        probs = router.pairwise_probabilities([bench.prompts[i] for i in held], [bench.models[j] for j in ranked])
        pairwise[held] = probs[:, back][:, :, back]
        expected[held] = mean_cost
    return pairwise, expected


@dataclass
class MultiResult:
    """Curves, AIQs and the comparison with the single models' hull for one benchmark."""

    bench: MultiBenchmark
    thresholds: np.ndarray
    router_cost: np.ndarray  # per threshold, USD per call
    router_quality: np.ndarray
    single_cost: np.ndarray
    single_quality: np.ndarray
    oracle: tuple[float, float]
    aiq_router: float
    aiq_mix: float
    aiq_interval: tuple[float, float] = (float("nan"), float("nan"))
    gain_interval: tuple[float, float] = (float("nan"), float("nan"))
    notes: list[str] = field(default_factory=list)
    plot_path: Path | None = None

    @property
    def cost_range(self) -> tuple[float, float]:
        return float(self.single_cost.min()), float(self.single_cost.max())

    def router_at(self, cost: float) -> float:
        """The router's hull quality at a cost (what it reaches spending at most that)."""
        return float(hull_at(hull_function(self.router_cost, self.router_quality), cost))

    def mix_at(self, cost: float) -> float:
        return float(hull_at(hull_function(self.single_cost, self.single_quality), cost))

    def share_on_or_above(self) -> float:
        """Share of the router's curve points at or above the random-mix hull (within 0.1 point)."""
        gaps = self.router_quality - hull_at(hull_function(self.single_cost, self.single_quality), self.router_cost)
        return float(np.mean(gaps >= -1e-3))


def evaluate_multi(bench: MultiBenchmark, pairwise: np.ndarray, expected: np.ndarray, n_boot: int = 200,
                   seed: int = 0) -> MultiResult:
    """Sweep the threshold over the out-of-fold probabilities; AIQs and their bootstrap intervals."""
    threat = threats(pairwise, expected)
    finite = threat[np.isfinite(threat)]
    values = np.unique(np.concatenate([np.linspace(0, 1, 101), np.quantile(finite, np.linspace(0, 1, 301))]))
    thresholds = np.concatenate([values, [np.nextafter(1.0, 2.0)]])
    rows = np.arange(bench.n)
    chosen = np.stack([choose(threat, expected, float(t)) for t in thresholds])  # (T, n)
    q_items = bench.quality[rows, chosen]
    c_items = bench.cost[rows, chosen]
    s_q, s_c = bench.quality.mean(axis=0), bench.cost.mean(axis=0)
    best = bench.quality.max(axis=1, keepdims=True)
    oracle_pick = np.argmin(np.where(bench.quality >= best, bench.cost, np.inf), axis=1)
    oracle = (float(bench.cost[rows, oracle_pick].mean()), float(best.mean()))
    lo, hi = float(s_c.min()), float(s_c.max())
    r_c, r_q = c_items.mean(axis=1), q_items.mean(axis=1)
    result = MultiResult(bench, thresholds, r_c, r_q, s_c, s_q, oracle, aiq(r_c, r_q, lo, hi), aiq(s_c, s_q, lo, hi))
    if n_boot:
        rng = np.random.default_rng(seed)
        router_vals, gains = [], []
        for _ in range(int(n_boot)):
            w = np.bincount(rng.integers(0, bench.n, bench.n), minlength=bench.n) / bench.n
            bc, bq = c_items @ w, q_items @ w
            sc, sq = w @ bench.cost, w @ bench.quality
            blo, bhi = float(sc.min()), float(sc.max())
            a_r = aiq(bc, bq, blo, bhi, grid=501)
            router_vals.append(a_r)
            gains.append(a_r - aiq(sc, sq, blo, bhi, grid=501))
        result.aiq_interval = percentile_interval(router_vals, 0.9)
        result.gain_interval = percentile_interval(gains, 0.9)
    return result


def markdown_table(res: MultiResult, scale: float = 100.0) -> str:
    """Single models (cost, quality, router quality at the same cost), oracle, AIQs."""
    b = res.bench
    unit = b.unit
    lines = [f"### {b.name} ({b.n} prompts, {len(b.models)} models; cost in USD per 1k calls, {unit})", "",
             "| model | cost / 1k calls | quality | router at same cost | random mix at same cost |",
             "|---|---:|---:|---:|---:|"]
    for j in np.argsort(res.single_cost):
        c = float(res.single_cost[j])
        lines.append(f"| {b.models[j]} | {c * 1000:.3f} | {res.single_quality[j] * scale:.1f} | "
                     f"{res.router_at(c) * scale:.1f} | {res.mix_at(c) * scale:.1f} |")
    lines.append(f"| oracle (cheapest best model per prompt) | {res.oracle[0] * 1000:.3f} | {res.oracle[1] * scale:.1f} | | |")
    lo_i, hi_i = res.aiq_interval
    g_lo, g_hi = res.gain_interval
    lines += ["", "| method | AIQ | 90% interval |", "|---|---:|---:|",
              f"| router (mf, cross-fitted) | {res.aiq_router * scale:.2f} | [{lo_i * scale:.2f}, {hi_i * scale:.2f}] |",
              f"| random mix of single models (their hull) | {res.aiq_mix * scale:.2f} | |",
              f"| router - random mix | {(res.aiq_router - res.aiq_mix) * scale:+.2f} | "
              f"[{g_lo * scale:+.2f}, {g_hi * scale:+.2f}] |", "",
              f"Router curve points on or above the single models' hull: {res.share_on_or_above() * 100:.0f}%."]
    return "\n".join(lines + res.notes)


def save_multi_plot(res: MultiResult, path: str | Path) -> Path:
    """PNG: the router's curve and hull, each single model, the random-mix hull and the oracle."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    b = res.bench
    fig = Figure(figsize=(10, 6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(res.router_cost * 1000, res.router_quality * 100, ".", alpha=0.35, color="tab:blue", label="router points")
    # hulls are straight in linear cost: sample them densely so the log axis shows them as they are
    lo, hi = res.cost_range
    xs = np.geomspace(max(min(lo, float(res.router_cost.min())), 1e-12), hi, 400)
    router_hull = hull_function(res.router_cost, res.router_quality)
    ax.plot(xs * 1000, hull_at(router_hull, xs) * 100, "-", color="tab:blue",
            label=f"router hull (AIQ {res.aiq_router * 100:.2f})")
    mix_hull = hull_function(res.single_cost, res.single_quality)
    ax.plot(xs * 1000, hull_at(mix_hull, xs) * 100, "--", color="grey",
            label=f"random mix / single-model hull (AIQ {res.aiq_mix * 100:.2f})")
    ax.scatter(res.single_cost * 1000, res.single_quality * 100, color="black", zorder=3, s=18)
    for j, name in enumerate(b.models):
        ax.annotate(name, (res.single_cost[j] * 1000, res.single_quality[j] * 100), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    ax.scatter([res.oracle[0] * 1000], [res.oracle[1] * 100], marker="*", s=120, color="gold", edgecolor="black",
               zorder=4, label="oracle")
    ax.set_xscale("log")
    ax.set_xlabel("cost (USD per 1k calls, log scale)")
    ax.set_ylabel(b.unit)
    ax.set_title(f"Multi-model routing by price: {b.name} ({b.n} prompts, cross-fitted mf)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def run_multi(names: Sequence[str], output: Path, embedder: str, k: int = 5, n_boot: int = 200, seed: int = 0,
              data_dir: Any = None, plot: bool = True, epochs: int = 40,
              log: Callable[[str], None] | None = None, prompt_weight: float | str = "validation") -> list[MultiResult]:
    """Load each benchmark, cross-fit MF, evaluate, write ``<name>.png`` and ``multi_model.md``.

    ``prompt_weight`` is MF's (see :class:`~routellm_core.routers.mf.MFRouter`); "validation" picks it
    on each fold's own validation prompts, so no held-out item takes part in the choice.
    """
    from ..errors import InvalidInputError
    from ..routers.mf import MFRouter
    from .multi_data import MULTI_BENCHMARKS

    results = []
    for name in names:
        key = name.strip().lower()
        if key not in MULTI_BENCHMARKS:
            raise InvalidInputError(f"--multi-model works on {', '.join(sorted(MULTI_BENCHMARKS))}, not {name!r}")
        bench = MULTI_BENCHMARKS[key](data_dir)
        pair = (bench.models[0], bench.models[1])  # any two: MF learns every model; fit() checks a pair exists
        routers: list[MFRouter] = []

        def make_router(pair: tuple[str, str] = pair, routers: list[MFRouter] = routers) -> MFRouter:
            routers.append(MFRouter(embedder=embedder, strong_model=pair[0], weak_model=pair[1], epochs=epochs,
                                    show_progress=False, seed=seed, prompt_weight=prompt_weight))
            return routers[-1]

        pairwise, expected = cross_fit_probabilities(bench, make_router, k, seed, log)
        res = evaluate_multi(bench, pairwise, expected, n_boot=n_boot, seed=seed)
        res.notes.append(f"\nMF prompt weight ({prompt_weight}), per fold: "
                         f"{', '.join(f'{r.prompt_weight_:g}' for r in routers)}.")
        if plot:
            res.plot_path = save_multi_plot(res, output / f"{bench.name}-multi-model.png")
        results.append(res)
    output.mkdir(parents=True, exist_ok=True)
    (output / "multi_model.md").write_text("\n\n".join(markdown_table(r) for r in results) + "\n", encoding="utf-8")
    return results
